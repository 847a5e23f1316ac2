"""The three training curves fit the room a 1024 px window leaves them."""

from __future__ import annotations

from PySide6.QtCore import Qt

from explorer.ui.training.curves import TrainingCurves


def test_the_three_plots_fit_a_1024_px_window(qtbot):
    curves = TrainingCurves()
    qtbot.addWidget(curves)
    # Beside the recipe form and the models dock a 1024 px window leaves the curves ~450 px;
    # a long plot title once made their minimum 510 and cut the learning-rate plot off.
    assert curves.ci.effectiveSizeHint(Qt.SizeHint.MinimumSize).width() <= 440


def test_the_accuracy_legend_sits_under_the_plots_not_on_them(qtbot):
    curves = TrainingCurves()
    qtbot.addWidget(curves)
    curves.add_overlay("run-1", [1, 2], [0.5, 0.6], "my run")
    for width in (450, 900):
        curves.resize(width, 240)
        curves.show()
        qtbot.waitExposed(curves)
        legend = curves.acc_plot.legend
        box = legend.sceneBoundingRect()
        for plot in (curves.loss_plot, curves.acc_plot, curves.lr_plot):
            assert not box.intersects(plot.sceneBoundingRect()), (width, plot)
        assert box.left() >= 0 and box.right() <= width  # whole, not cut off
        names = [label.text for _sample, label in legend.items]
        assert names == ["train", "validation", "test", "my run"]  # overlays join it
    curves.remove_overlay("run-1")
    assert [label.text for _sample, label in curves.acc_plot.legend.items] == ["train", "validation", "test"]


def test_the_epoch_axes_tick_whole_epochs_before_and_after_a_run(qtbot):
    """Before any run the walk saw epochs 0.2, 0.4 … and 0.8 1.0 1.2 crowded together."""
    curves = TrainingCurves()
    qtbot.addWidget(curves)
    curves.resize(900, 240)
    curves.show()
    qtbot.waitExposed(curves)
    for plot in (curves.loss_plot, curves.acc_plot, curves.lr_plot):
        axis = plot.getAxis("bottom")
        lo, hi = plot.viewRange()[0]
        ticks = [v for _, values in axis.tickValues(lo, hi, axis.width()) for v in values]
        assert ticks and all(float(v).is_integer() for v in ticks), (plot, ticks)
