"""The three training curves fit the room a 1024 px window leaves them."""

from __future__ import annotations

from PySide6.QtCore import Qt

from explorer.ui.training_curves import TrainingCurves


def test_the_three_plots_fit_a_1024_px_window(qtbot):
    curves = TrainingCurves()
    qtbot.addWidget(curves)
    # Beside the recipe form and the models dock a 1024 px window leaves the curves ~450 px;
    # a long plot title once made their minimum 510 and cut the learning-rate plot off.
    assert curves.ci.effectiveSizeHint(Qt.SizeHint.MinimumSize).width() <= 440
