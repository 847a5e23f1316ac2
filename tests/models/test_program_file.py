"""Reading torch.export programs (.pt2): standard layers back, and nothing run from the file."""

from __future__ import annotations

import io
import json
import operator
import pathlib
import pickle
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import fx, nn

from explorer.errors import ModelError
from explorer.models import program_file
from explorer.models.program_file import read_program


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x  # in place, as torchvision's blocks do
        return self.relu(out)


class _TwinBranchNet(nn.Module):
    """Not in the zoo: stem, a residual block, two branches joined by cat, ReLU6, pools, head."""

    def __init__(self) -> None:
        super().__init__()
        self.mean = torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)  # a lifted constant
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        self.block = _Residual(16)
        self.left = nn.Sequential(nn.Conv2d(16, 8, 1), nn.ReLU())
        self.right = nn.Sequential(nn.Conv2d(16, 8, 3, padding=2, dilation=2), nn.BatchNorm2d(8))
        self.act = nn.ReLU6()
        self.pool = nn.MaxPool2d(2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block(self.stem(x - self.mean))
        x = torch.cat([self.left(x), self.right(x)], 1)
        x = self.gap(self.pool(self.act(x)))
        return self.head(self.drop(torch.flatten(x, 1)))


def _trained_like(model: nn.Module) -> nn.Module:
    """Running statistics away from 0/1, so that eval-mode batch norm is really checked."""
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.num_batches_tracked.fill_(7)
    return model.eval()


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[Path, nn.Module, torch.Tensor]:
    torch.manual_seed(1)
    model = _trained_like(_TwinBranchNet())
    example = torch.randn(1, 3, 32, 32)
    path = tmp_path_factory.mktemp("program") / "twin.pt2"
    torch.export.save(torch.export.export(model, (example,)), path)
    return path, model, example


class _Touch:
    """Unpickled, it creates a marker file: what a hostile part would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.marker),)


def _hostile(marker: Path, form: str = "torch") -> bytes:
    if form == "pickle":
        return pickle.dumps(_Touch(marker))
    buffer = io.BytesIO()
    torch.save(((_Touch(marker),), {}), buffer)
    return buffer.getvalue()


def _rewrite(src: Path, dst: Path, changes: dict[str, bytes | Callable[[bytes], bytes] | None]) -> Path:
    """Copy a .pt2 with entries (named below the archive's root folder) replaced, added or dropped."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        root = zin.namelist()[0].split("/")[0] + "/"
        for info in zin.infolist():
            rel = info.filename[len(root):]
            data = zin.read(info)
            if rel in changes:
                change = changes[rel]
                if change is None:
                    continue
                data = change(data) if callable(change) else change
            zout.writestr(info.filename, data)
        for rel, change in changes.items():
            if isinstance(change, bytes) and root + rel not in zin.namelist():
                zout.writestr(root + rel, change)
    return dst


def _json_edit(edit: Callable[[dict], None]) -> Callable[[bytes], bytes]:
    def apply(data: bytes) -> bytes:
        value = json.loads(data)
        edit(value)
        return json.dumps(value).encode()
    return apply


def _refusal(path: Path) -> str:
    with pytest.raises(ModelError) as info:
        read_program(path)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message
    return message


# --- a program read back as standard layers -------------------------------------------


def test_output_parameters_and_input_shape_match_the_model(saved):
    path, model, example = saved
    result = read_program(path)
    assert result.input_shape == (1, 3, 32, 32)
    assert result.output_shape == (1, 10)
    assert result.torch_version == torch.__version__
    assert not result.module.training
    with torch.no_grad():
        torch.testing.assert_close(result.module(example), model(example), rtol=1e-5, atol=1e-6)
    assert sum(p.numel() for p in result.module.parameters()) == sum(p.numel() for p in model.parameters())
    assert {k for k, _ in result.module.named_parameters()} == {k for k, _ in model.named_parameters()}


def test_layers_are_standard_modules_at_their_original_paths(saved):
    path, model, _ = saved
    modules = dict(read_program(path).module.named_modules())
    original = dict(model.named_modules())
    for name in ("stem.0", "stem.1", "stem.2", "block.conv1", "block.bn1", "block.relu", "block.conv2",
                 "block.bn2", "left.0", "left.1", "right.0", "right.1", "act", "pool", "gap", "drop", "head"):
        assert type(modules[name]) is type(original[name]), name
    conv, right, bn2 = modules["stem.0"], modules["right.0"], modules["block.bn2"]
    assert (conv.stride, conv.padding, conv.bias) == ((2, 2), (1, 1), None)
    assert (right.padding, right.dilation, right.kernel_size) == ((2, 2), (2, 2), (3, 3))
    assert (bn2.eps, bn2.momentum, int(bn2.num_batches_tracked)) == (1e-3, 0.01, 7)
    torch.testing.assert_close(bn2.running_var, original["block.bn2"].running_var)
    assert modules["block.relu"].inplace is False and modules["drop"].p == 0.2
    assert (modules["pool"].kernel_size, modules["gap"].output_size) == ((2, 2), (1, 1))
    # Containers keep the original class names, which the graph view reads.
    assert type(modules["block"]).__name__ == "_Residual"
    assert type(modules[""]).__name__ == "_TwinBranchNet"


def test_merges_and_reshapes_are_the_plain_python_forms(saved):
    module = read_program(saved[0]).module
    targets = [n.target for n in module.graph.nodes if n.op == "call_function"]
    assert operator.add in targets and torch.cat in targets and torch.flatten in targets
    assert operator.sub in targets  # x - mean
    assert not any(isinstance(t, torch._ops.OpOverload) for t in targets)
    calls = [n.target for n in module.graph.nodes if n.op == "call_module"]
    assert calls.count("block.relu") == 2  # one module, called twice, as in the model


def test_symbolic_trace_of_the_result_works_and_matches(saved):
    path, model, example = saved
    module = read_program(path).module
    traced = fx.symbolic_trace(module)
    leaves = {n.target for n in traced.graph.nodes if n.op == "call_module"}
    assert {"stem.0", "block.conv1", "right.1", "head"} <= leaves
    with torch.no_grad():
        torch.testing.assert_close(traced(example), model(example), rtol=1e-5, atol=1e-6)


def test_unknown_aten_ops_stay_runnable_and_traceable(tmp_path):
    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")  # pad + conv: left alone

        def forward(self, x):
            return torch.special.erf(self.conv(x)).amax(dim=(2, 3))

    model, example = Odd().eval(), torch.randn(1, 3, 8, 8)
    path = tmp_path / "odd.pt2"
    torch.export.save(torch.export.export(model, (example,)), path)
    module = read_program(path).module
    assert any(isinstance(n.target, torch._ops.OpOverload) for n in module.graph.nodes)
    assert not isinstance(dict(module.named_modules()).get("conv"), nn.Conv2d)
    with torch.no_grad():
        torch.testing.assert_close(module(example), model(example))
        torch.testing.assert_close(fx.symbolic_trace(module)(example), model(example))
    assert sum(p.numel() for p in module.parameters()) == sum(p.numel() for p in model.parameters())


def test_a_layer_called_twice_tied_weights_and_unused_tensors(tmp_path):
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)
            self.b.weight = self.a.weight
            self.unused = nn.Parameter(torch.ones(3))
            self.register_buffer("gain", torch.tensor([2.0]), persistent=False)

        def forward(self, x):
            x = (self.conv(self.conv(x)) * self.gain).mean((2, 3))
            return self.b(self.a(x))

    model, example = Tied().eval(), torch.randn(1, 4, 8, 8)
    path = tmp_path / "tied.pt2"
    torch.export.save(torch.export.export(model, (example,)), path)
    module = read_program(path).module
    assert [n.target for n in module.graph.nodes if n.op == "call_module"] == ["conv", "conv", "a", "b"]
    assert module.a.weight is module.b.weight and torch.equal(module.unused, model.unused)
    assert sum(p.numel() for p in module.parameters()) == sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        torch.testing.assert_close(module(example), model(example))


def test_in_place_ops_whose_mutation_is_seen_stay_in_place(tmp_path):
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.act = nn.ReLU(inplace=True)

        def forward(self, x):
            h = self.conv(x)
            y = self.act(torch.flatten(h, 1))  # relu_ on a view: h changes too
            return y.sum(1) + h.sum((1, 2, 3))

    model, example = Shared().eval(), torch.randn(1, 3, 8, 8)
    path = tmp_path / "shared.pt2"
    torch.export.save(torch.export.export(model, (example,)), path)
    module = read_program(path).module
    assert isinstance(module.get_submodule("conv"), nn.Conv2d)
    assert torch.ops.aten.relu_.default in [n.target for n in module.graph.nodes]
    with torch.no_grad():
        torch.testing.assert_close(module(example), model(example))


def test_a_second_read_hits_the_cache_and_returns_an_independent_module(saved, tmp_path, monkeypatch):
    path = tmp_path / "copy.pt2"
    path.write_bytes(saved[0].read_bytes())
    reads = []
    real = program_file._read
    monkeypatch.setattr(program_file, "_read", lambda *a: reads.append(a) or real(*a))
    first, second = read_program(path), read_program(path)
    assert len(reads) == 1
    assert first.module is not second.module
    with torch.no_grad():
        first.module.get_submodule("head").weight.zero_()
    assert second.module.get_submodule("head").weight.abs().sum() > 0
    assert type(second.module).__name__ == "_TwinBranchNet"


def test_facts_read_without_a_copy_share_the_kept_module(saved):
    first, second = read_program(saved[0], copy=False), read_program(saved[0], copy=False)
    assert first.module is second.module and read_program(saved[0]).module is not first.module


def _program_json(path: Path) -> dict:
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read(next(n for n in zf.namelist() if n.endswith("/models/model.json"))))


