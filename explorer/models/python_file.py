"""A user's own network, opened as ``path/to/net.py:ClassName``, behind a trust check.

Opening such a file runs the user's code, so nothing here imports a file whose content has
not been trusted: the window asks once per file and remembers the answer by the file's
SHA-256 (``trusted_code.json`` in the config folder); the CLI says so on stderr and allows
the file for its own process only. An edited file has another hash and is asked about
again. ``model_classes`` and ``class_parameters`` read the file with ``ast`` and never run
it, so the window can list classes and needed arguments before asking.

Trusting a file trusts what it imports: a sibling ``blocks.py`` is imported with it.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import os
import re
import sys
import threading
import traceback
import warnings
from datetime import datetime, timezone
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

from torch import nn

from explorer.errors import ModelError, describe_os_error
from explorer.files import read_json, read_regular, set_aside, write_json
from explorer.settings import config_dir

STORE_NAME = "trusted_code.json"
MODULE_PREFIX = "explorer_user_code_"
# A network definition is kilobytes; a "source" this large is not one.
SOURCE_LIMIT = 16 * 1024 * 1024
# The store holds about 200 bytes a trusted file.
STORE_LIMIT = 4 * 1024 * 1024
# Base class names that make a class look like a network without running the file.
_MODULE_BASES = frozenset({"Module", "Sequential"})
_HASH = re.compile(r"[0-9a-f]{64}")
USAGE = "give path/to/net.py:ClassName"

_allowed: set[str] = set()  # hashes allowed in this process
_warned: set[str] = set()
# Modules of the user's folders that importing user files added (``blocks`` beside
# ``net.py``), dropped before the next fresh import so that an edited blocks.py is read
# again and another folder's blocks.py is not mistaken for it. Built models keep theirs.
_siblings: set[str] = set()
_lock = threading.RLock()


class UntrustedCode(ModelError):
    """The file's code has not been trusted; message is one line."""


def _one_line(text: str, limit: int = 300) -> str:
    lines = str(text).strip().splitlines()
    first = lines[0].strip() if lines else ""
    return first if len(first) <= limit else first[: limit - 3] + "..."


def _read_source(path: str | os.PathLike) -> tuple[Path, bytes]:
    path = Path(path)
    if not path.exists():
        raise ModelError(f"no such file: {path}; {USAGE}")
    if path.is_dir():
        raise ModelError(f"{path} is a folder, not a Python file; {USAGE}")
    if path.suffix != ".py":
        raise ModelError(f"{path} is not a Python file (.py); {USAGE}")
    try:
        return path, read_regular(path, SOURCE_LIMIT)
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {describe_os_error(exc)}") from None
    except ValueError as exc:
        raise ModelError(f"cannot read {path}: {_one_line(str(exc))}") from None


def _sha256(source: bytes) -> str:
    return hashlib.sha256(source).hexdigest()


def file_hash(path: str | os.PathLike) -> str:
    """The SHA-256 (hex) of the file's bytes.

    Raises:
        ModelError: the path is missing, a folder, not a ``.py`` file or unreadable.
    """
    return _sha256(_read_source(path)[1])


# --- the trust store -------------------------------------------------------------------


def _store_path() -> Path:
    return config_dir() / STORE_NAME


def _read_store() -> tuple[dict[str, Any], bool]:
    """The stored entries (hash -> {"path", "trusted_at"}) and whether the file was damaged.
    A damaged store reads as empty: asking again is better than refusing to start."""
    path = _store_path()
    if not path.exists():
        return {}, False
    problem = None
    try:
        document = read_json(path, STORE_LIMIT)
        if not isinstance(document, dict):
            problem = "is not a JSON object"
    except (OSError, ValueError) as exc:
        why = describe_os_error(exc) if isinstance(exc, OSError) else _one_line(str(exc))
        problem = f"cannot be read ({why})"
    if problem:
        message = f"trust store {path} {problem}; no file is trusted from it"
        if message not in _warned:
            _warned.add(message)
            warnings.warn(message, stacklevel=3)
        return {}, True
    return {key: value for key, value in document.items() if _HASH.fullmatch(str(key))}, False


def _trusted_hash(digest: str) -> bool:
    return digest in _allowed or digest in _read_store()[0]


def is_trusted(path: str | os.PathLike) -> bool:
    """Whether the file's current content was trusted (stored, or allowed in this process).

    Raises:
        ModelError: the path is missing, a folder, not a ``.py`` file or unreadable.
    """
    return _trusted_hash(file_hash(path))


