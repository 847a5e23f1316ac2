"""A user's ``torch.export`` program (``.pt2``), read without running code from it.

``torch.export.load`` is not safe on a stranger's file: it retries ``torch.load`` with
``weights_only=False`` after any error and unpickles some constants with ``pickle.loads``
(pytorch #153410), it ``sympify``-s shape expressions (``eval``) and ``exec``-s the
program's guard code in ``ExportedProgram.module()``. So the archive is read here, part by
part: raw tensor bytes where the archive stores them, ``torch.load(weights_only=True)`` for
tensor files, ``json`` for the program, which is checked (aten operations only, no custom
objects, shape expressions of plain arithmetic, no guard code) before torch's
``ExportedProgramDeserializer`` gets it with the tensors already loaded, so that none of
its pickle paths is taken. ``ExportedProgram.module()`` is never called: the module is
rebuilt from the graph by :mod:`explorer.models.program_rehydrate`.

Over 400 lines because the archive reading and every check on it belong together: each
check closes one path of torch's own reader, and apart they would not show which.
"""

from __future__ import annotations

import dataclasses
import io
import json
import operator
import os
import pickletools
import re
import stat
import sys
import threading
import warnings
import zipfile
from copy import deepcopy
from pathlib import Path
from typing import Any

import torch

from explorer.errors import ModelError, describe_os_error
from explorer.models.program_rehydrate import rebuild, valid_path


@dataclasses.dataclass(frozen=True)
class ProgramFile:
    """What a ``.pt2`` program holds, ready to explore."""

    module: torch.nn.Module  # eval mode; a GraphModule of standard layers (program_rehydrate)
    input_shape: tuple[int, ...]  # the first example input's shape, e.g. (1, 3, 224, 224)
    output_shape: tuple[int, ...] | None  # the program's first output shape when known
    torch_version: str | None  # the torch version that wrote it, when recorded


_CACHE: dict[tuple[str, int, int], ProgramFile] = {}
_CACHE_SIZE = 2  # a ResNet-50 program holds 100 MB
# One read at a time: torch's deserializer keeps its state in a module global.
_LOCK = threading.Lock()
# Parts that are raw tensor bytes are stored, not compressed: an archive that unpacks to
# much more than its size is a zip bomb, not a model.
_UNPACK_RATIO, _UNPACK_SLACK = 8, 256 * 1024 * 1024
_ZIP_ERRORS = (zipfile.BadZipFile, EOFError, OSError, ValueError, RuntimeError)  # NotImplementedError too
# The Python callables a program may name (indexing, and arithmetic on symbolic sizes).
_PY_TARGETS = {
    **{f"_operator.{n}": getattr(operator, n) for n in ("getitem", "add", "sub", "mul", "floordiv", "truediv",
                                                         "mod", "neg", "pow", "eq", "ne", "lt", "le", "gt", "ge")},
    **{f"torch.{n}": getattr(torch, n) for n in ("sym_float", "sym_int", "sym_max", "sym_min", "sym_not",
                                                  "sym_sqrt", "sym_ite")},
}
_ATEN_TARGET = re.compile(r"torch\.ops\.aten\.([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)", re.ASCII)
# Shape expressions go through sympy.sympify, which evaluates Python: only arithmetic on
# size symbols (s0, u1...) and the functions torch's deserializer itself names may pass.
_EXPR = re.compile(r"[A-Za-z0-9_ +\-*/%(),.<>=!&|~^]{0,4096}", re.ASCII)
_EXPR_NAMES = frozenset((
    "FloorDiv", "ModularIndexing", "Where", "PythonMod", "Mod", "CleanDiv", "CeilToInt", "FloorToInt",
    "CeilDiv", "LShift", "RShift", "PowByNatural", "FloatPow", "FloatTrueDiv", "IntTrueDiv",
    "IsNonOverlappingAndDenseIndicator", "TruncToFloat", "TruncToInt", "RoundToInt", "RoundDecimal",
    "ToFloat", "Identity", "Max", "Min", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "And", "Or", "Not", "True",
    "False", "oo", "int_oo", "floor", "ceiling", "Abs", "sqrt",
))
_SYMBOL = re.compile(r"[a-z]{1,4}[0-9]+", re.ASCII)
# torch writes a size symbol as Symbol('s77', positive=True, integer=True): the one quoted form.
_SYMBOL_CALL = re.compile(r"Symbol\('[a-z]{1,4}[0-9]+'(, ?(positive|integer|nonnegative|real|finite)=(True|False))*\)",
                          re.ASCII)
