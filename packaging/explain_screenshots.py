"""Render the README's screenshots of the "see why" views, off screen, on the small
ResNet-18 with its shipped weights and the built-in sample (an ankle boot).

    PYTHONPATH=. python packaging/explain_screenshots.py [OUT_DIR]

Writes explain-field.png, explain-evidence.png, explain-knockout.png,
explain-top-images.png and explain-readouts.png (default OUT_DIR: packaging/screenshots).
Drives the window through the same methods its clicks call; the top-images view needs
the Fashion-MNIST test split (CNN_EXPLORER_DATA or the settings' data folder).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

MODEL = "resnet18_small"
TRACED = ("layer2_0_conv1", 3, 4)  # node, x, y of the unit traced: a 7x7 map, 25 px field
UPSTREAM = "layer1_0_conv1"  # a 14x14 map upstream: the part the unit sees is outlined
KNOCKOUTS = ("layer2.0:shortcut", "layer3_0_conv1:5")


def _wait(app, done: Callable[[], bool], what: str, timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.01)
    for _ in range(20):  # let the last paints land
        app.processEvents()
        time.sleep(0.01)


def _side_by_side(images: list, gap: int = 8):
    """One picture of ``images`` (QImage or QPixmap) in a row on the window colour."""
    from PySide6.QtGui import QColor, QImage, QPainter

    width = sum(i.width() for i in images) + gap * (len(images) - 1)
    height = max(i.height() for i in images)
    out = QImage(width, height, QImage.Format.Format_RGB32)
    out.fill(QColor("#efefef"))
    painter = QPainter(out)
    x = 0
    for image in images:
        painter.drawImage(x, 0, image.toImage() if hasattr(image, "toImage") else image)
        x += image.width() + gap
    painter.end()
    return out


def main(out_dir: Path) -> int:
    from PySide6.QtWidgets import QApplication

    import pyqtgraph

    from explorer.settings import Settings
    from explorer.ui.main_window import MainWindow

    pyqtgraph.setConfigOptions(imageAxisOrder="row-major", antialias=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow(Settings(), initial_model=MODEL)
    window.resize(1440, 900)
    window.show()
    _wait(app, lambda: window.feature_panel is not None and window.session.module is not None
          and window.feature_panel.settled and window.feature_panel.view_state is not None, "the model")
    panel = window.feature_panel
    out_dir.mkdir(parents=True, exist_ok=True)

    def go(node: str) -> None:
        panel.show_node(node)
        _wait(app, lambda: panel.settled and panel.current_node == node, node)

    # Receptive field: a unit of layer2.0.conv1, then the node upstream that it reads.
    node, x, y = TRACED
    go(node)
    panel.select_channel(0)
    panel.field.trace(panel.view_state, 0, x, y)
    _wait(app, lambda: panel.field.field is not None and not panel.field.busy, "the receptive field")
    traced = panel.grab()
    go(UPSTREAM)
    _wait(app, lambda: panel.field.region is not None, "the upstream region")
    _side_by_side([traced, panel.grab()]).save(str(out_dir / "explain-field.png"))

    # Class evidence: Grad-CAM at the end of layer2, saliency and occlusion for the
    # predicted class (at layer3 this boot's Grad-CAM is negative everywhere: blank).
    go("layer2_1_relu2")
    view = panel.explain_view
    panel.detail_tabs.setCurrentWidget(view)
    shots = []
    for method, opacity in (("gradcam", 55), ("saliency", 70), ("occlusion", 45)):
        view.method_combo.setCurrentIndex(view.method_combo.findData(method))
        view.opacity_slider.setValue(opacity)
        view.refresh()
        _wait(app, lambda method=method: view.evidence is not None and not view.busy
              and view.evidence.attribution.method == method, method)
        shots.append(panel.detail_pages.grab())
    _side_by_side(shots).save(str(out_dir / "explain-evidence.png"))

    # Knockouts: a residual shortcut and one channel, the whole window.
    panel.field.clear()
    panel.detail_tabs.setCurrentWidget(panel.knockout_view)
    window.session.set_knockouts(KNOCKOUTS)
    knock = panel.knockout_view
    _wait(app, lambda: knock.report is not None and not knock.busy
          and tuple(k.spec for k in knock.report.knockouts) == KNOCKOUTS, "the knockout report")
    window.grab().save(str(out_dir / "explain-knockout.png"))
    window.session.set_knockouts(())

    # Top images of the channel shown.
    panel.detail_tabs.setCurrentWidget(panel.top_view)
    top = panel.top_view
    _wait(app, lambda: top.scan is not None and bool(top.shown) and not top.busy, "the top images", timeout_s=600)
    panel.grab().save(str(out_dir / "explain-top-images.png"))

    # Readouts: the colour bar under a mosaic, class probabilities at the output.
    go("layer1_0_conv1")
    mosaic = panel.maps.grab()
    go("output")
    _side_by_side([mosaic, panel.maps.grab()]).save(str(out_dir / "explain-readouts.png"))

    window.close()
    return 0


if __name__ == "__main__":
    default = Path(__file__).resolve().parent / "screenshots"
    raise SystemExit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else default))
