"""What one node is: category, hyperparameters and a short summary, from its module or function.

Pure functions over a module object or an fx target; no graph knowledge here.
"""

from __future__ import annotations

import operator
import re
from typing import Any

from torch import nn

_NORM = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)
_ACTIVATION = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Hardtanh,
    nn.Softmax,
    nn.LogSoftmax,
    nn.Mish,
)
_DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
_POOL = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
    nn.LPPool2d,
)

# Modules whose output has the input's shape by definition. Shape propagation skips
# running them: on the meta device batch norm is decomposed into dozens of Python-level
# primitives and took 80% of DenseNet-121's propagation time. torch's flop counter
# counts none of them (it counts matmuls and convolutions), so FLOPs are unaffected.
SHAPE_PRESERVING = _NORM + _ACTIVATION + _DROPOUT + (nn.Identity,)

_FUNCTION_CATEGORIES = {
    "concat": {"cat", "concat", "concatenate", "stack", "hstack", "vstack"},
    "add": {"add", "iadd", "add_", "__add__", "__iadd__", "sum"},
    "activation": {
        "relu", "relu_", "relu6", "hardtanh", "hardtanh_", "sigmoid", "tanh", "gelu", "silu",
        "hardswish", "hardsigmoid", "leaky_relu", "softmax", "log_softmax", "elu", "mish",
        "sigmoid_", "tanh_",
    },
    "reshape": {
        "flatten", "view", "reshape", "squeeze", "unsqueeze", "permute", "transpose",
        "contiguous", "chunk", "split", "expand", "repeat", "narrow",
    },
    "pool": {
        "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
        "max_pool1d", "avg_pool1d", "lp_pool2d",
    },
    "dropout": {"dropout", "dropout2d", "dropout1d", "alpha_dropout", "feature_alpha_dropout"},
    "linear": {"linear", "matmul", "mm", "addmm", "bmm"},
    "conv": {"conv1d", "conv2d", "conv3d"},
    "norm": {"batch_norm", "layer_norm", "local_response_norm", "group_norm", "normalize"},
}
_FUNCTION_CATEGORY = {name: cat for cat, names in _FUNCTION_CATEGORIES.items() for name in names}

_NAME_CATEGORY_PATTERNS = (
    (re.compile(r"depthwise|dwconv"), "depthwise"),
    (re.compile(r"conv"), "conv"),
    (re.compile(r"pool|subsampl"), "pool"),
    (re.compile(r"norm|lrn"), "norm"),
    (re.compile(r"relu|sigmoid|tanh|gelu|silu|swish|activation|softmax"), "activation"),
    (re.compile(r"dropout"), "dropout"),
    (re.compile(r"linear|fc|dense|rbf|fullyconnected"), "linear"),
    (re.compile(r"flatten|reshape|view"), "reshape"),
)


def pair(value: Any) -> list[int] | None:
    """Normalise an int-or-tuple hyperparameter to [h, w] (None when absent)."""
    if value is None:
        return None
    if isinstance(value, int):
        return [value, value]
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, int) for v in value):
        vals = list(value)
        return vals if len(vals) >= 2 else [vals[0], vals[0]]
    return None


def function_name(target: Any) -> str:
    if isinstance(target, str):
        return target
    if target is operator.getitem:
        return "getitem"
    return getattr(target, "__name__", str(target))


def module_facts(module: nn.Module) -> dict[str, Any]:
    """Layer type, category and hyperparameters of a leaf module."""
    layer_type = type(module).__name__
    hp: dict[str, Any] = {}
    if isinstance(module, nn.modules.conv._ConvNd):
        hp = {
            "in_channels": module.in_channels,
            "out_channels": module.out_channels,
            "kernel_size": pair(module.kernel_size),
            "stride": pair(module.stride),
            "padding": pair(module.padding) if not isinstance(module.padding, str) else module.padding,
            "dilation": pair(module.dilation),
            "groups": module.groups,
            "bias": module.bias is not None,
        }
        depthwise = module.groups > 1 and module.groups == module.in_channels
        category = "depthwise" if depthwise else "conv"
    elif isinstance(module, _POOL):
        category = "pool"
        if hasattr(module, "output_size"):
            hp = {"output_size": pair(module.output_size) or module.output_size}
        else:
            kernel = pair(module.kernel_size)
            hp = {
                "kernel_size": kernel,
                "stride": pair(module.stride) or kernel,
                "padding": pair(getattr(module, "padding", 0)),
                "dilation": pair(getattr(module, "dilation", 1)),
            }
            if getattr(module, "ceil_mode", False):
                hp["ceil_mode"] = True
    elif isinstance(module, nn.Linear):
        category = "linear"
        hp = {"in_features": module.in_features, "out_features": module.out_features,
              "bias": module.bias is not None}
    elif isinstance(module, _NORM):
        category = "norm"
        if isinstance(module, nn.LocalResponseNorm):
            hp = {"size": module.size, "alpha": module.alpha, "beta": module.beta, "k": module.k}
        elif hasattr(module, "num_features"):
            hp = {"num_features": module.num_features, "eps": module.eps}
    elif isinstance(module, _ACTIVATION):
        category = "activation"
    elif isinstance(module, _DROPOUT):
        category = "dropout"
        hp = {"p": module.p}
    elif isinstance(module, nn.Flatten):
        category = "reshape"
        hp = {"start_dim": module.start_dim, "end_dim": module.end_dim}
    elif isinstance(module, nn.Identity):
        category = "other"
    else:
        category = category_from_name(layer_type)
        # A custom layer (LeNet's partially connected C3, say) may still carry the usual
        # hyperparameter attributes; show what it has.
        for key in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "groups",
                    "in_features", "out_features"):
            value = getattr(module, key, None)
            if isinstance(value, int) or pair(value) is not None:
                windowed = key in ("kernel_size", "stride", "padding")
                hp[key] = value if isinstance(value, int) and not windowed else pair(value)
    # A layer may add facts of its own (C3's connection table, as a grid).
    extra = getattr(module, "graph_hparams", None)
    if callable(extra):
        hp.update(extra())
    return {"layer_type": layer_type, "category": category, "hparams": hp}