_OBJECT_KEYS = ("as_custom_obj", "custom_obj", "custom_obj_values", "as_opaque_obj", "as_graph", "as_operator")


def read_program(path: str | os.PathLike, *, copy: bool = True) -> ProgramFile:
    """Read a ``torch.export`` program; each call returns its own copy of the module, or
    with ``copy=False`` the one kept for the next reads (to read facts from, never to change).

    Raises:
        ModelError: one line for the user, naming the file: what is wrong, what to do.
    """
    path = Path(path)
    shown = _one_line(str(path))
    try:
        resolved = path.resolve()
        info = resolved.stat()
    except FileNotFoundError:
        raise ModelError(f"program file not found: {shown}") from None
    except (OSError, RuntimeError) as exc:
        reason = describe_os_error(exc) if isinstance(exc, OSError) else "a symbolic link loop"
        raise ModelError(f"cannot read program file {shown}: {reason}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ModelError(f"not a program file: {shown} is a folder")
    if not stat.S_ISREG(info.st_mode):
        raise ModelError(f"not a program file: {shown} is not a regular file")
    key = (str(resolved), info.st_size, info.st_mtime_ns)
    with _LOCK:
        found = _CACHE.pop(key, None)
        if found is None:
            found = _read(resolved, _one_line(path.name, 120), info.st_size)
        _CACHE[key] = found
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
    if not copy:
        return found
    module = deepcopy(found.module)
    type(module).__name__ = type(found.module).__name__  # a GraphModule copy forgets its name
    return dataclasses.replace(found, module=module)


def forget_programs() -> None:
    """Drop the programs kept from earlier reads: the next read reads the file."""
    with _LOCK:
        _CACHE.clear()


def _one_line(text: str, limit: int = 300) -> str:
    text = re.sub(r"\s+", " ", str(text)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _version() -> str:
    return torch.__version__.split("+")[0]


def _damaged(name: str, part: str, why: str = "") -> ModelError:
    detail = f"{part} ({_one_line(why, 120)})" if why else part
    return ModelError(f"{name} is damaged: {detail}; save the program again with torch.export.save")


def _pickled(name: str, part: str) -> ModelError:
    return ModelError(f"{name} needs pickled Python objects ({_one_line(part, 120)}), which could run code: "
                      "refused; export the model with plain tensor weights and inputs")


class _Archive:
    """The zip's entries below its root folder (torch writes ``<stem>/models/model.json``)."""

    def __init__(self, zf: zipfile.ZipFile, name: str, root: str) -> None:
        self.zf, self.name, self.root = zf, name, root
        self.entries = {i.filename[len(root):]: i for i in zf.infolist() if i.filename.startswith(root)}

    def read(self, part: str, what: str) -> bytes:
        try:
            return self.zf.read(self.entries[part])
        except KeyError:
            raise _damaged(self.name, what, f"{part} is missing") from None
        except _ZIP_ERRORS as exc:
            raise _damaged(self.name, what, f"{part}: {exc}") from None

    def json(self, part: str, what: str) -> Any:
        try:
            return json.loads(self.read(part, what))
        except (ValueError, RecursionError):
            raise _damaged(self.name, what, "not valid JSON") from None

    def raw(self, part: str, dtype: torch.dtype, what: str) -> torch.Tensor:
        """A part's bytes as a flat tensor of ``dtype`` (writable, owned)."""
        entry = self.entries.get(part)
        if entry is None:
            raise _damaged(self.name, what, f"{part} is missing")
        if entry.file_size % dtype.itemsize:
            kind = str(dtype).replace("torch.", "")
            raise _damaged(self.name, what, f"{entry.file_size} bytes is not a whole number of {kind} values")
        buffer = bytearray(entry.file_size)
        try:
            with self.zf.open(entry) as f:
                view, done = memoryview(buffer), 0
                while done < len(buffer) and (n := f.readinto(view[done:])):
                    done += n
                if done != len(buffer) or f.read(1):
                    raise _damaged(self.name, what, "size differs from the archive's record")
        except _ZIP_ERRORS as exc:
            raise _damaged(self.name, what, str(exc)) from None
        return torch.frombuffer(buffer, dtype=dtype) if buffer else torch.empty(0, dtype=dtype)

    def tensors_file(self, part: str, what: str) -> Any:
        """A ``torch.save`` part, loaded with ``weights_only=True`` and nothing else."""
        data = self.read(part, what)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - classified by the part's own opcodes, not torch's text
            if _needs_objects(data):
                raise _pickled(self.name, what) from None
            raise _damaged(self.name, what, "not a tensor file") from None


def _needs_objects(data: bytes) -> bool:
    """Whether a torch file (zip) or bare pickle names Python objects beyond plain tensors."""
    if data[:2] == b"PK":
        try:
            return bool(torch.serialization.get_unsafe_globals_in_checkpoint(io.BytesIO(data)))
        except Exception:  # noqa: BLE001 - an unreadable zip names nothing
            return False
    calls = {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "NEWOBJ", "NEWOBJ_EX", "BUILD"}
    try:
        return any(op.name in calls for op, _arg, _pos in pickletools.genops(io.BytesIO(data)))
    except Exception:  # noqa: BLE001 - garbage is damage, not code
        return False


def _read(path: Path, name: str, size: int) -> ProgramFile:
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise ModelError(f"cannot read program file {_one_line(str(path))}: {describe_os_error(exc)}") from None
    if magic[:2] != b"PK":
        raise ModelError(f"{name} is not a torch.export program: a .pt2 file is a zip archive and this "
                         "file is not one; save the model with torch.export.save")
    try:
        zf = zipfile.ZipFile(path)
    except OSError as exc:
        raise ModelError(f"cannot read program file {_one_line(str(path))}: {describe_os_error(exc)}") from None
    except _ZIP_ERRORS:
        raise ModelError(f"{name} is a damaged zip archive (truncated or corrupt); save the program "
                         "again with torch.export.save") from None
    with zf:
        unpacked = sum(i.file_size for i in zf.infolist())
        if unpacked > _UNPACK_RATIO * size + _UNPACK_SLACK:
            raise ModelError(f"{name} unpacks to {unpacked / 1e9:.1f} GB, far more than its size: refused")
        return _read_archive(zf, name)


def _find_root(zf: zipfile.ZipFile, name: str) -> str:
    names = zf.namelist()
    roots = [n[: -len("archive_format")] for n in names
             if n == "archive_format" or (n.endswith("/archive_format") and n.count("/") == 1)]
    if roots:
        return roots[0]
    programs = [n for n in names if re.fullmatch(r"([^/]+/)?models/[^/]+\.json", n)]
    if programs:  # a program without the archive's own marks: its reading says what is missing
        return programs[0][: programs[0].index("models/")]
    if any(n.endswith("serialized_exported_program.json") for n in names):
        raise ModelError(f"{name} was saved in torch.export's old format (torch 2.7 or earlier), which this "
                         f"app does not read; save it again with torch.export.save in torch {_version()}")
    if any(n.endswith("data.pkl") for n in names):
        raise ModelError(f"{name} is a torch.save file (weights or a pickled model), not a torch.export "
                         "program; open it as weights, or save the model with torch.export.save")
    raise ModelError(f"{name} holds no torch.export program (no models/*.json); save the model with "
                     "torch.export.save(torch.export.export(model.eval(), (example,)), path)")


def _read_archive(zf: zipfile.ZipFile, name: str) -> ProgramFile:
    from torch.export.pt2_archive import constants as names

    archive = _Archive(zf, name, _find_root(zf, name))
    if archive.read(names.ARCHIVE_FORMAT_PATH, "archive format").strip() != b"pt2":
        raise ModelError(f"{name} is not a torch.export program (its archive format is not pt2)")
    if names.ARCHIVE_VERSION_PATH in archive.entries:
        version = archive.read(names.ARCHIVE_VERSION_PATH, "archive version").decode("ascii", "replace").strip()
        if version != names.ARCHIVE_VERSION_VALUE:
            if not version.isdigit():
                raise _damaged(name, "archive version", version)
            raise ModelError(f"{name} was written by a newer torch (archive version {version}; this app reads "
                             f"{names.ARCHIVE_VERSION_VALUE}); export it again with torch {_version()}")
    order = archive.entries.get("byteorder")
    if order is not None:
        written = archive.read("byteorder", "byte order").decode("ascii", "replace").strip()
        if written != sys.byteorder:
            raise ModelError(f"{name} was written on a {_one_line(written, 20)}-endian machine and this one "
                             f"is {sys.byteorder}-endian; export it again on this machine")
    models = sorted(p[len(names.MODELS_DIR):-len(".json")] for p in archive.entries
                    if p.startswith(names.MODELS_DIR) and p.endswith(".json") and p.count("/") == 1)
    if not models:
        raise ModelError(f"{name} holds no torch.export program (no models/*.json); save the model with "
                         "torch.export.save(torch.export.export(model.eval(), (example,)), path)")
    model = "model" if "model" in models else models[0]
    program = archive.json(names.MODELS_FILENAME_FORMAT.format(model), "program")
    schema_version = _check_program(program, name)
    state = _tensors(archive, model, "weights")
    constants = _tensors(archive, model, "constants")
    inputs = _example_inputs(archive, model)
    return _build(program, state, constants, inputs, name, schema_version)


def _check_program(program: Any, name: str) -> tuple[int, int]:
    """Refuse what reading the program would run or what the app cannot feed; the schema version."""
    from torch._export.serde.schema import SCHEMA_VERSION

    try:
        version = program["schema_version"]
        major, minor = int(version["major"]), int(version["minor"])
        graph_module = program["graph_module"]
        signature = graph_module["signature"]
        input_specs, output_specs = signature["input_specs"], signature["output_specs"]
    except (KeyError, TypeError, ValueError):
        raise _damaged(name, "program", "not an exported program's JSON") from None
    ours = f"{SCHEMA_VERSION[0]}.{SCHEMA_VERSION[1]}"
    if major > SCHEMA_VERSION[0]:
        raise ModelError(f"{name} was written by a newer torch (schema {major}.{minor}; this app reads up "
                         f"to {ours}); export it again with torch {_version()}, or update the app's torch")
    if major < SCHEMA_VERSION[0] and (major, minor) != (0, 0):
        raise ModelError(f"{name} was written by an old torch (schema {major}.{minor}) that torch {_version()} "
                         f"no longer reads (it reads {SCHEMA_VERSION[0]}.x); export it again with torch {_version()}")
    _walk(graph_module, name)
    users = 0
    for spec in input_specs:
        kind, body = next(iter(spec.items())) if isinstance(spec, dict) and spec else ("?", {})
        if kind in ("custom_obj", "opaque_obj"):
            raise ModelError(f"{name} holds custom-class or TorchScript objects (input {kind}), which need "
                             "pickled code: refused; export a model made of standard torch operations")
        if kind not in ("parameter", "buffer", "tensor_constant", "user_input"):
            raise ModelError(f"{name} has an input of kind {_one_line(kind, 40)}, which this app cannot feed")
        users += kind == "user_input"
        fqn = body.get(f"{kind}_name") if kind != "user_input" and isinstance(body, dict) else "x"
        if not isinstance(fqn, str) or not valid_path(fqn):
            raise _damaged(name, "program", f"tensor name {_one_line(repr(fqn), 60)}")
    if users != 1:
        raise ModelError(f"{name} takes {users} inputs; only programs with one image input can be opened")
    for spec in output_specs:
        kind = next(iter(spec)) if isinstance(spec, dict) and spec else "?"
        if kind != "user_output":
            raise _changes_state(name, kind)
    program["guards_code"] = []  # exec-ed by ExportedProgram.module(), never called here either
    # Input and output specs name Python types, enums among them, that reading them imports
    # by name (pytree's enum_object_hook); the flat graph needs none of it.
    graph_module["module_call_graph"] = []
    return major, minor


def _changes_state(name: str, detail: str) -> ModelError:
    return ModelError(f"{name} changes its own state when run ({_one_line(detail, 80)}); export the model in "
                      "eval mode: torch.export.export(model.eval(), (example,))")


def _mutated_state(node: Any, state: dict[str, str]) -> str | None:
    """The state tensor (parameter, buffer, constant) an aten call writes to, if any."""
    schema = node.target._schema
    written = [node.args[i] if i < len(node.args) else node.kwargs.get(a.name)
               for i, a in enumerate(schema.arguments) if a.alias_info is not None and a.alias_info.is_write]
    if node.target is torch.ops.aten.batch_norm.default and len(node.args) > 5 and node.args[5]:
        written += [node.args[3], node.args[4]]  # training-mode batch norm updates its running stats
    for value in written:
        while (getattr(value, "op", None) == "call_function" and isinstance(value.target, torch._ops.OpOverload)
               and any(r.alias_info is not None for r in value.target._schema.returns) and value.args):
            value = value.args[0]  # through views to the tensor they show
        if getattr(value, "op", None) == "placeholder" and value.name in state:
            return state[value.name]
    return None


def _walk(value: Any, name: str) -> None:
    """Check every node target, shape expression and object reference in the program JSON."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        for key in _OBJECT_KEYS:
            if item.get(key) if key == "custom_obj_values" else key in item:
                raise ModelError(f"{name} holds custom-class or TorchScript objects or subgraphs ({key}), "
                                 "which this app does not load: refused; export a model made of standard "
                                 "torch operations")
        if "expr_str" in item and not _plain_expression(item["expr_str"]):
            raise ModelError(f"{name} holds a shape expression that is not plain arithmetic: refused")
        if "target" in item and not _allowed_target(item["target"]):  # only graph nodes have targets
            raise ModelError(f"{name} calls {_one_line(item['target'], 80)}, which this app does not run (it runs "
                             "aten operations only): refused")
        meta = item.get("metadata")
        if "target" in item and isinstance(meta, dict):
            meta.pop("source_fn_stack", None)  # resolved by getattr on torch; not needed here
        stack.extend(v for k, v in item.items() if k != "metadata")


def _allowed_target(target: Any) -> bool:
    if not isinstance(target, str):
        return False
    if target in _PY_TARGETS:
        return True
    match = _ATEN_TARGET.fullmatch(target)
    op = match.group(1) if match else ""
    # from_file reads any file; the unsafe indexing ops skip bounds checks.
    return bool(op) and op != "from_file" and ("unsafe" not in op or op == "_unsafe_view") \
        and not op.startswith("_index_put_impl")


def _plain_expression(text: Any) -> bool:
    if not isinstance(text, str):
        return False
    text = _SYMBOL_CALL.sub("s0", text)
    if not _EXPR.fullmatch(text):
        return False
    if re.search(r"(?<![0-9])\.|\.(?![0-9])", text):  # a dot outside a number: attribute access
        return False
    return all(word in _EXPR_NAMES or _SYMBOL.fullmatch(word)
               for word in re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*", text, re.ASCII))


def _tensors(archive: _Archive, model: str, kind: str) -> dict[str, torch.Tensor]:
    """Weights or constants by name: raw bytes viewed as the recorded tensors."""
    from torch._export.serde.schema import ScalarType
    from torch._export.serde.serialize import deserialize_scalar_type
    from torch.export.pt2_archive import constants as names

    base = names.WEIGHTS_DIR if kind == "weights" else names.CONSTANTS_DIR
    fmt = names.WEIGHTS_CONFIG_FILENAME_FORMAT if kind == "weights" else names.CONSTANTS_CONFIG_FILENAME_FORMAT
    legacy = f"{base}{model}.pt"
    if legacy in archive.entries:
        loaded = archive.tensors_file(legacy, kind)
        if not isinstance(loaded, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                   for k, v in loaded.items()):
            raise _damaged(archive.name, kind, "not tensors by name")
        return loaded
    config = archive.json(fmt.format(model), kind)
    entries = config.get("config") if isinstance(config, dict) else None
    if not isinstance(entries, dict):
        raise _damaged(archive.name, kind, "no tensor table")
    flat: dict[str, torch.Tensor] = {}
    views: dict[tuple, torch.Tensor] = {}  # tied weights: one Parameter under both names
    out: dict[str, torch.Tensor] = {}
    single = "weight" if kind == "weights" else "constant"
    for fqn, meta in entries.items():
        what = f"{single} {fqn}"
        if not isinstance(fqn, str) or not valid_path(fqn):
            raise _damaged(archive.name, kind, f"tensor name {_one_line(repr(fqn), 60)}")
        try:
            part = meta["path_name"]
            if kind == "constants" and part.startswith((names.CUSTOM_OBJ_FILENAME_PREFIX,
                                                         names.OPAQUE_OBJ_FILENAME_PREFIX)):
                raise _pickled(archive.name, f"custom object {fqn}")
            if kind == "constants" and not part.startswith(names.TENSOR_CONSTANT_FILENAME_PREFIX):
                raise _damaged(archive.name, what, f"unknown kind {part}")
            tm = meta["tensor_meta"]
            if meta.get("use_pickle"):
                value = archive.tensors_file(base + part, what)
                if type(value) not in (torch.Tensor, torch.nn.Parameter):
                    raise _damaged(archive.name, what, f"a {type(value).__name__}, not a tensor")
            else:
                dtype = deserialize_scalar_type(ScalarType(tm["dtype"]))
                if tm.get("layout", 7) != 7:
                    raise _damaged(archive.name, what, "not a strided tensor")
                sizes, strides = [_int(s) for s in tm["sizes"]], [_int(s) for s in tm["strides"]]
                if part not in flat:
                    flat[part] = archive.raw(base + part, dtype, what)
                offset = _int(tm["storage_offset"])
                key = (part, dtype, tuple(sizes), tuple(strides), offset, bool(meta.get("is_param")))
                if key in views:
                    out[fqn] = views[key]
                    continue
                # as_strided checks the view against the bytes there are (an empty part: no data)
                value = torch.as_strided(flat[part].view(dtype), sizes, strides, offset)
                if meta.get("is_param"):
                    value = torch.nn.Parameter(value, requires_grad=bool(tm.get("requires_grad", True)))
                views[key] = value
            if meta.get("is_param") and not isinstance(value, torch.nn.Parameter):
                value = torch.nn.Parameter(value.detach(), requires_grad=bool(tm and tm.get("requires_grad", True)))
            out[fqn] = value
        except ModelError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as exc:
            raise _damaged(archive.name, what, str(exc) or type(exc).__name__) from None
    return out


def _int(value: Any) -> int:
    number = value["as_int"] if isinstance(value, dict) else None
    if type(number) is not int:
        raise ValueError(f"a symbolic or missing size ({_one_line(repr(value), 40)})")
    return number


def _example_inputs(archive: _Archive, model: str) -> tuple[tuple, dict]:
    from torch.export.pt2_archive import constants as names

    part = names.SAMPLE_INPUTS_FILENAME_FORMAT.format(model)
    entry = archive.entries.get(part)
    loaded = archive.tensors_file(part, "sample inputs") if entry is not None and entry.file_size else None
    if loaded is None:
        raise ModelError(f"{archive.name} has no example inputs, so its input size is unknown; export with "
                         "torch.export.export(model.eval(), (example_batch,))")
    if not (isinstance(loaded, (tuple, list)) and len(loaded) == 2 and isinstance(loaded[0], (tuple, list))
            and isinstance(loaded[1], dict)):
        raise _damaged(archive.name, "sample inputs", "not (args, kwargs)")
    args, kwargs = tuple(loaded[0]), dict(loaded[1])
    first = args[0] if args else None
    if not isinstance(first, torch.Tensor) or first.dim() != 4 or not first.dtype.is_floating_point:
        shown = (f"a {first.dim()}-D {str(first.dtype).replace('torch.', '')} tensor of shape {tuple(first.shape)}"
                 if isinstance(first, torch.Tensor) else "missing" if first is None else type(first).__name__)
        raise ModelError(f"{archive.name}: its first example input is {shown}, not a float image batch (N, C, H, "
                         "W); export it with an image batch such as torch.randn(1, 3, 224, 224)")
    return args, kwargs


def _build(program: dict, state: dict, constants: dict, inputs: tuple, name: str,
           schema_version: tuple[int, int]) -> ProgramFile:
    from torch._export.serde import schema
    from torch._export.serde.serialize import ExportedProgramDeserializer

    from explorer.models.program_json import to_schema

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            serialized = to_schema(schema.ExportedProgram, program)
            # Tensors go in already loaded (dicts and a tuple): the deserializer's torch.load
            # fallbacks are for bytes only and are never reached.
            exported = ExportedProgramDeserializer().deserialize(serialized, state, constants, inputs)
    except Exception as exc:  # noqa: BLE001 - any failure of torch's reader is one line
        if schema_version > schema.SCHEMA_VERSION:
            ours = ".".join(map(str, schema.SCHEMA_VERSION))
            raise ModelError(f"{name} was written by a newer torch (schema {schema_version[0]}."
                             f"{schema_version[1]}; this app reads up to {ours}); export it again with torch "
                             f"{_version()}, or update the app's torch") from None
        raise ModelError(f"{name}: torch {_version()} cannot rebuild its program ({_one_line(exc, 160)}); "
                         f"export it again with torch {_version()}") from None
    allowed = set(_PY_TARGETS.values())
    state = {s.arg.name: s.target for s in exported.graph_signature.input_specs if s.target is not None}
    for node in exported.graph.nodes:
        target = node.target
        aten = isinstance(target, torch._ops.OpOverload) and target.namespace == "aten"
        if node.op in ("call_module", "call_method", "get_attr") or (
                node.op == "call_function" and not aten and target not in allowed):
            raise ModelError(f"{name} calls {_one_line(str(target), 80)}, which this app does not run: refused")
        written = _mutated_state(node, state) if aten else None
        if written is not None:
            raise _changes_state(name, f"{target} writes {written}")
    try:
        module, output_shape = rebuild(exported)
    except (ValueError, KeyError, TypeError, RuntimeError, AttributeError) as exc:
        raise ModelError(f"{name}: cannot rebuild its layers ({_one_line(exc, 160)}); export it again with "
                         f"torch {_version()}") from None
    written = program.get("torch_version")
    return ProgramFile(module=module, input_shape=tuple(inputs[0][0].shape), output_shape=output_shape,
                       torch_version=written if isinstance(written, str) and written else None)
