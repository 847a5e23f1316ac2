"""Step a forward pass node by node over the model's fx graph.

Over 400 lines because the stepper is one class whose parts share its node list and
value store; auxiliary heads, stepped since issue 11, added forty, and knockouts (issue
19: the maps show the network as it runs now) eighty more, and the node's own call as it
ran (issue 21: a unit's arithmetic reads its inputs, :meth:`Stepper.call_at`) 120. What
a knockout edits at which node is worked out in :mod:`explorer.activations.knockouts`.

The stepper traces the model with the graph view's own tracer
(:func:`explorer.graph.tracer.fx_trace`, the graph ``torch.fx.symbolic_trace`` builds in eval
mode), so its node names are the graph view's node ids by construction, and runs one node at a time against the model itself on the chosen
device, as ``torch.fx.Interpreter.run_node`` does but with each node's call resolved once
(~15 us saved per node, which matters where Python, not arithmetic, bounds a forward
pass: ResNet-50 at batch 1 on a GPU). It keeps on the device only the values that later
nodes still read (freed after their last user, as the Interpreter's own ``run`` does), and
copies a value when it is shown: torchvision blocks apply ReLU in place, which would
silently overwrite a stored reference to a batch-norm output.

Long runs are generators that yield after every node, so a worker thread can run them,
report progress and stop between nodes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import fx, nn

from explorer.activations.knockouts import (
    KnockoutPlanError,
    NodeEdit,
    NodeKnockout,
    Zeros,
    load_marked,
    mark_zeroed,
    plan_knockouts,
)
from explorer.devices import choose_device
from explorer.errors import UserError
from explorer.graph.aux_heads import AuxHead, find_aux_heads
from explorer.graph.titles import node_titles
from explorer.graph.tracer import fx_trace, module_path_of


class StepperError(UserError):
    """The model cannot be stepped (it does not trace) or a node name is unknown."""


@dataclasses.dataclass(frozen=True)
class NodeRecord:
    """What the stepper knows about one fx node, in execution order.

    Attributes:
        index: position in execution order (0 is the input placeholder).
        name: fx node name; the graph view uses it as the node id. Internal: never shown.
        op: fx opcode (``placeholder``, ``call_module``, ``call_function``, ...).
        target: the module path, function name or method name the node calls.
        module_path: dotted path of the called module for ``call_module`` nodes, else the
            path of the innermost module whose ``forward`` made the call ("" at top level).
        kind: a short human label: the module class (``Conv2d``), function or method name.
        title: the node's one shown name (``layer2.0.downsample.1``, ``layer2.0 (add)``),
            the graph's own title for it (:mod:`explorer.graph.titles`).
    """

    index: int
    name: str
    op: str
    target: str
    module_path: str
    kind: str
    title: str = ""


@dataclasses.dataclass(frozen=True, eq=False)
class NodeCall:
    """One node's call as it ran on the current input: what a unit's arithmetic reads.

    Attributes:
        record: the node.
        module: the called module (``call_module``), else None.
        args, kwargs: the arguments the call received, nodes replaced by their values
            (the values as they were before the call: an in-place ReLU's input is a copy
            taken before it ran) and a knockout's zeros where one gives zeros.
        sources: ``args`` with each node's value replaced by the execution index of the
            node that made it, every other argument by None (``cat``: a list of indices).
        output: the node's output (the stepper's copy).
        edited: a knockout changes this node's output after the call (a zeroed channel,
            a branch's zeros): ``output`` is then not what ``args`` alone make.
        zeroed: the argument positions a knockout gives zeros (``(i,)``: argument i;
            ``(i, j)``: item j of the list argument i is), as in ``sources``.
    """

    record: NodeRecord
    module: nn.Module | None
    args: tuple
    kwargs: dict
    sources: tuple
    output: Any
    edited: bool = False
    zeroed: tuple[tuple[int, ...], ...] = ()


def _target_name(target: Any) -> str:
    if isinstance(target, str):
        return target
    return getattr(target, "__name__", None) or str(target)


def trace(model: nn.Module) -> fx.Graph:
    """Trace ``model`` in eval mode with the graph view's tracer, and leave it in eval mode.

    Raises:
        StepperError: the model uses control flow that fx cannot trace.
    """
    # eval() first, and kept: GoogLeNet and Inception v3 return auxiliary logits only in training.
    model.eval()
    try:
        return fx_trace(model)
    except Exception as exc:  # noqa: BLE001 - reported: any trace failure means "cannot step this"
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StepperError(
            f"cannot step {type(model).__name__}: torch.fx could not trace it ({message})"
        ) from None


def _fetch_attr(root: nn.Module, path: str) -> Any:
    value: Any = root
    for part in path.split("."):
        value = getattr(value, part)
    return value


class Stepper:
    """Run a model's forward pass one fx node at a time.

    The stepper moves ``model`` to the chosen device and puts it in eval mode (pass a copy
    if something else keeps training it). Feed an input
    with ``set_input``; then ``step_forward``/``step_back``/``run_to``/``run_to_end``/
    ``reset`` move the position, or iterate ``steps_to(...)`` in a worker to get control
    back after every node. ``activation()`` returns a copy of the current node's output.

    Args:
        model: the network; it is traced in eval mode and moved to ``device``.
        device: ``"auto"`` (CUDA, then MPS, then CPU), a device name or a ``torch.device``.
        graph: ``trace(model)`` if the caller has it already (saves tracing twice).
    """

    def __init__(
        self,
        model: nn.Module,
        device: str | torch.device | None = "auto",
        graph: fx.Graph | None = None,
        input_shape: tuple[int, ...] | None = None,
    ) -> None:
        self.device = choose_device(device)
        self.model = model
        self.graph = graph if graph is not None else trace(model)
        model.eval()
        main = list(self.graph.nodes)
        placeholders = [n for n in main if n.op == "placeholder"]
        if len(placeholders) != 1 or main[0].op != "placeholder":
            raise StepperError(
                f"cannot step {type(model).__name__}: it takes {len(placeholders)} inputs, "
                "the stepper feeds exactly one image"
            )
        #: Auxiliary heads stepped with the rest (found when ``input_shape`` is given);
        #: the graph view draws the same nodes with the same ids. ``aux_problems`` says
        #: why a head was left out (the graph view shows the same lines as its warning).
        self.aux_heads, self.aux_problems = self._find_aux_heads(main, input_shape)
        model.to(self.device)
        # Each step: the fx node, the module its targets are relative to, and its arguments
        # with an auxiliary head's placeholder replaced by the node that feeds the head.
        steps: list[tuple[fx.Node, nn.Module, str, Any, Any]] = [(n, model, "", n.args, n.kwargs) for n in main]
        for head in self.aux_heads:
            head_module = model.get_submodule(head.path)
            source = next(n for n in main if n.name == head.source)
            remap = {n: source for n in head.fx_graph.nodes if n.op == "placeholder"}

            def swap(node: fx.Node, remap: dict = remap) -> fx.Node:
                return remap.get(node, node)

            at = next(i for i, step in enumerate(steps) if step[0] is source) + 1
            steps[at:at] = [(n, head_module, head.path, fx.node.map_arg(n.args, swap),
                             fx.node.map_arg(n.kwargs, swap))
                            for n in head.fx_graph.nodes if n.op != "placeholder"]
        self._fx_nodes: list[fx.Node] = [step[0] for step in steps]
        names = {n: n.name for n in main}
        for head in self.aux_heads:
            names.update({n: head.ids[n.name] for n in head.fx_graph.nodes if n.op != "placeholder"})
        self.nodes: list[NodeRecord] = []
        for i, (n, root, prefix, _, _) in enumerate(steps):
            target = _target_name(n.target)
            if prefix and n.op in ("call_module", "get_attr"):
                target = f"{prefix}.{target}"
            path = module_path_of(n)
            self.nodes.append(NodeRecord(
                index=i, name=names[n], op=n.op, target=target,
                module_path=f"{prefix}.{path}" if prefix and path else (prefix or path),
                kind=self._kind_of(n, root),
            ))
        titles = node_titles((r.op, r.module_path, r.target) for r in self.nodes)
        self.nodes = [dataclasses.replace(r, title=t) for r, t in zip(self.nodes, titles)]
        self._index_by_name = {record.name: record.index for record in self.nodes}
        self._index_by_title = {record.title: record.index for record in self.nodes}
        # Values that must be dropped once node i has run: those whose last reader is i.
        self._free_after: list[list[fx.Node]] = [[] for _ in self._fx_nodes]
        self._read_later: set[fx.Node] = set()
        last_user: dict[fx.Node, int] = {}
        for i in range(len(steps) - 1, -1, -1):
            _, _, _, args, kwargs = steps[i]
            for used in _inputs(args, kwargs):
                self._read_later.add(used)
                if used not in last_user:
                    last_user[used] = i
                    self._free_after[i].append(used)
        self._input: torch.Tensor | None = None
        # Never rebound (reset clears it): the compiled node calls below close over it.
        self._env: dict[fx.Node, Any] = {}
        self._steps = [(n, root, args, kwargs) for n, root, _, args, kwargs in steps]
        self._plain_calls = [self._compile(n, root, args, kwargs) for n, root, args, kwargs in self._steps]
        # What the steps run: the plain calls, with those that knockouts edit replaced.
        self._calls = list(self._plain_calls)
        self._knockouts: tuple[NodeKnockout, ...] = ()
        self._edits: dict[int, NodeEdit] = {}
        # For call_at: the nodes each step reads, which steps change their input in place
        # (their input is copied before they run), and the values the last step read.
        self._reads = [tuple(_inputs(args, kwargs)) for _, _, args, kwargs in self._steps]
        self._inplace = [_in_place(n, root) for n, root, _, _ in self._steps]
        self._step_of = {n: i for i, n in enumerate(self._fx_nodes)}
        self._held: dict[fx.Node, Any] | None = {}
        self._position = -1
        self._last_value: Any = None
        self._snapshot: Any = None
        #: Output shape of every node run so far for the current input (tensors only).
        self.shapes: dict[int, tuple[int, ...]] = {}

    def _find_aux_heads(self, main: list[fx.Node], input_shape: tuple[int, ...] | None,
                        ) -> tuple[list[AuxHead], list[str]]:
        if input_shape is None:
            return [], []
        nodes = [(n.name, module_path_of(n)) for n in main]
        return find_aux_heads(self.model, self.graph, nodes, tuple(input_shape))

    # ----------------------------------------------------------------- facts

    def _kind_of(self, node: fx.Node, root: nn.Module) -> str:
        if node.op == "call_module":
            return type(root.get_submodule(str(node.target))).__name__
        if node.op == "placeholder":
            return "input"
        if node.op == "output":
            return "output"
        return _target_name(node.target)

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def position(self) -> int:
        """Index of the node shown now; -1 before an input is set."""
        return self._position

    @property
    def current(self) -> NodeRecord | None:
        """The node shown now, or None before an input is set."""
        return self.nodes[self._position] if self._position >= 0 else None

    @property
    def at_end(self) -> bool:
        return self._position == len(self.nodes) - 1

    @property
    def has_input(self) -> bool:
        return self._input is not None

    @property
    def live_values(self) -> int:
        """How many node outputs are held on the device now (the memory bound's measure)."""
        return len(self._env)

    def index_of(self, node: str | int) -> int:
        """Execution index of a node given by title, module path, graph node id or index.

        A module path that is not itself a node's title (a collapsed block such as
        ``layer1.0``) stands for the last node run inside it: the block's output.

        Raises:
            StepperError: nothing in the graph has that name.
        """
        if isinstance(node, int):
            index = node if node >= 0 else len(self.nodes) + node
            if not 0 <= index < len(self.nodes):
                raise StepperError(f"node index {node} is outside 0..{len(self.nodes) - 1}")
            return index
        if node in self._index_by_name:  # the session's node: what the views pass
            return self._index_by_name[node]
        if node.strip() in self._index_by_title:  # what the user reads and types
            return self._index_by_title[node.strip()]
        inside = [
            r.index
            for r in self.nodes
            if r.module_path == node or r.module_path.startswith(node + ".")
        ]
        if inside:
            return max(inside)
        raise StepperError(f"no node or module named {node!r} in this model")

    # ------------------------------------------------------------- running

    def set_input(self, tensor: torch.Tensor) -> None:
        """Start a new pass on ``tensor`` (a batch, usually (1, C, H, W)); shows the input."""
        self._input = tensor.detach().to(self.device)
        self.shapes = {}
        self.reset()

    def reset(self) -> None:
        """Back to the input node, dropping every value held on the device."""
        self._env.clear()
        self._held = {}
        self._last_value = None
        self._snapshot = None
        self._position = -1
        if self._input is not None:
            self._run_node(0)

    def _compile(self, node: fx.Node, root: nn.Module, args: Any, kwargs: Any, marked: bool = False):
        """A closure running ``node`` from the environment.

        What ``fx.Interpreter.run_node`` does, resolved once per node instead of on every
        call: stepping a node costs a few microseconds more than eager execution, which
        matters on a GPU where ResNet-50 at batch 1 is bound by Python, not arithmetic.
        ``root`` is the module the node's targets are relative to (an auxiliary head's
        own nodes: the head), ``args``/``kwargs`` its arguments; ``marked``: they hold
        :class:`~explorer.activations.knockouts.Zeros` markers.
        """
        env = self._env
        load = env.__getitem__
        if node.op == "placeholder":
            return lambda: self._input
        if node.op == "get_attr":
            path = str(node.target)
            return lambda: _fetch_attr(root, path)
        if node.op == "output":
            return lambda: fx.node.map_arg(args[0], load)
        if node.op == "call_module":
            func = root.get_submodule(str(node.target))
        elif node.op == "call_function":
            func = node.target
        elif node.op == "call_method":
            name = str(node.target)

            def func(obj, *rest, **options):
                return getattr(obj, name)(*rest, **options)
        else:
            raise StepperError(f"cannot step node {node.name}: unknown fx op {node.op!r}")
        if marked:  # arguments a knockout replaces by zeros (Zeros markers)
            return lambda: func(*load_marked(args, env), **load_marked(kwargs, env))
        if not kwargs and all(isinstance(a, fx.Node) for a in args):
            if len(args) == 1:
                only = args[0]
                return lambda: func(env[only])
            return lambda: func(*[env[a] for a in args])
        return lambda: func(*fx.node.map_arg(args, load), **fx.node.map_arg(kwargs, load))

    def _run_node(self, index: int, shown: bool = True) -> None:
        """Run one node. ``shown``: the pass stops here, so what it reads is kept whole for
        :meth:`call_at`; a node passed through on the way keeps only references, and an
        in-place node (whose input it overwrites) nothing, as copying there slowed a
        ResNet-50 pass by a fifth (call_at then replays it)."""
        node = self._fx_nodes[index]
        self._snapshot = None
        env = self._env
        # What this step reads, kept until the next step for call_at: references (a dict
        # of a node or two costs well under a microsecond), copies where the step changes
        # them in place.
        if not self._inplace[index]:
            held: dict[fx.Node, Any] | None = {n: env[n] for n in self._reads[index]}
        elif shown:
            held = {n: _copy_value(env[n]) for n in self._reads[index]}
        else:
            held = None
        try:
            value = self._calls[index]()
        except Exception as exc:  # noqa: BLE001 - reported with the node that failed
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StepperError(
                f"node {node.name} ({self.nodes[index].kind}) failed: {reason[:200]}") from exc
        self._held = held
        self._env[node] = value
        for done in self._free_after[index]:
            self._env.pop(done, None)
        if node not in self._read_later and node.op != "output":
            # Nothing reads it (a dead node): keep it only as the shown value.
            self._env.pop(node, None)
        self._last_value = value
        self._position = index
        tensor = _first_tensor(value)
        if tensor is not None:
            self.shapes[index] = tuple(tensor.shape)

    def steps_to(self, node: str | int) -> Iterator[int]:
        """Move to ``node``, yielding the index of every node run on the way.

        Forward targets continue from the current position; a target behind it replays the
        pass from the input (freed values are gone), at most one forward pass of work.
        Stopping the generator early leaves a consistent state at the last node run.

        Raises:
            StepperError: no input is set, or the node is unknown.
        """
        target = self.index_of(node)
        if self._input is None:
            raise StepperError("no input image: load an image before stepping")
        if target < self._position:
            self.reset()
            yield 0
        while self._position < target:
            # no_grad per node, not around the loop: a context held across a yield would
            # leak into whatever code the consumer runs between nodes.
            with torch.no_grad():
                self._run_node(self._position + 1, shown=self._position + 1 == target)
            yield self._position

    def run_to(self, node: str | int) -> NodeRecord:
        """Run (or replay) to ``node`` and return its record."""
        for _ in self.steps_to(node):
            pass
        return self.nodes[self._position]

    def step_forward(self) -> NodeRecord:
        """Run the next node (stays at the end when the pass is complete)."""
        return self.run_to(min(self._position + 1, len(self.nodes) - 1))

    def step_back(self) -> NodeRecord:
        """Show the previous node; replays from the input since its value was freed."""
        return self.run_to(max(self._position - 1, 0))

    def run_to_end(self) -> NodeRecord:
        return self.run_to(len(self.nodes) - 1)

    # ------------------------------------------------------------- reading

    def value(self) -> Any:
        """A copy of the current node's output as it is on the device (tensor or other).

        The copy is taken at the first call after a step and cached, so later in-place
        operations (``ReLU(inplace=True)``) cannot change what was captured.
        """
        if self._position < 0:
            raise StepperError("no input image: load an image before stepping")
        if self._snapshot is None:
            self._snapshot = _copy_value(self._last_value)
        return self._snapshot

    def activation(self) -> torch.Tensor | None:
        """The current node's output copied to the CPU, or None when it is not a tensor.

        For nodes that return a tuple of tensors (``torch.split``), the first tensor.
        """
        if self._position < 0:
            raise StepperError("no input image: load an image before stepping")
        # The last value is still intact (no later node has run), so one copy to the CPU
        # is enough; it never aliases device memory that an in-place op could change.
        source = self._snapshot if self._snapshot is not None else self._last_value
        tensor = _first_tensor(source)
        return None if tensor is None else tensor.detach().to("cpu", copy=True)

    def output(self) -> Any:
        """The model's output once the pass reached the end (a copy), else None."""
        return self.value() if self.at_end else None

    def call_at(self, node: str | int | None = None) -> NodeCall:
        """How ``node`` (default: the node shown now) was called on the current input: its
        module, the argument values it read and its output (:class:`NodeCall`).

        At the node shown now nothing runs: the stepper kept what that step read (a unit's
        arithmetic is ready in microseconds plus its own work). Any other node is replayed
        from the input in private, at most one forward pass, leaving the position and the
        values as they are. Read the result before stepping on: its arguments are the
        values the stepper holds, not copies (except an in-place step's input).

        Raises:
            StepperError: no input is set, or the node is unknown.
        """
        if self._input is None or self._position < 0:
            raise StepperError("no input image: load an image before stepping")
        index = self._position if node is None else self.index_of(node)
        if index == self._position and self._held is not None:
            return self._call_from(index, self._held, self.value())
        saved = (dict(self._env), self._last_value, self._snapshot, self._position, self.shapes,
                 self._held)
        try:
            self._env.clear()
            self.shapes = dict(self.shapes)
            with torch.no_grad():
                for i in range(index + 1):
                    self._run_node(i, shown=i == index)
            return self._call_from(index, self._held, _copy_value(self._last_value))
        finally:
            self._env.clear()
            self._env.update(saved[0])
            self._last_value, self._snapshot, self._position, self.shapes, self._held = saved[1:]

    def _call_from(self, index: int, held: dict[fx.Node, Any], output: Any) -> NodeCall:
        node, root, args, kwargs = self._steps[index]
        edit = self._edits.get(index)
        if edit is not None and edit.zeroed:
            args = mark_zeroed(args, edit.zeroed)

        def source(value: Any) -> Any:
            if isinstance(value, fx.Node):
                return self._step_of.get(value)
            if isinstance(value, Zeros):
                return self._step_of.get(value.node)
            if isinstance(value, (tuple, list)):
                return type(value)(source(v) for v in value)
            return None

        module = root.get_submodule(str(node.target)) if node.op == "call_module" else None
        return NodeCall(
            record=self.nodes[index], module=module, args=tuple(load_marked(args, held)),
            kwargs=dict(load_marked(kwargs, held)), sources=tuple(source(a) for a in args),
            output=output, edited=bool(edit is not None and edit.after),
            zeroed=tuple(tuple(p) for p in edit.zeroed) if edit is not None else (),
        )

    # ----------------------------------------------------------- switching

    def set_device(self, device: str | torch.device) -> None:
        """Move model and input to another device and replay to the current node."""
        new = choose_device(device)
        if new == self.device:
            return
        position = self._position
        self.model.to(new)
        self.device = new
        if self._input is not None:
            self._input = self._input.to(new)
            self.reset()
            if position > 0:
                self.run_to(position)

    # ----------------------------------------------------------- knockouts

    @property
    def knockouts(self) -> tuple[NodeKnockout, ...]:
        """The parts switched off in every pass (empty: the intact network)."""
        return self._knockouts

    def set_knockouts(self, items: Iterable[Any]) -> bool:
        """Compute every later step with ``items`` switched off, as the knockout lab's hooks
        would (see :mod:`explorer.activations.knockouts` for what each kind edits).

        ``items``: :class:`NodeKnockout` or any objects with ``kind``, ``module``, ``index``
        and ``block`` (the explain layer's ``Knockout``); empty restores the intact network.
        Parameters are never touched. When the knockouts changed, the pass goes back to the
        input node (values are recomputed from the input as the stepper moves on again);
        otherwise nothing happens.

        Returns:
            Whether the knockouts changed.

        Raises:
            StepperError: a knockout names nothing this graph can switch off (the previous
                knockouts then stay in force).
        """
        knockouts = tuple(NodeKnockout.of(item) for item in items)
        if knockouts == self._knockouts:
            return False
        calls = list(self._plain_calls)
        try:
            edits = plan_knockouts(knockouts, self.nodes, self._fx_nodes,
                                   [(args, kwargs) for _, _, args, kwargs in self._steps],
                                   [head.path for head in self.aux_heads])
            for index, edit in edits.items():
                calls[index] = self._edited_call(index, edit)
        except KnockoutPlanError as exc:
            raise StepperError(f"cannot step this knockout: {exc}") from None
        self._calls = calls
        self._knockouts = knockouts
        self._edits = dict(edits)
        self.reset()
        return True

    def _edited_call(self, index: int, edit: NodeEdit):
        node, root, args, kwargs = self._steps[index]
        call = self._plain_calls[index]
        if edit.zeroed:
            call = self._compile(node, root, mark_zeroed(args, edit.zeroed), kwargs, marked=True)
        if not edit.after:
            return call
        after = tuple(edit.after)

        def edited() -> Any:
            value = call()
            for change in after:
                value = change(value)
            return value

        return edited

    def output_for(self, tensor: torch.Tensor) -> Any:
        """The model's output on ``tensor`` as the stepper computes it (knockouts included),
        leaving the current pass, its position and its values as they are: the scores of
        the network as it runs now, without moving the maps."""
        saved = (dict(self._env), self._input, self._last_value, self._snapshot,
                 self._position, self.shapes, self._held)
        try:
            self._env.clear()
            self._input = tensor.detach().to(self.device)
            self.shapes = {}
            with torch.no_grad():
                for index in range(len(self.nodes)):
                    self._run_node(index, shown=False)
            return self._last_value  # the main graph's output node runs last
        finally:
            self._env.clear()
            self._env.update(saved[0])
            (self._input, self._last_value, self._snapshot, self._position, self.shapes,
             self._held) = saved[1:]


def _inputs(args: Any, kwargs: Any) -> list[fx.Node]:
    """The nodes an argument structure reads, each once, in order."""
    found: dict[fx.Node, None] = {}
    fx.node.map_arg((args, kwargs), lambda n: found.setdefault(n))
    return list(found)


#: Python's in-place operators as fx names them (``x += y`` traces to ``iadd``).
_INPLACE_OPERATORS = frozenset({"iadd", "isub", "imul", "itruediv", "ifloordiv", "imod", "ipow",
                                "iand", "ior", "ixor", "ilshift", "irshift", "imatmul"})


def _in_place(node: fx.Node, root: nn.Module) -> bool:
    """Whether ``node`` may overwrite what it reads: ``ReLU(inplace=True)``,
    ``F.relu(x, inplace=True)``, ``x.add_(y)``, ``x += y``."""
    if node.op == "call_module":
        return getattr(root.get_submodule(str(node.target)), "inplace", False) is True
    if node.op not in ("call_function", "call_method"):
        return False
    name = _target_name(node.target)
    dunder = name[2:-2] if name.startswith("__") and name.endswith("__") else None
    return (node.kwargs.get("inplace") is True or any(a is True for a in node.args[1:])
            or name in _INPLACE_OPERATORS or dunder in _INPLACE_OPERATORS
            or (dunder is None and name.endswith("_")))


def _copy_value(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (tuple, list)):
        return type(value)(_copy_value(v) for v in value) if not hasattr(value, "_fields") else (
            type(value)(*(_copy_value(v) for v in value))
        )
    if isinstance(value, dict):
        return {k: _copy_value(v) for k, v in value.items()}
    return value


def _first_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for item in value:
            found = _first_tensor(item)
            if found is not None:
                return found
    if isinstance(value, dict):
        for item in value.values():
            found = _first_tensor(item)
            if found is not None:
                return found
    return None
