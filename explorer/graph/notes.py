"""The paper's note for each block type and a few layer kinds, shown in the details panel.

Facts follow the papers each note cites (LeNet-5, AlexNet, VGG, NiN, GoogLeNet, the Inception
and BN papers, ResNet, DenseNet, MobileNet v1/v2) and torchvision's implementations.
"""

from __future__ import annotations

from typing import Any

BLOCK_NOTES = {
    "inception": (
        "Inception module (Szegedy et al. 2014): four parallel branches on the same input, "
        "concatenated on channels: 1×1 conv; 1×1 reduce then 3×3; 1×1 reduce then 5×5; "
        "3×3 max pool (stride 1) then 1×1 pool projection. The 1×1 reductions keep the "
        "larger kernels cheap. Inception v2/v3 replace 5×5 by stacked 3×3 and factorise "
        "n×n into 1×n then n×1."
    ),
    "aux_head": (
        "Auxiliary classifier (GoogLeNet): 5×5/3 average pool, 1×1 conv 128, FC 1024, "
        "dropout 0.7, FC 1000. Used only in training, its loss added with weight 0.3: a "
        "stronger gradient for early layers and some regularisation; dropped at inference."
    ),
    "bottleneck": (
        "Bottleneck residual block (He et al. 2015): 1×1 conv to width w, 3×3 conv, 1×1 conv "
        "to 4w, plus a shortcut; the block learns the residual F(x) = H(x) − x. Where the "
        "shape changes the shortcut is a projection (1×1 conv with stride + BN)."
    ),
    "basic_block": (
        "Basic residual block (ResNet-18/34): two 3×3 convs with BN and ReLU, output "
        "F(x) + x through an identity shortcut (a 1×1 projection where the shape changes). "
        "Shortcuts fix the degradation of plain deep nets."
    ),
    "residual": (
        "Residual block: the layers learn a correction added to their input through a "
        "shortcut, so very deep stacks still train."
    ),
    "inverted_residual": (
        "Inverted residual (MobileNet v2, Sandler et al. 2018): 1×1 expand by t = 6 + ReLU6, "
        "3×3 depthwise + ReLU6, 1×1 project with a linear output (ReLU on few channels "
        "destroys information). The shortcut joins the narrow ends, only when stride is 1 "
        "and channels match. ResNet's bottleneck squeezes then expands; this expands then squeezes."
    ),
    "dense_layer": (
        "Dense layer (Huang et al. 2017): BN-ReLU-1×1 conv (4k channels)-BN-ReLU-3×3 conv "
        "(k channels, the growth rate) on the concatenation of every earlier map in the block."
    ),
    "dense_block": (
        "Dense block: every layer receives the concatenation of all earlier feature maps "
        "of the block, so a block of L layers adds L·k channels (DenseNet-121's first "
        "block: 64 + 6·32 = 256)."
    ),
    "transition": (
        "Transition (DenseNet): BN, 1×1 conv halving the channels (compression 0.5), "
        "2×2 average pool; it sits between dense blocks."
    ),
    "separable": (
        "Depthwise separable conv (MobileNet v1, Howard et al. 2017): a 3×3 depthwise conv "
        "(one filter per channel) then a 1×1 pointwise conv that mixes channels, BN and "
        "ReLU after each (the paper's Fig. 3; TF-Slim's release and MobileNet v2 use ReLU6 = "
        "min(max(0, x), 6)): for 3 → 256 channels 795 weights instead of 6,912."
    ),
    "nin_block": (
        "NiN block (Lin et al. 2013): a conv followed by two 1×1 convs, a per-pixel MLP; "
        "global average pooling replaces the fully connected layers."
    ),
    "vgg_block": (
        "VGG block (Simonyan & Zisserman 2014): 3×3 convs (stride 1, same padding) then a "
        "2×2 max pool halving the size. Two stacked 3×3 convs see 5×5 with 18 weights "
        "instead of 25, and add a non-linearity."
    ),
    "branch": "Parallel branches on the same input, concatenated on channels.",
    "dense": "Concatenation of earlier feature maps (dense connectivity).",
    "fire": "Fire module: a 1×1 squeeze conv feeding parallel 1×1 and 3×3 expand convs.",
    "block": "A group of layers the model defines as one unit.",
}

LAYER_NOTES = {
    "depthwise": "Depthwise conv: one filter per input channel (groups = channels); a 1×1 "
                 "pointwise conv usually follows to mix channels.",
    "concat": "Concatenation on the channel axis: the branches' or earlier layers' maps side by side.",
    "add": "Element-wise sum: the residual shortcut joins the block's output here.",
    "dropout": "Dropout zeroes activations at random in training only (p = 0.5 on AlexNet's "
               "and VGG's FC layers, 0.4 before GoogLeNet's classifier).",
}


def note_for(attrs: dict[str, Any]) -> str | None:
    """The note for a drawn unit or node, if the papers say something about it."""
    block_type = attrs.get("block_type")
    if block_type and block_type in BLOCK_NOTES:
        return BLOCK_NOTES[block_type]
    category = attrs.get("category", "")
    layer_type = attrs.get("layer_type", "")
    hp = attrs.get("hparams") or {}
    if category == "conv" and hp.get("kernel_size") == [1, 1]:
        return ("1×1 conv: changes the channel count cheaply, a per-pixel fully connected layer "
                "(NiN); GoogLeNet uses it to reduce before 3×3 and 5×5.")
    if layer_type == "ReLU6":
        return ("ReLU6 = min(max(0, x), 6), kept by MobileNet v2 (and TF-Slim's MobileNet v1 "
                "release) for low-precision arithmetic; the v1 paper itself uses ReLU.")
    if layer_type == "LocalResponseNorm":
        return "Local response normalisation (AlexNet, after conv1 and conv2; GoogLeNet's stem)."
    return LAYER_NOTES.get(category)