def trust(path: str | os.PathLike, *, remember: bool = True) -> None:
    """Allow the file's current content to run: in this process, and (``remember``) in the
    trust store for later sessions.

    Raises:
        ModelError: the path is not a readable ``.py`` file.
        WriteError: the store could not be written (it is still allowed in this process).
    """
    path, source = _read_source(path)
    digest = _sha256(source)
    with _lock:
        _allowed.add(digest)
        if not remember:
            return
        entries, damaged = _read_store()
        if damaged:
            try:
                set_aside(_store_path())  # kept for the user as trusted_code.json.bad
            except OSError:
                pass  # it is replaced below either way
        entries[digest] = {"path": str(path.resolve()), "trusted_at": datetime.now(timezone.utc).isoformat()}
        write_json(_store_path(), entries, indent=1, action="save trusted files")


def allow_in_process(path: str | os.PathLike) -> None:
    """Allow the file for this process only (the CLI, which says so on stderr)."""
    trust(path, remember=False)


def _forget_in_process() -> None:
    """Forget the files allowed in this process (tests: as if the app started afresh)."""
    _allowed.clear()


# --- reading without running -----------------------------------------------------------


def _compile(path: Path, source: bytes, flags: int = 0) -> Any:
    """The code (or, with ``ast.PyCF_ONLY_AST``, the tree) of ``source``; nothing runs."""
    try:
        return compile(source, str(path), "exec", flags, dont_inherit=True)
    except SyntaxError as exc:
        where = f" at line {exc.lineno}" if exc.lineno else ""
        message = _one_line(exc.msg or "invalid syntax")
        raise ModelError(f"{path.name} has a syntax error{where}: {message}; fix it and open it again") from None
    except ValueError as exc:  # null bytes
        raise ModelError(f"{path.name} is not Python source ({_one_line(str(exc))})") from None


def _classes(path: str | os.PathLike) -> tuple[Path, dict[str, ast.ClassDef]]:
    path, source = _read_source(path)
    tree = _compile(path, source, ast.PyCF_ONLY_AST)
    return path, {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def _model_class_names(classes: dict[str, ast.ClassDef]) -> list[str]:
    found: set[str] = set()
    changed = True
    while changed:  # a class on a class of this file that is one, at any depth
        changed = False
        for name, node in classes.items():
            for base in node.bases if name not in found else ():
                # Module, nn.Module, torch.nn.Module (any alias), or a model class above
                base_name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", None)
                if base_name in _MODULE_BASES or (isinstance(base, ast.Name) and base_name in found):
                    found.add(name)
                    changed = True
                    break
    return [name for name in classes if name in found]


def model_classes(path: str | os.PathLike) -> list[str]:
    """Top-level classes that look like ``nn.Module`` subclasses, in file order, found with
    ``ast`` without running the file: bases named ``Module``/``nn.Module``/
    ``torch.nn.Module`` (or ``Sequential``), or a class of the same file that is one.

    Raises:
        ModelError: the path is not a readable ``.py`` file, or it has a syntax error.
    """
    return _model_class_names(_classes(path)[1])


def class_parameters(path: str | os.PathLike, class_name: str) -> list[str]:
    """The ``__init__`` parameters without defaults (not ``self``), read with ``ast``: the
    arguments the class needs before it can be built. A class without its own ``__init__``
    takes that of its first base defined in the same file; otherwise none is needed.

    Raises:
        ModelError: not a readable ``.py`` file, a syntax error, or no such class.
    """
    path, classes = _classes(path)
    if class_name not in classes:
        raise ModelError(_no_class_message(path, class_name, _model_class_names(classes)))
    seen: set[str] = set()
    queue = [class_name]
    while queue:
        name = queue.pop(0)
        if name in seen or name not in classes:
            continue
        seen.add(name)
        for node in classes[name].body:
            if isinstance(node, ast.FunctionDef) and node.name == "__init__":
                args = node.args
                positional = args.posonlyargs + args.args
                names = [a.arg for a in positional[1 : len(positional) - len(args.defaults)]]  # [0]: self
                return names + [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None]
        queue.extend(base.id for base in classes[name].bases if isinstance(base, ast.Name))
    return []


def _no_class_message(path: Path, class_name: str, names: list[str]) -> str:
    if names:
        return f"{path.name} has no class {class_name}; its model classes: {', '.join(names)}"
    return f"{path.name} has no class {class_name}, and no nn.Module class at all"


# --- importing and building ------------------------------------------------------------


def _user_line(exc: BaseException, filename: str) -> str:
    """" (line N)" for the deepest frame in the user's file, or "" if none ran there."""
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == filename]
    return f" (line {lines[-1]})" if lines else ""


def _describe(exc: BaseException, filename: str) -> str:
    """"ZeroDivisionError: division by zero (line 3)", on one line."""
    text = _one_line(str(exc))
    if isinstance(exc, SyntaxError) and exc.filename and exc.filename != filename:
        text = f"{_one_line(exc.msg or '')} in {Path(exc.filename).name} line {exc.lineno}"
    return f"{type(exc).__name__}{': ' if text else ''}{text}{_user_line(exc, filename)}"


def _inside(module: ModuleType | None, folder: str) -> bool:
    file = getattr(module, "__file__", None)
    parent = os.path.dirname(os.path.abspath(file)) if file else ""
    return bool(parent) and (parent == folder or parent.startswith(folder + os.sep))


