"""Display names of layers: what a layer is, not the attribute it happens to be stored in.

Inception modules name their branches ``branch1``..``branch4`` (ours and torchvision's
GoogLeNet) or ``branch5x5_1``, ``branch_pool``... (torchvision's Inception v3); the graph
shows them as the papers do: 1×1, 3×3 reduce, 3×3, 5×5 (or double 3×3), pool proj. The
attribute names themselves must not change: ImageNet and shipped weights load by
state_dict key. One mapping per module class, keyed by the class's module and name.

A layer may also name itself with a ``display_name`` attribute (LeNet-5's C1..F6).
"""

from __future__ import annotations

import functools

from torch import nn

_GOOGLENET = {
    "branch1": "1×1",
    "branch2.0": "3×3 reduce",
    "branch2.1": "3×3",
    "branch3.0": "5×5 reduce",
    "branch3.1": "5×5",
    "branch4.0": "pool",
    "branch4.1": "pool proj",
}
_BN_INCEPTION = {
    "branch1": "1×1",
    "branch2.0": "3×3 reduce",
    "branch2.1": "3×3",
    "branch3.0": "double 3×3 reduce",
    "branch3.1": "double 3×3 (1st)",
    "branch3.2": "double 3×3 (2nd)",
    "branch4.0": "pool",
    "branch4.1": "pool proj",
}
_DOUBLE_3X3 = {
    "branch3x3dbl_1": "double 3×3 reduce",
    "branch3x3dbl_2": "double 3×3 (1st)",
    "branch3x3dbl_3": "double 3×3 (2nd)",
}

#: Per module class ("module.QualName"): child path (relative to the module) -> name.
#: "@function" keys name a function the module's own forward calls (its pooling).
BRANCH_NAMES: dict[str, dict[str, str]] = {
    "explorer.models.architectures.googlenet.Inception": _GOOGLENET,
    # torchvision's "5x5" branch holds a 3x3 conv (pytorch/vision#906): say so.
    "torchvision.models.googlenet.Inception": {**_GOOGLENET, "branch3.1": "5×5 (a 3×3 here)"},
    "explorer.models.architectures.inception.BNInception": _BN_INCEPTION,
    "torchvision.models.inception.InceptionA": {
        "branch1x1": "1×1",
        "branch5x5_1": "5×5 reduce",
        "branch5x5_2": "5×5",
        **_DOUBLE_3X3,
        "@avg_pool2d": "pool",
        "branch_pool": "pool proj",
    },
    "torchvision.models.inception.InceptionB": {
        "branch3x3": "3×3/2",
        **_DOUBLE_3X3,
        "branch3x3dbl_3": "double 3×3 (2nd, /2)",
        "@max_pool2d": "pool/2",
    },
    "torchvision.models.inception.InceptionC": {
        "branch1x1": "1×1",
        "branch7x7_1": "7×7 reduce",
        "branch7x7_2": "7×7 as 1×7",
        "branch7x7_3": "7×7 as 7×1",
        "branch7x7dbl_1": "double 7×7 reduce",
        "branch7x7dbl_2": "double 7×7: 7×1 (1st)",
        "branch7x7dbl_3": "double 7×7: 1×7 (1st)",
        "branch7x7dbl_4": "double 7×7: 7×1 (2nd)",
        "branch7x7dbl_5": "double 7×7: 1×7 (2nd)",
        "@avg_pool2d": "pool",
        "branch_pool": "pool proj",
    },
    "torchvision.models.inception.InceptionD": {
        "branch3x3_1": "3×3 reduce",
        "branch3x3_2": "3×3/2",
        "branch7x7x3_1": "7×7+3×3 reduce",
        "branch7x7x3_2": "7×7+3×3: 1×7",
        "branch7x7x3_3": "7×7+3×3: 7×1",
        "branch7x7x3_4": "7×7+3×3: 3×3/2",
        "@max_pool2d": "pool/2",
    },
    "torchvision.models.inception.InceptionE": {
        "branch1x1": "1×1",
        "branch3x3_1": "3×3 reduce",
        "branch3x3_2a": "3×3 as 1×3",
        "branch3x3_2b": "3×3 as 3×1",
        "branch3x3dbl_1": "double 3×3 reduce",
        "branch3x3dbl_2": "double 3×3 (1st)",
        "branch3x3dbl_3a": "double 3×3: 1×3",
        "branch3x3dbl_3b": "double 3×3: 3×1",
        "@avg_pool2d": "pool",
        "branch_pool": "pool proj",
    },
}


def class_key(module: nn.Module) -> str:
    return f"{type(module).__module__}.{type(module).__qualname__}"


@functools.lru_cache(maxsize=512)
def _names_of_class(cls: type) -> dict[str, str] | None:
    # display_name asks for every enclosing module of every node (MaxViT: 1,633 nodes
    # 6 deep); a model has a few dozen classes, so the answer is looked up per class
    return BRANCH_NAMES.get(f"{cls.__module__}.{cls.__qualname__}")


def display_name(modules: dict[str, nn.Module], path: str, function: str | None = None) -> str | None:
    """What to call the layer at ``path`` (or the ``function`` a module there calls), or
    None when nothing better than its attribute name is known.

    Args:
        modules: the model's modules by path.
        path: the layer's module path (for a function call: the module whose forward made it).
        function: for a call_function/call_method node, the function's name.
    """
    own = modules.get(path)
    name = getattr(own, "display_name", None) if function is None else None
    if isinstance(name, str) and name:
        return name
    parts = path.split(".") if path else []
    owner_path = path
    for cut in range(len(parts), -1, -1):  # the innermost named ancestor wins
        owner = modules.get(owner_path)  # owner_path == ".".join(parts[:cut])
        owner_path = owner_path.rpartition(".")[0]
        names = _names_of_class(type(owner)) if owner is not None else None
        if not names:
            continue
        rest = parts[cut:]
        if not rest:
            return names.get(f"@{function}") if function else None
        for i in range(len(rest), 0, -1):  # the longest listed prefix of the rest
            key = ".".join(rest[:i])
            if key in names:
                tail = rest[i:] + ([function] if function else [])
                return " · ".join([names[key], *[t for t in tail if not t.isdigit()]])
    return None
