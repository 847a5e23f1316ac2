"""The papers' own numbers, to show beside the ones measured here, and why they differ.

Each figure names its paper, table or section (e.g. GoogLeNet's Table 1, LeNet-5's Sec. II.B,
ResNet's Table 1). ``params`` are trainable parameters,
``macs`` multiply-accumulates (what papers call FLOPs or "ops"; torch's counter, and
``cnn-explorer models``' FLOPs column, count 2 per multiply-add). A figure a paper prints
rounded ("2.7K") is stored as the number it stands for and printed as it appears.

Per layer: :data:`PAPER_LAYERS` (model -> module path -> figure); per model:
:data:`PAPER_TOTALS`. Notes that hold for a model's small form too (a choice the paper
leaves open) are in :data:`PAPER_NOTES`.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class PaperFigure:
    """What a paper says about one layer, block or model.

    Attributes:
        source: where it says so ("GoogLeNet paper, Table 1").
        params: parameters the paper gives (None: not given).
        macs: multiply-adds the paper gives (None: not given).
        printed: the figures as the paper prints them, when it rounds them.
        connections: LeNet-5's unit of work: multiply-adds plus bias adds.
        note: why the figure measured here differs, or what choice was made.
    """

    source: str
    params: int | None = None
    macs: int | None = None
    printed: str = ""
    connections: int | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form: params, macs and source always, the rest when set."""
        out: dict[str, Any] = {"params": self.params, "macs": self.macs, "source": self.source}
        for key in ("printed", "connections", "note"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out


_K = 1024  # GoogLeNet's Table 1 counts K as 1,024: 3a's 163,328 weights print as "159K"
_GOOGLENET_T1 = "GoogLeNet paper (Szegedy et al. 2014), Table 1"
_BIASES = "ours adds one bias per output channel, which the table leaves out"


def _t1(k_params: float, m_ops: float, note: str = "") -> PaperFigure:
    return PaperFigure(_GOOGLENET_T1, params=round(k_params * _K), macs=round(m_ops * 1e6),
                       printed=f"{k_params:g}K params, {m_ops:g}M ops", note=note or _BIASES)


_STEM_NOTE = (
    "Table 1's 2.7K params and 34M ops are exactly a depthwise-separable 7×7 with depth "
    "multiplier 8 (7·7·3·8 + 24·64 = 2,712 weights; 34.0M multiply-adds at 112×112). Built "
    "here, as torchvision and most re-implementations do, as a full 7×7 conv: 9,408 "
    "weights and 118M multiply-adds."
)
_GOOGLENET_LAYERS = {
    "conv1": _t1(2.7, 34, _STEM_NOTE),
    "conv3": _t1(112, 360, "the row covers the 1×1 reduce (conv2, 64) and this 3×3 conv; "
                 "ours adds biases"),
    "inception3a": _t1(159, 128),
    "inception3b": _t1(380, 304),
    "inception4a": _t1(364, 73),
    "inception4b": _t1(437, 88),
    "inception4c": _t1(463, 100, "Table 1's 463K does not follow from its own widths for 4c, "
                       "which give 509,440 weights (497K) before biases; ours follows the widths"),
    "inception4d": _t1(580, 119),
    "inception4e": _t1(840, 170),
    "inception5a": _t1(1072, 54, "Table 1's 1072K does not follow from its own widths for 5a, "
                       "which give 1,042,432 weights (1,018K) before biases; ours follows the widths"),
    "inception5b": _t1(1388, 71),
    "fc": _t1(1000, 1, "1,024 × 1,000 weights; ours adds 1,000 biases"),
}
_GOOGLENET_TV_LAYERS = {
    **_GOOGLENET_LAYERS,
    **{name: dataclasses.replace(fig, note="torchvision's module uses a 3×3 conv in the "
                                 "'5×5' branch and BatchNorm instead of biases, so it has "
                                 "fewer weights than the row")
       for name, fig in _GOOGLENET_LAYERS.items() if name.startswith("inception")},
}

_LENET = "LeNet-5 paper (LeCun et al. 1998), Sec. II.B"
_LENET_LAYERS = {
    "c1": PaperFigure(_LENET, params=156, macs=117_600, connections=122_304,
                      note="122,304 connections = 117,600 multiply-adds + 4,704 bias adds"),
    "s2": PaperFigure(_LENET, params=12, connections=5_880,
                      note="each unit sums 4 inputs, scales and adds a bias: no multiply-adds "
                           "for the counter, which counts matrix products only"),
    "c3": PaperFigure(_LENET, params=1_516, macs=150_000, connections=151_600,
                      note="151,600 connections = 150,000 multiply-adds of the connection "
                           "table + 1,600 bias adds; the layer runs a dense 16×6 kernel with "
                           "zeros (240,000) but counts only the table's work"),
    "s4": PaperFigure(_LENET, params=32, connections=2_000,
                      note="like S2: sums, one coefficient and one bias per map"),
    "c5": PaperFigure(_LENET, params=48_120, macs=48_000, connections=48_120,
                      note="a convolution the size of its input: fully connected to S4"),
    "f6": PaperFigure(_LENET, params=10_164, macs=10_080, connections=10_164),
    "rbf": PaperFigure(_LENET, params=0, note="84 × 10 centres fixed by hand (the 7×12 digit "
                                              "bitmaps), not trained"),
}

_RESNET = "ResNet paper (He et al. 2015), Table 1"
_RESNET_STRIDE = (
    "torchvision strides in the bottleneck's 3×3 conv (\"ResNet v1.5\"), the paper in its "
    "first 1×1, so torchvision's 3×3 convs of each stage's first block run on the larger grid"
)

#: Published per-model totals, by registry name.
PAPER_TOTALS: dict[str, PaperFigure] = {
    "lenet5": PaperFigure(_LENET, params=60_000, connections=340_908,
                          note="C1 156 + S2 12 + C3 1,516 + S4 32 + C5 48,120 + F6 10,164; "
                               "the connections include the RBF output's 840"),
    "alexnet": PaperFigure("AlexNet paper (Krizhevsky et al. 2012), abstract", params=60_000_000,
                           printed="60 million parameters",
                           note="built on one device: 62,378,344; the two-GPU split has 60,965,224"),
    "alexnet_split": PaperFigure("AlexNet paper (Krizhevsky et al. 2012), abstract", params=60_000_000,
                                 printed="60 million parameters"),
    "vgg11": PaperFigure("VGG paper (Simonyan & Zisserman 2014), Table 2", params=133_000_000,
                         printed="133 M"),
    "vgg13": PaperFigure("VGG paper (Simonyan & Zisserman 2014), Table 2", params=133_000_000,
                         printed="133 M"),
    "vgg16": PaperFigure("VGG paper (Simonyan & Zisserman 2014), Table 2", params=138_000_000,
                         printed="138 M"),
    "vgg19": PaperFigure("VGG paper (Simonyan & Zisserman 2014), Table 2", params=144_000_000,
                         printed="144 M"),
    "googlenet": PaperFigure(
        "GoogLeNet paper (Szegedy et al. 2014), Table 1 and Sec. 1", params=6_800_000,
        macs=1_500_000_000, printed="about 6.8M parameters (Table 1's sum), 1.5 billion multiply-adds",
        note="ours counts 13,378,280 with both aux heads (6,998,552 without): biases and the "
             "full 7×7 stem conv; its aux heads run only in training"),
    "googlenet_tv": PaperFigure(
        "GoogLeNet paper (Szegedy et al. 2014), Table 1 and Sec. 1", params=6_800_000,
        macs=1_500_000_000, printed="about 6.8M parameters, 1.5 billion multiply-adds",
        note="torchvision's variant adds BatchNorm and a 3×3 conv in the '5×5' branch"),
    "inception_v2": PaperFigure(
        "Batch Normalization paper (Ioffe & Szegedy 2015), Sec. 4.2.1", params=13_600_000,
        printed="13.6M", note="Figure 5's table, built here, sums to 11,278,528; the paper does "
                              "not say what its 13.6M counts beyond that table (the often-quoted "
                              "11.2M is not from the paper)"),
    "resnet18": PaperFigure(_RESNET, macs=1_800_000_000, printed="1.8×10⁹ FLOPs (multiply-adds)"),
    "resnet34": PaperFigure(_RESNET, macs=3_600_000_000, printed="3.6×10⁹ FLOPs (multiply-adds)"),
    "resnet50": PaperFigure(_RESNET, macs=3_800_000_000, printed="3.8×10⁹ FLOPs (multiply-adds)",
                            note=f"torchvision's ResNet-50 (built here) counts 4.09×10⁹: {_RESNET_STRIDE}"),
    "resnet101": PaperFigure(_RESNET, macs=7_600_000_000, printed="7.6×10⁹ FLOPs (multiply-adds)",
                             note=_RESNET_STRIDE),
    "resnet152": PaperFigure(_RESNET, macs=11_300_000_000, printed="11.3×10⁹ FLOPs (multiply-adds)",
                             note=_RESNET_STRIDE),
    "mobilenet_v1": PaperFigure("MobileNet paper (Howard et al. 2017), Table 8", params=4_200_000,
                                macs=569_000_000, printed="4.2 million parameters, 569 million mult-adds"),
    "mobilenet_v2": PaperFigure("MobileNetV2 paper (Sandler et al. 2018), Table 4", params=3_400_000,
                                macs=300_000_000, printed="3.4M parameters, 300M multiply-adds"),
}

#: Per-layer figures, by registry name and module path.
PAPER_LAYERS: dict[str, dict[str, PaperFigure]] = {
    "lenet5": _LENET_LAYERS,
    "googlenet": _GOOGLENET_LAYERS,
    "googlenet_tv": _GOOGLENET_TV_LAYERS,
}

_BN_FIG5 = "Batch Normalization paper (Ioffe & Szegedy 2015), Figure 5"
_FIG5_CHOICE = (
    "Figure 5 is inconsistent here: its 'avg + 128' pool projection makes the branches sum "
    "to 608 channels while its output column says 576 (TF-Slim's inception_v2.py uses 96). "
    "Built: 128, as the row says, so this module gives 608 channels (and 4e 1,056)."
)
_BN_STEM = (
    "Depthwise-separable, depth multiplier 8, as the paper's Appendix says: a 7×7 "
    "depthwise conv gives each input channel 8 maps, a 1×1 conv mixes them "
    "(7·7·3·8 + 24·64 = 2,712 weights instead of a full conv's 9,408)."
)

#: Notes naming a choice, for a model and its small form (by the reference's name).
PAPER_NOTES: dict[str, dict[str, PaperFigure]] = {
    "inception_v2": {
        "conv1": PaperFigure("Batch Normalization paper (Ioffe & Szegedy 2015), Appendix",
                             note=_BN_STEM),
        "inception4c": PaperFigure(_BN_FIG5, note=_FIG5_CHOICE),
        "inception4d": PaperFigure(_BN_FIG5, note=_FIG5_CHOICE),
    },
}


def paper_figures(name: str) -> dict[str, PaperFigure]:
    """Module path -> what the paper says, for registered model ``name`` (or its small form,
    which gets the notes that name a choice but not the reference's numbers)."""
    from explorer.errors import ModelError
    from explorer.models.lookup import get_model_info

    try:
        reference = get_model_info(name).small_of or name
    except ModelError:
        return {}
    out = dict(PAPER_NOTES.get(reference, {}))
    if reference == name:
        out.update(PAPER_LAYERS.get(name, {}))
    return out
