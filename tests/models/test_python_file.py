"""A user's network from a Python file: trust first, ast without running, one-line errors."""

from __future__ import annotations

import json
import pickle
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from explorer.errors import ModelError
from explorer.models import python_file as pf
from explorer.settings import config_dir

RESIDUAL_NET = '''
import torch
from torch import nn


class Stem(nn.Module):
    def __init__(self, width=8):
        super().__init__()
        self.conv = nn.Conv2d(1, width, 3, padding=1)

    def forward(self, x):
        return torch.relu(self.conv(x))


class TwoPathNet(Stem):
    """Not in our zoo: a residual add, then two branches joined with torch.cat."""

    def __init__(self, width, depth, *, classes=10):
        super().__init__(width)
        self.body = nn.Sequential(*[nn.Conv2d(width, width, 3, padding=1) for _ in range(depth)])
        self.left = nn.Conv2d(width, width, 1)
        self.right = nn.Conv2d(width, width, 3, padding=1)
        self.bn = nn.BatchNorm2d(2 * width)
        self.head = nn.Linear(2 * width, classes)

    def forward(self, x):
        x = super().forward(x)
        x = x + self.body(x)
        x = torch.cat([self.left(x), self.right(x)], dim=1)
        return self.head(self.bn(x).mean(dim=(2, 3)))


class Fixed(TwoPathNet):
    def __init__(self):
        super().__init__(4, 1)


def helper():
    return 1
'''


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def assert_one_line(message: str, name: str) -> None:
    assert "\n" not in message and name in message, message


def error(path, *args, expect=ModelError) -> str:
    with pytest.raises(expect) as info:
        pf.build_model(path, *args)
    assert_one_line(str(info.value), Path(path).name)
    return str(info.value)


@pytest.fixture(autouse=True)
def fresh_process_trust():
    pf._forget_in_process()
    yield
    pf._forget_in_process()
    for name in ("user_blocks", "user_blocks_b"):
        sys.modules.pop(name, None)


@pytest.fixture
def net(tmp_path) -> Path:
    return write(tmp_path, "net.py", RESIDUAL_NET)


def test_builds_a_residual_net_with_cat_in_eval_mode(net):
    pf.trust(net)
    model = pf.build_model(net, "TwoPathNet", {"width": 6, "depth": 2})
    assert isinstance(model, nn.Module) and not model.training
    x = torch.randn(2, 1, 12, 12)
    assert model(x).shape == (2, 10)
    traced = torch.fx.symbolic_trace(model)
    assert any(node.target is torch.cat for node in traced.graph.nodes)
    torch.testing.assert_close(traced(x), model(x))
    copy = pickle.loads(pickle.dumps(model))  # the class is found through sys.modules
    torch.testing.assert_close(copy(x), model(x))
    assert type(model).__module__.startswith(pf.MODULE_PREFIX)
    assert pf.build_model(net, "Fixed")(x).shape == (2, 10)


def test_ast_reads_classes_and_arguments_in_file_order(net):
    assert pf.model_classes(net) == ["Stem", "TwoPathNet", "Fixed"]
    assert pf.class_parameters(net, "TwoPathNet") == ["width", "depth"]
    assert pf.class_parameters(net, "Stem") == []
    assert pf.class_parameters(net, "Fixed") == []
    aliases = write(net.parent, "aliases.py", """
        import torch.nn as tnn
        import torch
        from torch.nn import Module
        class A(torch.nn.Module): pass
        class B(tnn.Module):
            def __init__(self, a, /, b, *rest, c, d=1, **more): pass
        class C(Module): pass
        class D(B): pass
        class Plain: pass
        class E(tnn.Sequential): pass
    """)
    assert pf.model_classes(aliases) == ["A", "B", "C", "D", "E"]
    assert pf.class_parameters(aliases, "B") == ["a", "b", "c"]
    assert pf.class_parameters(aliases, "D") == ["a", "b", "c"]


