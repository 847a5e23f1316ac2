"""How one unit computes (issue 21): click a unit of any node and read how its value was
made from the node's inputs, with the live tensors of the current image and weights, and
the check against the model's own value (no Qt).

- :func:`~explorer.explain.units.explain.explain_unit` (a :class:`Stepper` that holds the
  values: the window) and :func:`~explorer.explain.units.explain.unit_arithmetic` (a model
  and an input: the CLI, the tests) return a frozen
  :class:`~explorer.explain.units.explain.UnitArithmetic`;
- :mod:`~explorer.explain.units.sums`: convolutions (strided, padded, dilated, grouped,
  depthwise, 1x1; LeNet-5's C1, C3 and C5), fully connected layers (F6 too), the RBF output;
- :mod:`~explorer.explain.units.pools`: max, average, adaptive and global average pooling,
  LeNet-5's trainable subsampling, local response normalisation;
- :mod:`~explorer.explain.units.pointwise`: batch norm, activations, dropout, identity,
  flatten, residual addition, concatenation, softmax and the input;
- :mod:`~explorer.explain.units.base`: terms, steps and reading the tensors.
"""

from __future__ import annotations

from explorer.explain.units.base import Explained, Step, Term
from explorer.explain.units.explain import (
    KINDS,
    TOP_TERMS,
    UnitArithmetic,
    UnitError,
    describe,
    explain_call,
    explain_unit,
    explainer_for,
    locate,
    unit_arithmetic,
)
from explorer.explain.units.pointwise import (
    ActivationDetail,
    BatchNormDetail,
    OperandsDetail,
    SoftmaxDetail,
    SourceDetail,
)
from explorer.explain.units.pools import LRNDetail, PoolDetail
from explorer.explain.units.sums import ConvDetail, LinearDetail, RBFDetail

__all__ = [
    "KINDS", "TOP_TERMS", "ActivationDetail", "BatchNormDetail", "ConvDetail", "Explained", "LRNDetail",
    "LinearDetail", "OperandsDetail", "PoolDetail", "RBFDetail", "SoftmaxDetail", "SourceDetail", "Step",
    "Term", "UnitArithmetic", "UnitError", "describe", "explain_call", "explain_unit", "explainer_for",
    "locate", "unit_arithmetic",
]
