"""The one name of a node, the same in every view: its *title* (issue 19).

The graph view, the feature-map stepper, the details panels, graph search and the CLI
(``summary``, ``inspect``, ``rf``, ``explain``, ``knockout``, ``profile``) all show a node by
the title this module gives it. torch.fx's node names (``layer2_0_downsample_1``,
``add_3``, ``cat_1``) stay internal ids and are never shown.

The rule, in execution order:

- a module call is named by its module path: ``layer2.0.downsample.1``;
- an operation that is not a module (an addition, a concatenation, a flatten) by its
  place, the module whose ``forward`` runs it, and what it is: ``layer2.0 (add)``,
  ``inception3a (cat)``, ``aux1 (output)``; at the top level by what it is alone
  (``flatten``), or ``(flatten)`` where a module of the model has that path;
- a parameter read (``get_attr``) by the parameter's path;
- the input and the output are ``input`` and ``output``;
- a title that would repeat (a module called twice, such as torchvision's ReLU in a
  BasicBlock; two concatenations in one block) is numbered from its second use on:
  ``layer1.0.relu``, ``layer1.0.relu #2``.

Plain Python: no torch, so views and the CLI read titles from a snapshot as well.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

#: Leaf names that say what a layer is but not which one: their label keeps the parent
#: too ("features.3" and "conv1.conv" say more than "3" and "conv").
GENERIC_NAMES = frozenset({"conv", "bn", "relu", "norm", "act", "pool", "fc", "linear", "dropout", "lrn"})
REPEAT_MARK = " #"


def base_title(op: str, module_path: str, target: str) -> str:
    """A node's title before repeats are numbered.

    Args:
        op: the fx opcode (``call_module``, ``call_function``, ``placeholder``...).
        module_path: for a module call the called module's path; otherwise the path of
            the module whose ``forward`` made the call ("" at the top level).
        target: for a function or method call its name (``add``, ``cat``, ``flatten``);
            for a parameter read the parameter's path; unused otherwise.
    """
    if op == "placeholder":
        return "input"
    if op == "output":
        return f"{module_path} (output)" if module_path else "output"
    if op == "call_module":
        return module_path
    if op == "get_attr":
        return target
    return f"{module_path} ({target})" if module_path else target


def node_titles(nodes: Iterable[tuple[str, str, str]]) -> list[str]:
    """Titles of ``(op, module_path, target)`` nodes given in execution order.

    Both the graph (:func:`explorer.graph.trace.finish_graph`) and the stepper
    (:class:`explorer.activations.stepper.Stepper`) call this over the same nodes in the
    same order (auxiliary heads included), so a node has the same title in both.
    """
    nodes = list(nodes)
    modules = {path for op, path, _ in nodes if op == "call_module"}
    seen: dict[str, int] = {}
    titles = []
    for op, path, target in nodes:
        title = base_title(op, path, target)
        if op not in ("call_module", "get_attr") and title in modules:
            title = f"({title})"  # a top-level function named like a module of the model
        seen[title] = seen.get(title, 0) + 1
        titles.append(title if seen[title] == 1 else f"{title}{REPEAT_MARK}{seen[title]}")
    return titles


def repeat_suffix(title: str) -> str:
    """`` #2`` for the second use of a title, "" for a first one."""
    head, mark, count = title.rpartition(REPEAT_MARK)
    return f"{mark}{count}" if mark and head and count.isdigit() else ""


def module_label(path: str) -> str:
    """The short label of a module: its own name, with its parent's where the own name
    alone says too little (``features.3``, ``conv1.conv``, ``0.relu``)."""
    parts = path.split(".")
    generic = parts[-1].isdigit() or parts[-1] in GENERIC_NAMES
    return ".".join(parts[-2:]) if generic else parts[-1]


def node_label(title: str, op: str, module_path: str, target: str) -> str:
    """The short label a node writes in the graph: the tail of its title that tells it
    from its neighbours (what it is inside the block drawn around it).

    ``layer1.0.conv1`` -> ``conv1``; ``features.3`` -> ``features.3``; ``layer1.0.relu #2``
    -> ``0.relu #2``; ``layer2.0 (add)`` -> ``add``; ``input`` and ``output`` as they are.
    """
    suffix = repeat_suffix(title)
    if op == "call_module":
        return module_label(module_path) + suffix
    if op in ("call_function", "call_method"):
        return target + suffix
    if op == "get_attr":
        return module_label(target) + suffix
    return title


def find_titled(titles: Sequence[str], name: str) -> int | None:
    """Index of the node titled ``name`` (spaces around it ignored), or None."""
    name = name.strip()
    for i, title in enumerate(titles):
        if title == name:
            return i
    return None