def test_the_programs_json_becomes_the_objects_torchs_own_converter_makes(saved):
    from torch._export.serde import schema
    from torch._export.serde.serialize import _dict_to_dataclass

    from explorer.models.program_json import to_schema

    ours = to_schema(schema.ExportedProgram, _program_json(saved[0]))
    assert ours == _dict_to_dataclass(schema.ExportedProgram, _program_json(saved[0]))
    assert len(ours.graph_module.graph.nodes) > 20  # a whole program, not an empty one


@pytest.mark.parametrize("edit", [
    lambda p: p["graph_module"]["graph"].update(nodes="not a list"),
    lambda p: p["graph_module"]["graph"]["nodes"][0]["inputs"][0]["arg"].update(as_what=1),
    lambda p: p["graph_module"].update(graph=[]),
], ids=["a string for a list", "an unknown kind of argument", "a list for an object"])
def test_a_program_of_the_wrong_shape_is_damaged_in_one_line(saved, tmp_path, edit):
    path = _rewrite(saved[0], tmp_path / "odd.pt2", {"models/model.json": _json_edit(edit)})
    message = _refusal(path)
    assert message.startswith("odd.pt2: torch ") and "cannot rebuild its program" in message


# --- hostile parts: refused, and nothing in them runs ------------------------------------