def test_nothing_runs_until_trusted(tmp_path):
    marker = tmp_path / "ran.txt"
    path = write(tmp_path, "evil.py", f"""
        from pathlib import Path
        Path({str(marker)!r}).write_text("ran")
        from torch import nn
        class Net(nn.Module):
            def __init__(self, width): super().__init__()
    """)
    assert pf.model_classes(path) == ["Net"]
    assert pf.class_parameters(path, "Net") == ["width"]
    assert not pf.is_trusted(path)
    message = error(path, "Net", {"width": 1}, expect=pf.UntrustedCode)
    assert "not been trusted" in message
    assert not marker.exists()
    assert not any(name.startswith(pf.MODULE_PREFIX) and getattr(m, "__file__", "") == str(path.resolve())
                   for name, m in list(sys.modules.items()))
    pf.allow_in_process(path)
    pf.build_model(path, "Net", {"width": 1})
    assert marker.read_text() == "ran"
    assert not (config_dir() / pf.STORE_NAME).exists()  # the CLI's allowance is not stored


def test_trust_store_persists_and_an_edit_revokes(net):
    assert not pf.is_trusted(net)
    pf.trust(net)
    pf._forget_in_process()  # a fresh process reads the store
    assert pf.is_trusted(net)
    store = json.loads((config_dir() / pf.STORE_NAME).read_text())
    entry = store[pf.file_hash(net)]
    assert entry["path"] == str(net.resolve()) and entry["trusted_at"]
    net.write_text(net.read_text() + "\nprint('changed')\n")
    assert not pf.is_trusted(net)
    error(net, "Fixed", expect=pf.UntrustedCode)


def test_process_allowance_is_not_remembered(net):
    pf.allow_in_process(net)
    assert pf.is_trusted(net)
    pf._forget_in_process()
    assert not pf.is_trusted(net)


