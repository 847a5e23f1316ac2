"""Any model by its source: the zoo's from the registry, the rest (a torchvision classifier,
a user's ``.pt2`` or ``.py``) from :mod:`explorer.models.sources`. The rest of the app
reaches models through these two functions (``explorer.models.get_model_info`` and
``get_model``), so every view works on every source alike.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from explorer.errors import ModelError
from explorer.models._api import ModelInfo, _registered
from explorer.models.sources import source_info


def get_model_info(name: str) -> ModelInfo:
    """The facts of ``name``: a zoo model's from the registry; a torchvision classifier's or a
    user's file's from :func:`explorer.models.sources.source_info`.

    Raises:
        ModelError: an unknown name, or a file that cannot be opened (one line).
    """
    info = _registered().get(name)
    return info if info is not None else source_info(name)


def get_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a fresh ``name``; keyword arguments go to its builder. A zoo model gets random
    weights; a ``.pt2`` program holds its own."""
    info = get_model_info(name)
    try:
        return info.builder(**kwargs)
    except TypeError as exc:
        raise ModelError(f"{name}: {exc}") from None
