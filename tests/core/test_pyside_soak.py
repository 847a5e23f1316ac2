"""PySide6-Essentials 6.12.0 on Python 3.11 drops a reference to None on every Qt call that
returns nothing; after a few thousand calls Python aborts ("deallocating None"). The soak
runs in a subprocess so a broken release fails this test instead of killing the suite."""

import subprocess
import sys
import textwrap

SOAK = textwrap.dedent(
    """
    import sys
    from PySide6.QtGui import QPainterPath
    from PySide6.QtWidgets import QApplication, QGraphicsRectItem
    app = QApplication([])
    item = QGraphicsRectItem(0, 0, 10, 10)
    path = QPainterPath()
    before = sys.getrefcount(None)
    for i in range(50_000):
        item.setPos(i, i)          # void
        path.moveTo(i, 0)          # void
    after = sys.getrefcount(None)
    print(before, after)
    """
)


def test_void_qt_calls_keep_none_alive():
    result = subprocess.run(
        [sys.executable, "-c", SOAK],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, f"soak process died: {result.stderr[-2000:]}"
    before, after = map(int, result.stdout.split()[-2:])
    # 100,000 void calls: a leaky binding would lose 100,000 references (or abort first).
    assert after >= before - 100, (before, after)
