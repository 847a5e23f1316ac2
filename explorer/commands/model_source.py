"""The model argument every command shares: a zoo or torchvision name, a ``.pt2`` program, or
a class in a Python file, with the options a file cannot give itself.

    cnn-explorer inspect net.py:Net sample --weights net_state.pt --model-args '{"width": 2}'
    cnn-explorer graph convnext_tiny --out convnext.svg
    cnn-explorer explain mynet.pt2 shoe.png --classes labels.txt

Every command loads through :func:`explorer.loading.load_model`, as the window does.
Standard library only at import: parsing must not wait for torch.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from explorer.errors import ModelError

MODEL_HELP = ("a model: a name from `cnn-explorer models`, any torchvision classifier's name "
              "(convnext_tiny), a torch.export program (net.pt2) or a class in a Python file (net.py:Net)")


def add_model_arguments(p: argparse.ArgumentParser, *, weights: bool = True) -> None:
    """Add ``MODEL`` (as ``name``), ``--weights`` and the options of a model of one's own."""
    p.add_argument("name", metavar="MODEL", help=MODEL_HELP)
    if weights:
        p.add_argument("--weights", metavar="FILE|shipped",
                       help="a state dict file, or 'shipped' for a small form's Fashion-MNIST weights "
                            "(default: the model's own: shipped, ImageNet from the cache, the program's, else random)")
    own = p.add_argument_group("a model of your own (.pt2 or file.py:Class)")
    own.add_argument("--model-args", metavar="JSON", help="keyword arguments for the class, a JSON object")
    own.add_argument("--input-size", metavar="CxHxW", help="its input, e.g. 1x28x28 (default: the program's "
                     "example input; for a class, 1x28x28 when its first layer takes 1 channel, else 3x224x224)")
    own.add_argument("--mean", metavar="M[,M,...]", help="per-channel mean its inputs are normalised with")
    own.add_argument("--std", metavar="S[,S,...]", help="per-channel standard deviation")
    own.add_argument("--classes", metavar="FILE", help="its class names, one per line (default: class 0, class 1, ...)")


def model_source(args: argparse.Namespace) -> str:
    """The source string of ``args.name`` with its options. A Python file's code is allowed to
    run, and stderr says so: the user named it on the command line.

    Raises:
        ModelError: an option is malformed or given for a zoo model.
    """
    from explorer.models.sources import is_file_source, make_source, parse_source

    name = args.name
    # make_source's keyword -> the option's attribute on args (its flag, with - for _).
    options = {"model_args": "model_args", "input_shape": "input_size", "mean": "mean", "std": "std",
               "classes": "classes"}
    given = {key: getattr(args, attr) for key, attr in options.items() if getattr(args, attr, None) is not None}
    if not is_file_source(name):
        if given:
            from explorer.models import list_models

            if name in list_models():
                flags = ", ".join("--" + options[key].replace("_", "-") for key in given)
                raise ModelError(f"{flags}: for a model of your own; {name} is a zoo model")
            return make_source(name, **given)
        return name
    source = make_source(name, **given)
    spec = parse_source(source)
    if spec.kind == "python":
        from explorer.models.python_file import allow_in_process, is_trusted

        if not is_trusted(spec.location):
            print(f"note: running the code in {spec.location} (you named it on the command line)", file=sys.stderr)
            allow_in_process(spec.location)
    return source


def weights_choice(text: str | None) -> Any:
    """``--weights`` as a :class:`~explorer.weights_choice.WeightsChoice` (None: the default)."""
    from explorer.weights_choice import WeightsChoice

    if not text:
        return None
    if text == "shipped":
        return WeightsChoice("shipped")
    return WeightsChoice("file", path=text)


def open_model(args: argparse.Namespace) -> Any:
    """The :class:`~explorer.loading.LoadedModel` the command's arguments name.

    Weights the user named that cannot be used are an error here (the window would keep what
    it showed); a default that cannot be had (ImageNet weights not in the cache: the CLI never
    downloads) falls back to random weights, and ``notices`` says so.

    Raises:
        ModelError or another UserError (one line).
    """
    from explorer.loading import load_model

    wanted = weights_choice(getattr(args, "weights", None))
    loaded = load_model(model_source(args), wanted, download=False)
    if wanted is not None and loaded.fallback:
        raise ModelError(loaded.notice.rsplit("; showing random weights", 1)[0])
    return loaded


def notices_of(loaded: Any) -> list[str]:
    """What a command prints about the weights: why they are not the ones wanted, if so."""
    return [loaded.notice] if loaded.fallback or loaded.weights.kind in ("imagenet", "shipped") else []
