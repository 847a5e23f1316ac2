"""Reading weight files without running code from them, and checking what they hold.

Every loader (a user's file, torchvision's cache, checkpoints, shipped weights) reads with
``read_torch_file`` (``torch.load(weights_only=True)``; a refused file is classified by its
own pickle opcodes, never by the text of torch's error) and checks the state dict with
``validate_state_dict`` (floating point and finite only).
"""

from __future__ import annotations

import io
import os
import pickletools
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from explorer.errors import ModelError, describe_os_error


def pickled_code_in(path: str | os.PathLike) -> list[str]:
    """Names of the Python objects a torch file (or plain pickle) would import or call.

    Reads the pickle opcodes only; nothing is unpickled. For torch's zip format these are
    the globals the weights-only loader does not allow; for a bare pickle, every object it
    names. An empty list: no pickled code found (the file may still be corrupt).
    """
    path = Path(path)
    if zipfile.is_zipfile(path):
        try:
            return list(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
        except (OSError, RuntimeError, ValueError, EOFError, zipfile.BadZipFile, KeyError):
            return []
    try:
        data = path.read_bytes()
    except OSError:
        return []
    names: list[str] = []
    stream = io.BytesIO(data)
    # torch's legacy format is a few pickles in a row (magic number, header, data): read
    # each complete one. Garbage rarely parses to a STOP; what fails to parse counts for nothing.
    for _ in range(4):
        found: list[str] = []
        strings: list[str] = []
        try:
            for opcode, arg, _pos in pickletools.genops(stream):
                if isinstance(arg, str):
                    strings.append(arg)
                if opcode.name in ("GLOBAL", "INST"):
                    found.append(str(arg).replace(" ", "."))
                elif opcode.name == "STACK_GLOBAL":
                    found.append(".".join(strings[-2:]) if len(strings) >= 2 else "a global")
        except (ValueError, EOFError, IndexError, KeyError, TypeError, UnicodeDecodeError):
            break
        names += found
        if stream.tell() >= len(data):
            break
    return names


def read_torch_file(path: str | os.PathLike, *, what: str = "weights file", error: type[Exception] = ModelError) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, failures as one-line ``error``s.

    Args:
        path: the file.
        what: what the file is called in messages ("weights file", "checkpoint").
        error: the exception class raised (a UserError subclass).

    Raises:
        error: missing, not a file, empty, unreadable (naming the reason), holding pickled
            code (naming it, never running it), or corrupt.
    """
    path = Path(path)
    if not path.exists():
        raise error(f"{what} not found: {path}")
    if not path.is_file():
        raise error(f"not a {what}: {path}")
    try:
        if path.stat().st_size == 0:
            raise error(f"{what} {path.name} is empty (0 bytes)")
        with open(path, "rb") as f, warnings.catch_warnings():
            # torch warns about pickle protocols it did not write; the refusal says enough.
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(f, map_location="cpu", weights_only=True)
    except error:
        raise
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {describe_os_error(exc)}") from None
    except Exception:  # noqa: BLE001 - classified by reading the file, not the message
        # torch raises UnpicklingError, RuntimeError, EOFError, KeyError, ... for a bad file;
        # which one, and its text, changes between releases. The file itself says which case.
        code = pickled_code_in(path)
        if code:
            shown = ", ".join(code[:3]) + (f" and {len(code) - 3} more" if len(code) > 3 else "")
            raise error(f"{what} {path.name}: this file contains pickled code ({shown}): refused") from None
        raise error(f"{path.name} is not a PyTorch {what} (corrupt or truncated)") from None


def validate_state_dict(
    state: Any, source_name: str, model: nn.Module | None = None
) -> dict[str, torch.Tensor]:
    """Check that ``state`` is plain tensors by name, floating point and finite.

    Shared by every loader (weight files, torchvision's cache, checkpoints, shipped weights).
    Integer buffers are allowed where the model has them (BatchNorm's
    ``num_batches_tracked``, a model's integer index buffers): given ``model``, a tensor
    must have a floating dtype where the model's is floating and exactly the model's dtype
    elsewhere; without it, integer tensors pass and complex or bool ones do not.

    Args:
        state: what a file held (already unwrapped from a checkpoint).
        source_name: how the file is named in messages.
        model: the model it is meant for, if known.

    Returns:
        ``state`` as a plain dict.

    Raises:
        ModelError: not tensors by name, or naming the first tensor of the wrong kind (not
            floating point where the model's is) or holding NaN or infinity.
    """
    if not isinstance(state, Mapping) or not state or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ModelError(f"{source_name} holds no state dict (expected tensors by parameter name)")
    expected = model.state_dict() if model is not None else {}
    for key, tensor in state.items():
        if tensor.layout != torch.strided or tensor.is_quantized:
            raise ModelError(f"{source_name}: tensor {key} is stored {tensor.layout}, not as a plain tensor: refused")
        want = expected.get(key)
        if want is not None and not want.dtype.is_floating_point:
            if tensor.dtype != want.dtype:
                raise ModelError(f"{source_name}: tensor {key} is {tensor.dtype}, the model's is {want.dtype}: refused")
            continue
        integer = not tensor.dtype.is_floating_point and not tensor.dtype.is_complex and tensor.dtype != torch.bool
        if want is None and integer:
            continue  # an integer buffer of a model not at hand: nothing to be non-finite
        if not tensor.dtype.is_floating_point:
            raise ModelError(f"{source_name}: tensor {key} is {tensor.dtype}, not floating point: refused")
        if not bool(torch.isfinite(tensor).all()):
            raise ModelError(f"{source_name}: tensor {key} holds NaN or infinite values: refused")
    return dict(state)
