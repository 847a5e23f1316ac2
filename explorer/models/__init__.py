"""The model zoo: registry, architectures (reference and small forms), weights and stats.

No Qt here. Everything else reaches models through ``list_models``/``get_model``.
The architecture modules' ``@register_model`` decorators fill the registry (as
``torchvision.models`` and ``timm.models`` do) the first time the registry is asked
(``_api._registered``). Importing this package imports neither them nor torch (PEP 562):
the window reads its weights memory (``explorer.loading``) and the CLI the shipped
manifest before torch has loaded.
"""

from __future__ import annotations

from explorer.lazy import lazy_names

# Each public name and the module that defines it, imported on first use.
_WHERE = {
    "FASHION_MNIST_MEAN": "_api",
    "FASHION_MNIST_STD": "_api",
    "IMAGENET_MEAN": "_api",
    "IMAGENET_STD": "_api",
    "ModelError": "_api",
    "ModelInfo": "_api",
    "get_model": "lookup",
    "get_model_info": "lookup",
    "list_models": "_api",
    "register_model": "_api",
    "small_form_of": "_api",
    "LayerRow": "stats",
    "count_flops": "stats",
    "count_parameters": "stats",
    "layer_summary": "stats",
    "macs": "stats",
    "meta_model": "stats",
    "model_stats": "stats",
    "Pretrained": "weights",
    "load_pretrained": "weights",
    "load_state_dict_file": "weights",
    "weights_cache_path": "weights",
}

__all__ = list(_WHERE)


__getattr__, __dir__ = lazy_names(__name__, _WHERE)