def test_the_hostile_payload_would_run_if_unpickled(tmp_path):
    control = tmp_path / "control"
    pickle.loads(_hostile(control, "pickle"))  # our own bytes: proves the marker check means something
    assert control.exists()


@pytest.mark.parametrize("form", ["torch", "pickle"])
def test_pickled_example_inputs_are_refused_unrun(saved, tmp_path, form):
    marker = tmp_path / "ran"
    path = _rewrite(saved[0], tmp_path / "inputs.pt2", {"data/sample_inputs/model.pt": _hostile(marker, form)})
    message = _refusal(path)
    assert "inputs.pt2 needs pickled Python objects (sample inputs), which could run code: refused" in message
    assert not marker.exists()


def _pickled_entry(fqn: str) -> Callable[[dict], None]:
    def edit(value: dict) -> None:
        value["config"][fqn]["use_pickle"] = True
    return edit


def test_pickled_weights_are_refused_unrun(saved, tmp_path):
    marker = tmp_path / "ran"
    config = json.loads(zipfile.ZipFile(saved[0]).read("twin/data/weights/model_weights_config.json"))
    part = config["config"]["stem.0.weight"]["path_name"]
    path = _rewrite(saved[0], tmp_path / "weights.pt2", {
        "data/weights/model_weights_config.json": _json_edit(_pickled_entry("stem.0.weight")),
        f"data/weights/{part}": _hostile(marker),
    })
    assert "needs pickled Python objects (weight stem.0.weight)" in _refusal(path)
    assert not marker.exists()


