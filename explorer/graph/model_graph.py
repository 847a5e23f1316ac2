"""The traced graph of one model, as plain data.

A :class:`ModelGraph` holds one node per ``torch.fx`` node (id = fx node name, so the
feature-map stepper, which traces the same eval-mode model with plain
``symbolic_trace``, finds the same ids; an id is internal: every view shows a node by its
``title``, see :mod:`explorer.graph.titles`) and one record per module in the hierarchy
(model > stage > block > layer). Everything is JSON-able so it can cross a process
boundary: the window asks a subprocess to trace and lay out, and rebuilds it here.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import networkx as nx

FORMAT = "cnn-explorer-graph/1"

# Node categories; the UI maps each to a colour from resources/theme/*.json.
CATEGORIES = (
    "input",
    "output",
    "conv",
    "depthwise",
    "pool",
    "norm",
    "activation",
    "linear",
    "concat",
    "add",
    "dropout",
    "reshape",
    "other",
)

# Edge kinds, highest priority first: when edges merge into one drawn edge between two
# collapsed blocks, the drawn edge keeps the most telling kind.
EDGE_KINDS = ("aux", "residual", "dense", "branch", "plain")
EDGE_PRIORITY = {kind: i for i, kind in enumerate(EDGE_KINDS)}

# Module kinds in the hierarchy.
BLOCK = "block"  # collapsed in the default view: an Inception module, a residual block...
CONTAINER = "container"  # a stage or wrapper whose children run one after another
LAYER = "layer"  # a leaf module: one node


@dataclasses.dataclass
class ModuleRecord:
    """One module of the hierarchy that owns at least one traced node.

    Attributes:
        path: dotted module path ("" for the model itself).
        type: class name.
        kind: ``block``, ``container`` or ``layer``.
        block_type: for blocks, a family key (``inception``, ``bottleneck``...), used for
            the paper's note and the label; empty otherwise.
        children: paths of direct child modules that own nodes, in call order.
        nodes: ids of every traced node inside this module (its whole subtree).
        params: trainable parameters in the subtree.
        signature: equal for blocks that are interchangeable (same class, shapes, size),
            used to fold runs of identical blocks.
        paper: what the paper says about this block (``PaperFigure.to_dict()``), if anything.
    """

    path: str
    type: str
    kind: str
    block_type: str = ""
    children: list[str] = dataclasses.field(default_factory=list)
    nodes: list[str] = dataclasses.field(default_factory=list)
    params: int = 0
    signature: str = ""
    paper: dict[str, Any] | None = None

    @property
    def depth(self) -> int:
        return 0 if not self.path else self.path.count(".") + 1

    @property
    def parent(self) -> str | None:
        if not self.path:
            return None
        return self.path.rsplit(".", 1)[0] if "." in self.path else ""

    @property
    def short_name(self) -> str:
        return self.path.rsplit(".", 1)[-1] if self.path else "model"


@dataclasses.dataclass
class ModelGraph:
    """A traced model: node graph, module hierarchy and a few model-wide facts.

    Attributes:
        name: model name (registry name or the class name of a user's module).
        input_shape: (N, C, H, W) used for the trace.
        graph: ``networkx.DiGraph``; node attributes are plain dicts (see
            :mod:`explorer.graph.nodes`), edge attributes ``kind`` and ``shape``.
        modules: hierarchy records by path; ``modules[""]`` is the model.
        order: node ids in execution (topological) order.
        traced: False when fx could not trace the model and the graph was recorded with
            forward hooks instead (module level only).
        warning: for the user: why the graph is a fallback, or which auxiliary heads
            could not be attached; None when the trace is complete.
        total_params: trainable parameters of the whole model.
        paper: the paper's published totals for the model (``PaperFigure.to_dict()``).
    """

    name: str
    input_shape: tuple[int, ...]
    graph: nx.DiGraph
    modules: dict[str, ModuleRecord]
    order: list[str]
    traced: bool = True
    warning: str | None = None
    total_params: int = 0
    paper: dict[str, Any] | None = None

    def node(self, node_id: str) -> dict[str, Any]:
        return self.graph.nodes[node_id]

    @property
    def total_flops(self) -> int:
        """FLOPs of one inference pass, as ``cnn-explorer models`` counts them: the
        auxiliary heads run only in training and are left out (see ``aux_flops``)."""
        return sum(int(a.get("flops") or 0) for _, a in self.graph.nodes(data=True) if not a.get("aux"))

    @property
    def aux_flops(self) -> int:
        """FLOPs of the training-only auxiliary heads, reported apart from the total."""
        return sum(int(a.get("flops") or 0) for _, a in self.graph.nodes(data=True) if a.get("aux"))

    def blocks(self, block_type: str | None = None) -> list[ModuleRecord]:
        """Block modules in execution order, optionally of one ``block_type``."""
        out = [m for m in self.modules.values() if m.kind == BLOCK]
        if block_type is not None:
            out = [m for m in out if m.block_type == block_type]
        index = {n: i for i, n in enumerate(self.order)}
        return sorted(out, key=lambda m: min((index[n] for n in m.nodes), default=0))

    def find_node(self, name: str) -> str | None:
        """The id of the node whose id is ``name`` (what the views pass around) or that is
        titled ``name`` (``layer2.0 (add)``, what the user reads: :mod:`explorer.graph.titles`);
        None when there is none."""
        if name in self.graph:
            return name
        name = name.strip()
        return next((n for n in self.order if self.graph.nodes[n].get("title") == name), None)

    def module_of(self, node_id: str) -> str:
        return self.graph.nodes[node_id].get("module_path", "")

    def enclosing_modules(self, node_id: str) -> list[str]:
        """Composite modules holding a node, outermost first (the model itself excluded)."""
        path = self.graph.nodes[node_id].get("module_path", "")
        parts = path.split(".") if path else []
        out = []
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            rec = self.modules.get(prefix)
            if rec is not None and rec.kind != LAYER:
                out.append(prefix)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: nodes with attributes, edges with kinds, modules."""
        return {
            "format": FORMAT,
            "name": self.name,
            "input_shape": list(self.input_shape),
            "traced": self.traced,
            "warning": self.warning,
            "total_params": self.total_params,
            "total_flops": self.total_flops,
            "aux_flops": self.aux_flops,
            "paper": self.paper,
            "nodes": [dict(self.graph.nodes[n]) for n in self.order],
            "edges": [
                {"source": u, "target": v, **attrs} for u, v, attrs in self.graph.edges(data=True)
            ],
            "modules": [dataclasses.asdict(m) for m in self.modules.values()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelGraph:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} document")
        graph = nx.DiGraph()
        order = []
        for attrs in data["nodes"]:
            graph.add_node(attrs["id"], **attrs)
            order.append(attrs["id"])
        for edge in data["edges"]:
            attrs = {k: v for k, v in edge.items() if k not in ("source", "target")}
            graph.add_edge(edge["source"], edge["target"], **attrs)
        modules = {m["path"]: ModuleRecord(**m) for m in data["modules"]}
        return cls(
            name=data["name"],
            input_shape=tuple(data["input_shape"]),
            graph=graph,
            modules=modules,
            order=order,
            traced=data.get("traced", True),
            warning=data.get("warning"),
            total_params=data.get("total_params", 0),
            paper=data.get("paper"),
        )


def format_shape(shape: list[int] | None) -> str:
    """``[1, 64, 56, 56]`` -> ``64×56×56`` (batch dimension dropped)."""
    if not shape:
        return ""
    dims = shape[1:] if len(shape) > 1 else shape
    return "×".join(str(d) for d in dims)
