"""Models that are not in the zoo: their source strings and their facts (no Qt).

A model is opened by a *source*: a zoo name (``resnet50``), a torchvision classifier's name
(``convnext_tiny``), a ``torch.export`` program (``/home/ann/net.pt2``) or a class in a
Python file (``/home/ann/net.py:Net``). A file's source may carry what the file cannot say
for itself, after a ``?``::

    /home/ann/net.py:Net?args={"width": 2}&input=1x28x28&mean=0.286&std=0.353&classes=/home/ann/classes.txt

The source string is the model's whole identity: the session, the weights memory, the
recent-models list and the graph service all pass it around as it is, and
:func:`source_info` turns it into the same :class:`~explorer.models.ModelInfo` a zoo model
has (``explorer.models.get_model_info`` asks it for every name the registry lacks), so
every view works on it unchanged.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import urllib.parse
from pathlib import Path
from typing import Any, Literal

from explorer.errors import ModelError

SourceKind = Literal["program", "python", "torchvision"]
PROGRAM_SUFFIX = ".pt2"
PYTHON_SUFFIX = ".py"
USER_FAMILY = "Your models"
MAX_CLASSES_FILE = 1 << 20


@dataclasses.dataclass(frozen=True)
class SourceSpec:
    """A parsed source that is not a zoo name.

    Attributes:
        kind: ``program`` (.pt2), ``python`` (.py and a class) or ``torchvision``.
        location: the absolute file path, or the torchvision name.
        class_name: the class, for a Python file.
        model_args: the class's keyword arguments, as canonical JSON (``{}`` for none).
        input_shape: (C, H, W) given by the user, else None (the file's, or a guess).
        mean, std: per-channel normalisation given by the user, else None.
        classes: a file of class names, one per line, else None.
    """

    kind: SourceKind
    location: str
    class_name: str | None = None
    model_args: str = "{}"
    input_shape: tuple[int, int, int] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    classes: str | None = None

    @property
    def key(self) -> str:
        """The canonical source string (what :func:`parse_source` reads back)."""
        base = f"{self.location}:{self.class_name}" if self.kind == "python" else self.location
        query = []
        if self.model_args != "{}":
            query.append(("args", self.model_args))
        if self.input_shape is not None:
            query.append(("input", "x".join(str(v) for v in self.input_shape)))
        if self.mean is not None:
            query.append(("mean", ",".join(f"{v:g}" for v in self.mean)))
        if self.std is not None:
            query.append(("std", ",".join(f"{v:g}" for v in self.std)))
        if self.classes is not None:
            query.append(("classes", self.classes))
        if not query:
            return base
        return base + "?" + urllib.parse.urlencode(query, safe="{}\":,/ x._-")

    @property
    def file_name(self) -> str:
        return Path(self.location).name

    @property
    def title(self) -> str:
        """How the model is named in the window: ``Net (net.py)``, ``net.pt2``."""
        if self.kind == "python":
            return f"{self.class_name} ({self.file_name})"
        return self.file_name if self.kind == "program" else self.location

    @property
    def args(self) -> dict[str, Any]:
        return json.loads(self.model_args)


def is_file_source(source: str) -> bool:
    """Whether ``source`` names a file (a .pt2 program or a .py class), not a zoo or torchvision name."""
    base = source.split("?", 1)[0]
    return base.endswith((PROGRAM_SUFFIX, PYTHON_SUFFIX)) or PYTHON_SUFFIX + ":" in base


def _numbers(text: str, what: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ModelError(f"{what} must be numbers separated by commas, got {text!r}") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise ModelError(f"{what} must be finite numbers, got {text!r}")
    return values


def input_shape_of(text: str) -> tuple[int, int, int]:
    """``CxHxW`` or ``HxW`` (3 channels) as (C, H, W); ModelError when it is not one."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) == 2:
        values = [3, *values]
    if len(values) != 3 or not 1 <= values[0] <= 64 or not all(8 <= v <= 4096 for v in values[1:]):
        raise ModelError(f"input size must be CxHxW or HxW (1-64 channels, 8-4096 pixels), got {text!r}")
    return values[0], values[1], values[2]


def make_source(location: str, *, class_name: str | None = None, model_args: Any = None,
                input_shape: str | tuple[int, int, int] | None = None, mean: str | tuple[float, ...] | None = None,
                std: str | tuple[float, ...] | None = None, classes: str | None = None) -> str:
    """The source string of a file or torchvision model with the user's options (the CLI's
    ``--model-args``, ``--input-size``, ``--mean``, ``--std``, ``--classes``).

    Raises:
        ModelError: an option is malformed (one line saying which).
    """
    if isinstance(model_args, str):
        try:
            model_args = json.loads(model_args)
        except ValueError:
            raise ModelError(f"--model-args is not valid JSON: {model_args!r}") from None
    if model_args is not None and not isinstance(model_args, dict):
        raise ModelError("--model-args must be a JSON object, e.g. '{\"width\": 2}'")
    spec = parse_source(location if class_name is None else f"{location}:{class_name}")
    if isinstance(input_shape, str):
        input_shape = input_shape_of(input_shape)
    mean = _numbers(mean, "--mean") if isinstance(mean, str) else mean
    std = _numbers(std, "--std") if isinstance(std, str) else std
    if std is not None and any(v <= 0 for v in std):
        raise ModelError("--std must be above 0")
    spec = dataclasses.replace(
        spec,
        model_args=json.dumps(model_args or {}, sort_keys=True) if model_args is not None else spec.model_args,
        input_shape=tuple(input_shape) if input_shape is not None else spec.input_shape,
        mean=tuple(mean) if mean is not None else spec.mean,
        std=tuple(std) if std is not None else spec.std,
        classes=str(Path(classes).expanduser().resolve()) if classes else spec.classes,
    )
    if spec.model_args != "{}" and spec.kind != "python":
        raise ModelError("--model-args applies to a Python file's class only")
    return spec.key


def parse_source(source: str) -> SourceSpec:
    """The :class:`SourceSpec` of a file or torchvision source.

    Raises:
        ModelError: not a source this app can open (one line).
    """
    base, _, query = source.partition("?")
    values = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    if base.endswith(PROGRAM_SUFFIX):
        spec = SourceSpec("program", _absolute(base))
    elif is_file_source(base):
        path, _, class_name = base.rpartition(":") if PYTHON_SUFFIX + ":" in base else (base, "", "")
        if not class_name:
            raise ModelError(f"{Path(base).name}: name the class to open, as {Path(base).name}:ClassName")
        if not class_name.isidentifier():
            raise ModelError(f"{class_name!r} is not a Python class name")
        spec = SourceSpec("python", _absolute(path), class_name)
    else:
        from explorer.models.torchvision_models import classifier_names

        if base not in classifier_names():
            raise ModelError(f"unknown model {base!r}; `cnn-explorer models` lists them, "
                             "or open a .pt2 program or a file.py:Class")
        spec = SourceSpec("torchvision", base)
    unknown = set(values) - {"args", "input", "mean", "std", "classes"}
    if unknown:
        raise ModelError(f"unknown model option {min(unknown)!r} in {source!r}")
    args = values.get("args", "{}")
    try:
        parsed = json.loads(args)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ModelError(f"model arguments must be a JSON object, got {args!r}")
    return dataclasses.replace(
        spec,
        model_args=json.dumps(parsed, sort_keys=True),
        input_shape=input_shape_of(values["input"]) if "input" in values else None,
        mean=_numbers(values["mean"], "mean") if "mean" in values else None,
        std=_numbers(values["std"], "std") if "std" in values else None,
        classes=values.get("classes") or None,
    )


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().absolute())