def _import(path: Path, code: CodeType, digest: str) -> ModuleType:
    folder = str(path.parent)
    # The name also covers the path: one content in two folders may import other siblings.
    name = MODULE_PREFIX + _sha256(f"{digest}\0{path}".encode())[:16]
    with _lock:
        if name in sys.modules:
            return sys.modules[name]
        for stale in _siblings:
            sys.modules.pop(stale, None)
        _siblings.clear()
        module = importlib.util.module_from_spec(importlib.util.spec_from_file_location(name, path))
        before = set(sys.modules)
        sys.modules[name] = module  # pickling, fx and inspect look classes up here
        sys.path.insert(0, folder)
        try:
            # Run the bytes that were hashed, not spec.loader.exec_module: that would read
            # the file again (an edit in between would run untrusted code) and write a
            # __pycache__ folder beside the user's file.
            exec(code, module.__dict__)  # noqa: S102 - the user's own code, trusted above
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - reported as one line
            sys.modules.pop(name, None)
            raise ModelError(f"{path.name} raises on import: {_describe(exc, str(path))}") from None
        finally:
            try:
                sys.path.remove(folder)
            except ValueError:
                pass  # the user's code took it out itself
            # Only new top-level names: a file in our own checkout may import explorer.*.
            tops = {m.split(".")[0] for m in before}
            _siblings.update(
                m for m in set(sys.modules) - before
                if m != name and m.split(".")[0] not in tops and _inside(sys.modules.get(m), folder)
            )
        return module


def _module_class_names(module: ModuleType) -> list[str]:
    return [
        key for key, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, nn.Module) and value.__module__ == module.__name__
    ]


def _check_arguments(label: str, cls: type, model_args: dict[str, Any]) -> None:
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return  # no signature to check; the call says what is wrong
    if not any(p.kind is p.VAR_KEYWORD for p in params):
        accepted = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        unknown = [key for key in model_args if key not in accepted]
        if unknown:
            takes = f"it accepts: {', '.join(accepted)}" if accepted else "it takes no arguments"
            plural = "s" if len(unknown) > 1 else ""
            raise ModelError(f"{label} has no argument{plural} named {', '.join(unknown)}; {takes}")
    missing = [
        p.name for p in params
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in model_args
    ]
    if missing:
        plural, them = ("s", "them") if len(missing) > 1 else ("", "it")
        example = ", ".join(f'"{name}": ...' for name in missing)
        raise ModelError(
            f"{label} needs argument{plural} {', '.join(missing)}: give {them} with --model-args '{{{example}}}'"
        )


def build_model(path: str | os.PathLike, class_name: str, model_args: dict[str, Any] | None = None) -> nn.Module:
    """Import the file (only if its current content is trusted), build ``class_name`` with
    ``model_args`` as keyword arguments and return it in eval mode.

    The same unchanged file is imported once per process; an edited one afresh.

    Raises:
        UntrustedCode: the file's content has not been trusted; nothing was run.
        ModelError: a bad path, a file that raises on import, no such class, not an
            ``nn.Module`` class, bad or missing arguments, or a constructor that raises.
    """
    path, source = _read_source(path)
    digest = _sha256(source)
    if not _trusted_hash(digest):
        raise UntrustedCode(
            f"{path.name} has not been trusted: opening it runs its code; allow it when the "
            "window asks (an edited file is asked about again)"
        )
    if model_args is None:
        model_args = {}
    if not isinstance(model_args, dict) or not all(isinstance(key, str) for key in model_args):
        raise ModelError(
            f"--model-args for {path.name} must be a JSON object of keyword arguments, "
            f"like '{{\"width\": 32}}' (got a {type(model_args).__name__})"
        )
    path = path.resolve()
    filename = str(path)
    module = _import(path, _compile(path, source), digest)
    label = f"{class_name} in {path.name}"
    cls = getattr(module, class_name, None) if class_name.isidentifier() else None
    if cls is None:
        raise ModelError(_no_class_message(path, class_name, _module_class_names(module)))
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        names = _module_class_names(module)
        choose = f"; its model classes: {', '.join(names)}" if names else ""
        raise ModelError(f"{label} is not an nn.Module subclass (it is a {type(cls).__name__}){choose}")
    _check_arguments(label, cls, model_args)
    try:
        model = cls(**model_args)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - reported as one line
        if isinstance(exc, TypeError) and not _user_line(exc, filename):
            # Raised at the call itself: the arguments do not fit the constructor.
            raise ModelError(f"{label} does not take these arguments: {_one_line(str(exc))}") from None
        raise ModelError(f"{label} raises when built: {_describe(exc, filename)}") from None
    if not isinstance(model, nn.Module):
        raise ModelError(f"{label} built an object of type {type(model).__name__}, not an nn.Module")
    return model.eval()