@pytest.mark.parametrize("damage", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_a_damaged_store_reads_as_empty(net, damage):
    store = config_dir() / pf.STORE_NAME
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_bytes(damage)
    with pytest.warns(UserWarning, match="trust store"):
        assert not pf.is_trusted(net)
    pf.trust(net)  # writes a fresh store, keeping the damaged one aside
    pf._forget_in_process()
    assert pf.is_trusted(net)
    assert store.with_name(pf.STORE_NAME + ".bad").read_bytes() == damage


def test_same_file_reuses_its_module_and_an_edit_imports_afresh(net):
    pf.trust(net)
    first = pf.build_model(net, "Fixed")
    assert type(pf.build_model(net, "Fixed")) is type(first)
    net.write_text(net.read_text().replace("classes=10", "classes=3"))
    pf.trust(net)
    second = pf.build_model(net, "Fixed")
    assert type(second) is not type(first)
    assert second(torch.randn(1, 1, 8, 8)).shape == (1, 3)


def test_a_sibling_module_is_importable_and_the_folder_leaves_sys_path(tmp_path):
    write(tmp_path, "user_blocks.py", """
        from torch import nn
        class Block(nn.Sequential):
            def __init__(self, c):
                super().__init__(nn.Conv2d(c, c, 3, padding=1), nn.ReLU())
    """)
    path = write(tmp_path, "net.py", """
        from torch import nn
        from user_blocks import Block
        class Net(nn.Module):
            def __init__(self, c=3):
                super().__init__()
                self.block = Block(c)
            def forward(self, x):
                return x + self.block(x)
    """)
    pf.trust(path)
    model = pf.build_model(path, "Net")
    assert model(torch.zeros(1, 3, 4, 4)).shape == (1, 3, 4, 4)
    assert str(tmp_path) not in sys.path and str(tmp_path.resolve()) not in sys.path
    # An edited sibling is read again with the next fresh import of the file.
    write(tmp_path, "user_blocks.py", """
        from torch import nn
        class Block(nn.Identity):
            def __init__(self, c):
                super().__init__()
    """)
    path.write_text(path.read_text() + "\n# edited\n")
    pf.trust(path)
    assert isinstance(pf.build_model(path, "Net").block, nn.Identity)


def test_import_errors_name_the_file_type_and_line(tmp_path):
    raises = write(tmp_path, "net.py", "import torch\n\nx = 1 / 0\n")
    pf.trust(raises)
    assert error(raises, "Net") == "net.py raises on import: ZeroDivisionError: division by zero (line 3)"
    broken = write(tmp_path, "broken.py", "from torch import nn\n\nclass Net(nn.Module)\n    pass\n")
    pf.trust(broken)
    message = error(broken, "Net")
    assert message.startswith("broken.py has a syntax error at line 3:")
    with pytest.raises(ModelError, match="syntax error at line 3"):
        pf.model_classes(broken)
    multi = write(tmp_path, "multi.py", "raise RuntimeError('first line\\nsecond line')\n")
    pf.trust(multi)
    assert error(multi, "Net") == "multi.py raises on import: RuntimeError: first line (line 1)"
    exits = write(tmp_path, "exits.py", "import sys\nsys.exit(3)\n")
    pf.trust(exits)
    assert error(exits, "Net") == "exits.py raises on import: SystemExit: 3 (line 2)"
    write(tmp_path, "user_blocks_b.py", "def broken(:\n")
    uses = write(tmp_path, "uses.py", "import os\nfrom user_blocks_b import broken\n")
    pf.trust(uses)
    assert "user_blocks_b.py line 1 (line 2)" in error(uses, "Net")


def test_path_errors(tmp_path):
    assert "no such file" in error(tmp_path / "missing.py", "Net")
    folder = tmp_path / "folder.py"
    folder.mkdir()
    assert "is a folder" in error(folder, "Net")
    text = write(tmp_path, "net.txt", "class Net: pass\n")
    assert "not a Python file" in error(text, "Net")
    for call in (pf.model_classes, pf.is_trusted, pf.file_hash):
        with pytest.raises(ModelError, match="no such file"):
            call(tmp_path / "missing.py")


def test_class_errors(net):
    pf.trust(net)
    assert error(net, "Foo") == "net.py has no class Foo; its model classes: Stem, TwoPathNet, Fixed"
    assert error(net, "helper").startswith("helper in net.py is not an nn.Module subclass (it is a function)")
    assert error(net, "torch").startswith("torch in net.py is not an nn.Module subclass")
    with pytest.raises(ModelError, match="net.py has no class Foo; its model classes: Stem"):
        pf.class_parameters(net, "Foo")


def test_argument_errors(net):
    pf.trust(net)
    assert error(net, "TwoPathNet") == (
        "TwoPathNet in net.py needs arguments width, depth: "
        "give them with --model-args '{\"width\": ..., \"depth\": ...}'"
    )
    assert error(net, "TwoPathNet", {"width": 4}).endswith(
        "needs argument depth: give it with --model-args '{\"depth\": ...}'"
    )
    assert error(net, "TwoPathNet", {"width": 4, "depth": 1, "wide": 2}) == (
        "TwoPathNet in net.py has no argument named wide; it accepts: width, depth, classes"
    )
    assert error(net, "Fixed", {"width": 2}).endswith("it takes no arguments")
    assert "must be a JSON object" in error(net, "Fixed", [1, 2])
    assert "must be a JSON object" in error(net, "Fixed", "{}")


def test_constructor_errors(tmp_path):
    path = write(tmp_path, "ctor.py", """
        import inspect
        from torch import nn
        class Raises(nn.Module):
            def __init__(self, width=1):
                super().__init__()
                raise ValueError(f"width {width} is too small\\nuse at least 8")

        class BadType(nn.Module):
            def __init__(self):
                super().__init__()
                len(5)

        class NotModule(nn.Module):
            def __new__(cls):
                return 42

        class Loose(nn.Module):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)

        class Liar(nn.Module):
            # claims to take anything, so only the call itself can refuse
            __signature__ = inspect.Signature([inspect.Parameter("kw", inspect.Parameter.VAR_KEYWORD)])
            def __init__(self):
                super().__init__()
    """)
    pf.trust(path)
    assert error(path, "Raises", {"width": 2}) == (
        "Raises in ctor.py raises when built: ValueError: width 2 is too small (line 7)"
    )
    assert error(path, "BadType") == (
        "BadType in ctor.py raises when built: TypeError: object of type 'int' has no len() (line 12)"
    )
    assert error(path, "NotModule") == (
        "NotModule in ctor.py built an object of type int, not an nn.Module"
    )
    # nn.Module.__init__ refuses the keyword, called from the user's line 20
    assert error(path, "Loose", {"anything": 1}) == (
        "Loose in ctor.py raises when built: "
        "TypeError: Loose.__init__() got an unexpected keyword argument 'anything' (line 20)"
    )
    assert error(path, "Liar", {"anything": 1}).startswith(
        "Liar in ctor.py does not take these arguments: "
    )