def file_stamp(path: str) -> tuple[int, int]:
    """(size, mtime in ns) of ``path``: what a cached reading of it is keyed by."""
    try:
        stat = os.stat(path)
    except OSError:
        return -1, -1
    return stat.st_size, stat.st_mtime_ns


def source_stamp(source: str) -> tuple[int, int] | None:
    """The file stamp of a file source (what its structure is read from), else None: a
    graph drawn for one stamp is not the graph of the file as it is now."""
    if not is_file_source(source):
        return None
    try:
        return file_stamp(parse_source(source).location)
    except ModelError:
        return None


def forget_read_files() -> None:
    """Forget every model file read so far: the next question reads the file again, as a
    fresh process would."""
    from explorer.models.program_file import forget_programs

    _file_info.cache_clear()
    forget_programs()


def source_info(source: str) -> Any:
    """The :class:`~explorer.models.ModelInfo` of a source that is not a zoo name.

    A file's facts come from the file (a program's example input and output; for a Python
    class, a forward pass on the input it takes), and are read again when the file changes.

    Raises:
        ModelError: not a source, or the file cannot be opened (one line).
    """
    spec = parse_source(source)
    if spec.kind == "torchvision":
        from explorer.models.torchvision_models import torchvision_info

        return _with_user_options(torchvision_info(spec.location), spec, source)
    stamp = file_stamp(spec.location)
    classes_stamp = file_stamp(spec.classes) if spec.classes else None
    return _file_info(source, stamp, classes_stamp)


