"""The model zoo: registry, architectures (reference and small forms), weights and stats.

No Qt here. Everything else reaches models through ``list_models``/``get_model``.
Importing this package imports every architecture module, whose ``@register_model``
decorators fill the registry (as ``torchvision.models`` and ``timm.models`` do).
"""

from explorer.models._api import (
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ModelError,
    ModelInfo,
    get_model,
    get_model_info,
    list_models,
    register_model,
    small_form_of,
)
# After _api, whose register_model the architecture modules use; in paper order.
from explorer.models import architectures  # noqa: F401  (registers every model)
from explorer.models.stats import (
    LayerRow,
    count_flops,
    count_parameters,
    layer_summary,
    macs,
    meta_model,
    model_stats,
)
from explorer.models.weights import Pretrained, load_pretrained, load_state_dict_file, weights_cache_path

__all__ = [
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ModelError",
    "ModelInfo",
    "get_model",
    "get_model_info",
    "list_models",
    "register_model",
    "small_form_of",
    "LayerRow",
    "count_flops",
    "count_parameters",
    "layer_summary",
    "macs",
    "meta_model",
    "model_stats",
    "Pretrained",
    "load_pretrained",
    "load_state_dict_file",
    "weights_cache_path",
]
