"""No view keeps its own copy of the model's identity, its weights or the image.

The session holds the selection, the loaded model and the image; views read them when they
draw. A copy kept on a view goes stale the moment the session changes (the bug that showed
one model's maps under another's graph), so any attribute of a UI object set from one of
those session values fails here, wherever in ``explorer/ui`` it is written.
"""

from __future__ import annotations

import ast
from pathlib import Path

import explorer

UI = Path(explorer.__file__).parent / "ui"
#: What the session owns and views must only read.
OWNED = {"loaded", "module", "weights", "image", "model_name", "selection", "knockouts", "image_label"}
#: Calls that measure a value rather than keep it.
MEASURES = {"len", "bool", "id", "isinstance", "str"}
#: Not views: the loader queues the selection it is asked to load.
LOADERS = {"module_builder.py"}


def _owned(node: ast.AST) -> str | None:
    """X when ``node`` is ``session.X`` or ``self.session.X`` with X owned by the session."""
    if isinstance(node, ast.Attribute) and node.attr in OWNED:
        base = node.value
        if (isinstance(base, ast.Name) and base.id in ("session", "s")) or (
                isinstance(base, ast.Attribute) and base.attr in ("session", "_session")):
            return node.attr
    return None


def _reads_owned(value: ast.AST) -> str | None:
    """The owned value ``value`` is, or holds directly (a tuple of it, a call made with it:
    ``Wish(session.loaded, ...)``); a value merely computed from it is not a copy."""
    parts = [value]
    if isinstance(value, (ast.Tuple, ast.List)):
        parts += value.elts
    if isinstance(value, ast.Call) and not (isinstance(value.func, ast.Name) and value.func.id in MEASURES):
        parts += value.args + [k.value for k in value.keywords]
    return next((found for part in parts if (found := _owned(part))), None)


def _copies(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        # Any object's attribute: ``self._model = ...`` as well as ``wish.model = ...``.
        kept = [t for t in targets for t in ast.walk(t) if isinstance(t, ast.Attribute) and _owned(t) is None
                and not (isinstance(t.value, ast.Name) and t.value.id == "session")]
        owned = _reads_owned(node.value)
        if kept and owned and path.name not in LOADERS:
            found.append(f"{path.relative_to(UI.parent.parent)}:{node.lineno}: {ast.unparse(kept[0])} = session.{owned}")
    return found


def test_no_ui_object_keeps_a_copy_of_what_the_session_owns():
    copies = [line for path in sorted(UI.rglob("*.py")) for line in _copies(path)]
    assert not copies, "views keep copies of session state:\n" + "\n".join(copies)


def test_the_check_sees_a_copy():
    source = ("class V:\n    def f(self, session, wish):\n        self._model = (session.module, 1)\n"
              "        wish.model = session.module\n        self.n = len(session.knockouts)\n")
    tmp = UI / "_probe_copy.py"
    tmp.write_text(source, encoding="utf-8")
    try:
        assert [line.split(": ", 1)[1] for line in _copies(tmp)] == [
            "self._model = session.module", "wish.model = session.module"]
    finally:
        tmp.unlink()