def category_from_name(name: str) -> str:
    lowered = name.lower()
    for pattern, category in _NAME_CATEGORY_PATTERNS:
        if pattern.search(lowered):
            return category
    return "other"


def function_facts(target: Any, args: tuple, kwargs: dict, n_tensor_inputs: int) -> dict[str, Any]:
    """Layer type, category and hyperparameters of a call_function / call_method node."""
    name = function_name(target)
    category = _FUNCTION_CATEGORY.get(name, "other")
    if category == "add" and n_tensor_inputs < 2:
        category = "other"  # adding a constant is no merge
    if name in ("mean", "amax") and _reduces_spatial(args, kwargs):
        category = "pool"
    hp: dict[str, Any] = {}

    def arg(i: int, key: str, default: Any = None) -> Any:
        if key in kwargs:
            return kwargs[key]
        return args[i] if len(args) > i else default

    if name in ("max_pool2d", "avg_pool2d", "lp_pool2d"):
        offset = 1 if name != "lp_pool2d" else 2
        kernel = pair(arg(offset, "kernel_size"))
        hp = {"kernel_size": kernel, "stride": pair(arg(offset + 1, "stride")) or kernel,
              "padding": pair(arg(offset + 2, "padding", 0))}
    elif name in ("adaptive_avg_pool2d", "adaptive_max_pool2d"):
        hp = {"output_size": pair(arg(1, "output_size"))}
    elif category == "dropout":
        p = arg(1, "p", 0.5)
        hp = {"p": p} if isinstance(p, (int, float)) else {}
    elif category == "concat":
        dim = arg(1, "dim", 0)
        hp = {"dim": dim} if isinstance(dim, int) else {}
    elif name == "flatten":
        start = arg(1, "start_dim", 0)
        hp = {"start_dim": start} if isinstance(start, int) else {}
    elif name == "permute":
        # x.permute(0, 2, 3, 1) or torch.permute(x, [0, 2, 3, 1]): where H and W go
        # (receptive fields follow them through channels-last layers)
        dims = kwargs.get("dims", args[1] if len(args) == 2 and isinstance(args[1], (list, tuple)) else args[1:])
        hp = {"dims": list(dims)} if dims and all(isinstance(d, int) for d in dims) else {}
    elif name in ("transpose", "swapaxes"):
        dims = [arg(1, "dim0"), arg(2, "dim1")]
        hp = {"dims": dims} if all(isinstance(d, int) for d in dims) else {}
    return {"layer_type": name, "category": category, "hparams": hp}


def _reduces_spatial(args: tuple, kwargs: dict) -> bool:
    dims = kwargs.get("dim", args[1] if len(args) > 1 else None)
    if isinstance(dims, int):
        dims = (dims,)
    return isinstance(dims, (tuple, list)) and {d % 4 for d in dims if isinstance(d, int)} >= {2, 3}


def summary(attrs: dict[str, Any]) -> str:
    """One short line describing a node, e.g. ``Conv2d 3×3/2 · 64``."""
    hp = attrs.get("hparams") or {}
    layer_type = attrs.get("layer_type", "")
    category = attrs.get("category", "")
    if category in ("conv", "depthwise") and hp.get("kernel_size"):
        k = hp["kernel_size"]
        text = f"{k[0]}×{k[1]}"
        stride = hp.get("stride") or [1, 1]
        if stride != [1, 1]:
            text += f"/{stride[0]}" if stride[0] == stride[1] else f"/{stride[0]}×{stride[1]}"
        if hp.get("out_channels") is not None:
            text += f" · {hp['out_channels']}"
        if category == "depthwise":
            text += " dw"
        return f"{layer_type} {text}"
    if category == "pool" and hp.get("kernel_size"):
        k, s = hp["kernel_size"], hp.get("stride") or hp["kernel_size"]
        if "subsampl" in layer_type.lower():  # LeNet-5's trainable sum, scale and bias
            return f"subsampling {k[0]}×{k[1]}/{s[0]}"
        kind = "max" if "max" in layer_type.lower() else "avg"
        return f"{kind} pool {k[0]}×{k[1]}/{s[0]}"
    if category == "pool" and hp.get("output_size"):
        kind = "max" if "max" in layer_type.lower() else "avg"
        out = hp["output_size"]
        return f"adaptive {kind} pool → {out[0]}×{out[1]}" if isinstance(out, list) else f"adaptive {kind} pool"
    if category == "linear" and "in_features" in hp:
        return f"{layer_type} {hp['in_features']}→{hp['out_features']}"
    if category == "dropout" and "p" in hp:
        return f"{layer_type} p={hp['p']}"
    if category == "concat":
        return f"concat ×{attrs.get('n_inputs', 0)}"
    if category == "input":
        return "input"
    if category == "output":
        return "output"
    return layer_type