def test_pickled_constants_are_refused_unrun(saved, tmp_path):
    marker = tmp_path / "ran"
    path = _rewrite(saved[0], tmp_path / "constants.pt2", {
        "data/constants/model_constants_config.json": _json_edit(_pickled_entry("mean")),
        "data/constants/tensor_0": _hostile(marker, "pickle"),
    })
    assert "needs pickled Python objects (constant mean)" in _refusal(path)
    assert not marker.exists()


@pytest.mark.parametrize("prefix", ["custom_obj_", "opaque_obj_"])
def test_custom_objects_are_refused_unrun(saved, tmp_path, prefix):
    marker = tmp_path / "ran"

    def add_object(value: dict) -> None:
        value["config"]["evil"] = {"path_name": f"{prefix}0", "is_param": False, "use_pickle": True,
                                   "tensor_meta": None}

    path = _rewrite(saved[0], tmp_path / "objects.pt2", {
        "data/constants/model_constants_config.json": _json_edit(add_object),
        f"data/constants/{prefix}0": _hostile(marker, "pickle"),
    })
    assert "needs pickled Python objects (custom object evil)" in _refusal(path)
    assert not marker.exists()


def test_custom_object_inputs_in_the_program_are_refused(saved, tmp_path):
    def add_input(value: dict) -> None:
        value["graph_module"]["signature"]["input_specs"].insert(0, {"custom_obj": {
            "arg": {"name": "obj", "class_fqn": "__torch__.torch.classes.evil.Touch"}, "custom_obj_name": "evil"}})

    path = _rewrite(saved[0], tmp_path / "script.pt2", {"models/model.json": _json_edit(add_input)})
    assert "holds custom-class or TorchScript objects" in _refusal(path)


def test_calls_outside_aten_are_refused(saved, tmp_path):
    def retarget(value: dict) -> None:
        value["graph_module"]["graph"]["nodes"][0]["target"] = "torch.os.system"

    path = _rewrite(saved[0], tmp_path / "call.pt2", {"models/model.json": _json_edit(retarget)})
    assert "calls torch.os.system, which this app does not run" in _refusal(path)


def test_shape_expressions_that_are_not_arithmetic_are_refused(saved, tmp_path):
    marker = tmp_path / "ran"

    def add_expression(value: dict) -> None:
        value["graph_module"]["graph"]["sym_int_values"]["s0"] = {"as_expr": {
            "expr_str": f"__import__('pathlib').Path({str(marker)!r}).touch()", "hint": None}}

    path = _rewrite(saved[0], tmp_path / "expr.pt2", {"models/model.json": _json_edit(add_expression)})
    assert "shape expression that is not plain arithmetic" in _refusal(path)
    assert not marker.exists()


def test_guard_code_in_the_program_is_never_run(saved, tmp_path):
    marker = tmp_path / "ran"

    def add_guard(value: dict) -> None:
        value["guards_code"] = [f"__import__('pathlib').Path({str(marker)!r}).touch() is None"]

    path, model, example = saved
    result = read_program(_rewrite(path, tmp_path / "guards.pt2", {"models/model.json": _json_edit(add_guard)}))
    with torch.no_grad():
        torch.testing.assert_close(result.module(example), model(example), rtol=1e-5, atol=1e-6)
    assert not marker.exists()


