"""The stepper and the graph view name the same nodes: both trace with graph/tracer.py.

Every registered model (45 today, about 25 s on one core): the models are built on the
meta device and given uninitialised CPU storage (``to_empty``), since node names do not
depend on weight values and initialising VGG's 138 M parameters would dominate the test.
"""

from __future__ import annotations

import pytest

from explorer.activations import Stepper
from explorer.graph import build_named_graph
from explorer.models import list_models
from explorer.models.stats import meta_model


@pytest.mark.parametrize("name", list_models())
def test_stepper_nodes_are_the_graph_nodes_without_aux_heads(name):
    stepper = Stepper(meta_model(name).to_empty(device="cpu"), "cpu")
    graph = build_named_graph(name)
    # Aux heads run only in training; the graph draws them, the eval-mode stepper never runs them.
    main_line = [n for n in graph.order if not graph.node(n)["aux"]]
    assert [r.name for r in stepper.nodes] == main_line
    for record in stepper.nodes:
        assert graph.node(record.name)["module_path"] == record.module_path, record.name