@functools.lru_cache(maxsize=32)
def _file_info(source: str, stamp: tuple[int, int], classes_stamp: tuple[int, int] | None) -> Any:
    from explorer.models._api import ModelInfo

    spec = parse_source(source)
    if stamp == (-1, -1):
        raise ModelError(f"{spec.file_name}: no such file (it may have moved or been deleted): {spec.location}")
    if spec.kind == "program":
        from explorer.models.program_file import read_program

        program = read_program(spec.location, copy=False)  # facts only: the module is not handed out
        shape = program.input_shape
        if len(shape) != 4:
            raise ModelError(f"{spec.file_name}: its example input has shape {tuple(shape)}; an image model takes (N, C, H, W)")
        channels, size = int(shape[1]), (int(shape[2]), int(shape[3]))
        if spec.input_shape is not None and spec.input_shape != (channels, *size):
            raise ModelError(f"{spec.file_name} was exported for input {channels}x{size[0]}x{size[1]}; "
                             "a program's input size is fixed")
        outputs = program.output_shape
        num_classes = int(outputs[-1]) if outputs else _classes_by_running(program.module, (1, channels, *size), spec)
        module = program.module

        def builder() -> Any:
            from explorer.models.program_file import read_program as read

            return read(spec.location).module
        description = f"A torch.export program read from {spec.location}."
        params = sum(p.numel() for p in module.parameters())
    else:
        from explorer.models.python_file import build_model

        model = build_model(spec.location, spec.class_name, spec.args)
        channels = spec.input_shape[0] if spec.input_shape else _first_channels(model)
        size = spec.input_shape[1:] if spec.input_shape else ((28, 28) if channels == 1 else (224, 224))
        num_classes = _classes_by_running(model, (1, channels, *size), spec)
        args = spec.args

        def builder() -> Any:
            return build_model(spec.location, spec.class_name, args)
        description = f"The class {spec.class_name} from {spec.location}."
        params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    normalization = "fashion_mnist" if (channels, *size) == (1, 28, 28) else ("imagenet" if channels == 3 else "none")
    info = ModelInfo(name=source, family=USER_FAMILY, form="reference", title=spec.title, paper="", year=0,
                     input_size=size, in_channels=channels, num_classes=num_classes, description=description,
                     builder=builder, reference_params=int(params), normalization=normalization,
                     classes=tuple(f"class {i}" for i in range(num_classes)))  # a --classes file names them
    return _with_user_options(info, spec, source)


def _with_user_options(info: Any, spec: SourceSpec, source: str) -> Any:
    """``info`` with what the user gave: input size, mean and std, class names."""
    changes: dict[str, Any] = {"name": source}
    if spec.input_shape is not None and spec.kind != "program":
        changes.update(in_channels=spec.input_shape[0], input_size=spec.input_shape[1:])
    channels = changes.get("in_channels", info.in_channels)
    for what in ("mean", "std"):
        values = getattr(spec, what)
        if values is not None:
            if len(values) == 1:
                values = values * channels
            if len(values) != channels:
                raise ModelError(f"--{what} gives {len(values)} values for a {channels}-channel input")
            changes[what] = values
    if spec.classes is not None:
        changes["classes"] = read_class_names(spec.classes, info.num_classes)
    return dataclasses.replace(info, **changes)


def read_class_names(path: str, count: int) -> tuple[str, ...]:
    """The class names in ``path``, one per line (blank lines ignored); exactly ``count``.

    Raises:
        ModelError: the file cannot be read or holds another number of names.
    """
    from explorer.errors import describe_os_error

    name = Path(path).name
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CLASSES_FILE + 1)
    except OSError as exc:
        raise ModelError(f"class names {name}: {describe_os_error(exc)}") from None
    if len(data) > MAX_CLASSES_FILE:
        raise ModelError(f"class names {name}: over 1 MB; give one name per line")
    try:
        names = tuple(line.strip() for line in data.decode("utf-8-sig").splitlines() if line.strip())
    except UnicodeDecodeError:
        raise ModelError(f"class names {name}: not UTF-8 text") from None
    if len(names) != count:
        raise ModelError(f"class names {name}: {len(names)} names for a model with {count} outputs")
    return names


def _first_channels(model: Any) -> int:
    from torch import nn

    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Conv1d | nn.Linear)), None)
    if isinstance(first, nn.Conv2d):
        return int(first.in_channels)
    return 1


def _classes_by_running(model: Any, shape: tuple[int, ...], spec: SourceSpec) -> int:
    """The number of outputs of ``model`` on a zero input of ``shape``; ModelError when it fails."""
    import torch

    try:
        with torch.no_grad():
            out = model.eval()(torch.zeros(shape))
    except Exception as exc:  # noqa: BLE001 - the user's model: any failure is reported
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"{spec.title} fails on a {'x'.join(str(v) for v in shape[1:])} input: "
                         f"{type(exc).__name__}: {text}; give its input with --input-size CxHxW") from None
    if isinstance(out, tuple | list) and out:
        out = out[0]
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelError(f"{spec.title} returns {got}; a classifier returns (N, classes)")
    return int(out.shape[1])