def test_enum_types_named_by_the_call_signature_are_never_imported(saved, tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    (tmp_path / "spec_side_effect.py").write_text(
        f"import enum, pathlib\npathlib.Path({str(marker)!r}).touch()\nclass E(enum.Enum):\n    A = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    context = json.dumps([{"__enum__": True, "fqn": "spec_side_effect:E", "name": "A"}])
    leaf = {"type": None, "context": None, "children_spec": []}
    spec = json.dumps([1, {"type": "builtins.dict", "context": context, "children_spec": [leaf]}])

    def edit(value: dict) -> None:
        value["graph_module"]["module_call_graph"][0]["signature"]["in_spec"] = spec

    path, model, example = saved
    result = read_program(_rewrite(path, tmp_path / "enum.pt2", {"models/model.json": _json_edit(edit)}))
    assert not marker.exists() and "spec_side_effect" not in sys.modules
    with torch.no_grad():
        torch.testing.assert_close(result.module(example), model(example), rtol=1e-5, atol=1e-6)
    torch.utils._pytree.treespec_loads(spec)  # torch's own reader imports it: the check means something
    assert marker.exists()
    monkeypatch.delitem(sys.modules, "spec_side_effect")


# --- files that are not (readable) programs ---------------------------------------------


def test_missing_file_and_folder(tmp_path):
    assert _refusal(tmp_path / "nope.pt2") == f"program file not found: {tmp_path / 'nope.pt2'}"
    assert _refusal(tmp_path) == f"not a program file: {tmp_path} is a folder"


def test_text_file(tmp_path):
    path = tmp_path / "notes.pt2"
    path.write_text("a text file\n")
    assert _refusal(path).startswith("notes.pt2 is not a torch.export program: a .pt2 file is a zip archive")


def test_truncated_zip(saved, tmp_path):
    data = saved[0].read_bytes()
    path = tmp_path / "cut.pt2"
    path.write_bytes(data[: len(data) // 2])
    assert _refusal(path).startswith("cut.pt2 is a damaged zip archive (truncated or corrupt)")


def test_corrupt_tensor_bytes(saved, tmp_path):
    path = _rewrite(saved[0], tmp_path / "bits.pt2", {"data/weights/weight_0": b"\x00\x01\x02"})
    assert _refusal(path).startswith("bits.pt2 is damaged: weight ")


def test_zip_without_a_program(tmp_path):
    path = tmp_path / "other.pt2"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    assert _refusal(path).startswith("other.pt2 holds no torch.export program (no models/*.json)")
    state = tmp_path / "state.pt2"
    torch.save(nn.Linear(2, 2).state_dict(), state)
    assert _refusal(state).startswith("state.pt2 is a torch.save file (weights or a pickled model)")


def test_newer_schema_version(saved, tmp_path):
    from torch._export.serde.schema import SCHEMA_VERSION

    def bump(value: dict) -> None:
        value["schema_version"] = {"major": SCHEMA_VERSION[0] + 1, "minor": 0}

    path = _rewrite(saved[0], tmp_path / "future.pt2", {"models/model.json": _json_edit(bump)})
    assert _refusal(path).startswith(
        f"future.pt2 was written by a newer torch (schema {SCHEMA_VERSION[0] + 1}.0; "
        f"this app reads up to {SCHEMA_VERSION[0]}.{SCHEMA_VERSION[1]})")


def test_missing_or_non_image_example_inputs(saved, tmp_path):
    empty = _rewrite(saved[0], tmp_path / "none.pt2", {"data/sample_inputs/model.pt": b""})
    assert _refusal(empty).startswith("none.pt2 has no example inputs")
    buffer = io.BytesIO()
    torch.save(((torch.zeros(3, 32, 32),), {}), buffer)
    flat = _rewrite(saved[0], tmp_path / "flat.pt2", {"data/sample_inputs/model.pt": buffer.getvalue()})
    assert _refusal(flat).startswith("flat.pt2: its first example input is a 3-D float32 tensor of shape (3, 32, 32)")


def test_a_program_exported_in_training_mode_is_refused(tmp_path):
    model, example = _TwinBranchNet().train(), torch.randn(2, 3, 32, 32)
    path = tmp_path / "train.pt2"
    torch.export.save(torch.export.export(model, (example,)), path)
    message = _refusal(path)
    assert message.startswith("train.pt2 changes its own state when run (aten.")
    assert message.endswith("export the model in eval mode: torch.export.export(model.eval(), (example,))")


@pytest.mark.slow
def test_reading_a_resnet50_sized_program(tmp_path, capsys):
    torchvision = pytest.importorskip("torchvision")
    model, example = torchvision.models.resnet50(weights=None).eval(), torch.randn(1, 3, 224, 224)
    path = tmp_path / "resnet50.pt2"
    torch.export.save(torch.export.export(model, (example,)), path)
    start = time.perf_counter()
    result = read_program(path)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    read_program(path)
    again = time.perf_counter() - start
    with capsys.disabled():
        print(f"\nResNet-50 program: read in {seconds:.2f} s, from the cache in {again:.2f} s")
    assert result.output_shape == (1, 1000)
    assert sum(p.numel() for p in result.module.parameters()) == sum(p.numel() for p in model.parameters())
    assert isinstance(result.module.get_submodule("layer4.2.conv3"), nn.Conv2d)
    with torch.no_grad():
        torch.testing.assert_close(result.module(example), model(example), rtol=1e-5, atol=1e-5)
