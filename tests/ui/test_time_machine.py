"""The time machine in the window: scrubbing replays an epoch's maps, kernels and top-5;
keys move the scrubber; during a run it follows the newest epoch unless moved; the layer
histograms have one column per epoch; a confusion-matrix cell lists exactly its images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from torch import nn

from explorer.activations.samples import FashionTestImages
from explorer.explain.replay import EpochReplay
from explorer.session import Session
from explorer.train import EpochMetrics, RunHistory, RunStarted, TrainConfig, Trainer, load_fashion_mnist
from explorer.train.snapshots import SnapshotStore, snapshot_folder
from explorer.ui.training.time_machine import TimeMachineView

CONFIG = dict(model="lenet_small", epochs=3, batch_size=32, lr=3e-3, optimizer="adam", device="cpu", width_mult=0.5)


def trainer_for(root, folder, name="run", epochs=3) -> Trainer:
    torch.set_num_threads(1)
    data = load_fashion_mnist(root, "cpu", val_fraction=0.0)
    return Trainer(TrainConfig(**{**CONFIG, "epochs": epochs}), data=data, history=RunHistory(folder / "runs"),
                   checkpoint_path=folder / f"{name}.pt")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_fashion_root):
    """A finished 3-epoch run on the tiny set: (checkpoint, run id)."""
    folder = tmp_path_factory.mktemp("tm-run")
    trainer = trainer_for(tiny_fashion_root, folder)
    for _ in trainer.run():
        pass
    return str(folder / "run.pt"), trainer.record.run_id


@pytest.fixture
def session(tiny_fashion_root):
    session = Session()
    session.set_image(FashionTestImages(tiny_fashion_root).load(3))
    return session


@pytest.fixture
def view(qtbot, session, tiny_fashion_root):
    widget = TimeMachineView(session, data_dir=lambda: str(tiny_fashion_root))
    qtbot.addWidget(widget)
    widget.resize(1300, 800)
    widget.show()
    yield widget
    widget.close_view()


def settle(qtbot, view, epoch):
    qtbot.waitUntil(lambda: view.last_frame_epoch == epoch and not view.busy, timeout=30_000)


def shown(view):
    """The maps, the kernels and the top-5 probabilities on screen."""
    table = view.top5.top5_table
    return (view.maps.item.image.copy(), view.kernels.item.image.copy(),
            [table.item(r, 1).text() for r in range(5)])


def test_scrubbing_replays_each_epoch_and_keys_move_it(qtbot, view, trained):
    checkpoint, run_id = trained
    view.show_run(checkpoint, run_id)
    settle(qtbot, view, 3)  # a finished run opens at its newest epoch
    assert view.epochs == [0, 1, 2, 3] and view.epoch_label.text() == "epoch 3 / 3"
    newest = shown(view)
    view.slider.setValue(0)
    settle(qtbot, view, 0)
    start = shown(view)
    assert view.epoch_label.text() == "epoch 0 / 3"
    assert not np.array_equal(start[0], newest[0])  # the maps follow the weights
    assert not np.array_equal(start[1], newest[1])  # the first layer's kernels too
    assert start[2] != newest[2]  # and the top-5
    assert "untrained" in view.top5.note.text()  # epoch 0 is the starting weights
    view.slider.setFocus()
    qtbot.keyClick(view.slider, Qt.Key.Key_Right)
    settle(qtbot, view, 1)
    qtbot.keyClick(view.slider, Qt.Key.Key_End)
    settle(qtbot, view, 3)
    assert np.array_equal(shown(view)[0], newest[0])  # the same epoch replays the same maps
    qtbot.keyClick(view.slider, Qt.Key.Key_Home)
    settle(qtbot, view, 0)
    assert view.last_redraw_ms is not None and view.last_redraw_ms > 0


def test_the_node_is_the_sessions_when_the_run_has_it(qtbot, view, session, trained):
    checkpoint, run_id = trained
    convs = [name for name, m in EpochReplay(checkpoint).model.named_modules() if isinstance(m, nn.Conv2d)]
    view.show_run(checkpoint, run_id)
    settle(qtbot, view, 3)
    # No node chosen (or another model's): the first convolution's maps.
    assert f"maps at {convs[0].replace('.', '_')} " in view.maps_label.text()
    session.set_node(convs[1])
    qtbot.waitUntil(lambda: f"maps at {convs[1].replace('.', '_')} " in view.maps_label.text(), timeout=30_000)
    session.set_node("not_in_this_model")
    qtbot.waitUntil(lambda: f"maps at {convs[0].replace('.', '_')} " in view.maps_label.text(), timeout=30_000)


def test_layer_histograms_have_one_column_per_epoch(qtbot, view, trained):
    checkpoint, run_id = trained
    with qtbot.waitSignal(view.loaded, timeout=30_000):
        view.show_run(checkpoint, run_id)
    history = view.history
    assert history.layer_combo.count() > 2
    heat = history.heat_data()
    assert heat.epochs == [1, 2, 3] and heat.counts.shape[0] == 3
    assert history.heat.image.shape[1] == 3  # drawn: value bins down, epochs across
    # Each column holds every weight of the layer once.
    weights = SnapshotStore(snapshot_folder(checkpoint)).load_weights(3)[history.layer]
    assert heat.counts.sum(axis=1) == pytest.approx([weights.numel()] * 3)
    history.layer_combo.setCurrentIndex(2)
    other = SnapshotStore(snapshot_folder(checkpoint)).load_weights(3)[history.layer]
    assert history.heat_data().counts.sum(axis=1) == pytest.approx([other.numel()] * 3)
    x, y = history._grad.getData()
    assert list(x) == [1, 2, 3] and all(v > 0 for v in y)  # the chosen layer's gradient norms


def test_a_confusion_cell_lists_exactly_its_test_images(qtbot, view, trained, tiny_fashion_root):
    checkpoint, run_id = trained
    view.show_run(checkpoint, run_id)
    settle(qtbot, view, 3)
    view.slider.setValue(2)  # epoch 2
    settle(qtbot, view, 2)
    record = SnapshotStore(snapshot_folder(checkpoint)).load_record(2)
    labels, predictions = np.array(record["labels"]), np.array(record["predictions"])
    confusion = np.array(record["confusion"])
    assert np.array_equal(view.confusion.matrix(), confusion)
    wrong = np.argwhere(confusion - np.diag(np.diag(confusion)) > 0)
    true_class, predicted = (int(v) for v in (wrong[0] if len(wrong) else (0, 0)))
    qtbot.mouseClick(view.confusion, Qt.MouseButton.LeftButton, pos=view.confusion.cell_center(true_class, predicted))
    expected = np.flatnonzero((labels == true_class) & (predictions == predicted)).tolist()
    assert view.cell == (true_class, predicted) and view.cell_indices == expected
    assert view.cell_images.count == len(expected) > 0
    assert f"{len(expected)} test images" in view.cell_images.title
    # The thumbnails are those test images.
    test_set = FashionTestImages(tiny_fashion_root)
    assert all(test_set.label(i) == true_class for i in view.cell_indices)
    # Another epoch keeps the cell and lists its images at that epoch.
    view.slider.setValue(3)
    settle(qtbot, view, 3)
    record = SnapshotStore(snapshot_folder(checkpoint)).load_record(3)
    pairs = zip(record["labels"], record["predictions"], strict=True)
    assert view.cell_indices == [i for i, (t, p) in enumerate(pairs) if (t, p) == (true_class, predicted)]


def test_during_a_run_it_follows_the_newest_epoch_unless_moved(qtbot, view, session, tiny_fashion_root, tmp_path):
    trainer = trainer_for(tiny_fashion_root, tmp_path, "live", epochs=4)
    run = session.training
    for event in trainer.run():
        if isinstance(event, RunStarted):
            run.start(event.config.model, event.config, run_id=event.run_id, checkpoint=event.checkpoint)
            assert "waiting for the first epoch" in view.title.text()
        elif isinstance(event, EpochMetrics):
            run.record_epoch(event.epoch, event, event.checkpoint)
            if event.epoch in (1, 2):
                settle(qtbot, view, event.epoch)  # follows the newest
                assert view.following and view.slider.maximum() == event.epoch
            if event.epoch == 2:
                view.slider.setValue(1)  # the user goes back to epoch 1
                settle(qtbot, view, 1)
                assert not view.following
            if event.epoch == 3:
                qtbot.waitUntil(lambda: view.epochs == [0, 1, 2, 3] and not view.busy, timeout=30_000)
                assert view.epoch == 1 and view.epoch_label.text() == "epoch 1 / 3"  # stays where moved
                view.slider.setValue(view.slider.maximum())  # back to the newest: follows again
                settle(qtbot, view, 3)
                assert view.following
            if event.epoch == 4:
                settle(qtbot, view, 4)
    assert view.epoch == 4 and view.epochs == [0, 1, 2, 3, 4]


def test_open_epoch_in_explorer_sets_the_sessions_weights(qtbot, view, session, trained):
    checkpoint, run_id = trained
    view.show_run(checkpoint, run_id)
    settle(qtbot, view, 3)
    view.slider.setValue(1)
    settle(qtbot, view, 1)
    qtbot.mouseClick(view.open_button, Qt.MouseButton.LeftButton)
    weights = session.weights
    assert session.model_name == "lenet_small"
    assert (weights.kind, weights.path, weights.run_id, weights.epoch) == ("run", checkpoint, run_id, 1)


def test_the_view_fits_beside_the_recipe_form_without_scrolling_sideways(view):
    # A 1440 px window leaves the Training tab's pages about 650 px beside the form; the
    # merged view once needed 830 and scrolled its plots out of sight.
    assert view.minimumSizeHint().width() <= 640


def _on(widget, parent):
    from PySide6.QtCore import QPoint, QRect

    return QRect(widget.mapTo(parent, QPoint(0, 0)), widget.size())


# 560: the Training tab's page beside the form in a 1024 px window (the view scrolls there);
# 920: just wide enough for the plots beside the replay; 1300: a wide window.
@pytest.mark.parametrize("size", [(560, 1000), (920, 700), (1300, 800)])
def test_at_epoch_0_the_untrained_note_sits_under_the_top5(qtbot, view, trained, size):
    """The walk found the "untrained weights" note drawn over the top-5 at epoch 0."""
    checkpoint, run_id = trained
    view.resize(*size)
    view.show_run(checkpoint, run_id)
    settle(qtbot, view, 3)
    view.slider.setValue(0)
    settle(qtbot, view, 0)
    box, note, table = view.top5, view.top5.note, view.top5.top5_table
    assert note.text().startswith("untrained weights")

    def apart() -> bool:
        return (_on(note, box).top() > _on(table, box).bottom() and note.height() >= note.heightForWidth(note.width())
                and _on(note, box).bottom() <= box.height())

    qtbot.waitUntil(apart, timeout=5000)
    assert table.item(4, 0) is not None and not _on(note, box).intersects(_on(table, box))


@pytest.mark.parametrize("width", [220, 260, 320, 600])
def test_the_confusion_matrix_draws_its_labels_whole(qtbot, width):
    """The walk found the axis label ("predicted class …") cut at both ends in a narrow
    column: drawn in the grid's width, it was wider than the grid."""
    from explorer.ui.training.views import ConfusionMatrixView

    matrix = ConfusionMatrixView()
    qtbot.addWidget(matrix)
    matrix.resize(width, 300)
    matrix.set_matrix(np.eye(10, dtype=int) * 20, epoch=3)
    matrix.show()
    metrics = matrix.fontMetrics()
    _, top, cell = matrix._layout()
    for name, (rect, text) in matrix.texts().items():
        assert matrix.rect().contains(rect), (name, rect, matrix.rect())
        assert metrics.horizontalAdvance(text) <= rect.width(), (name, text, rect)
    axis_rect, axis_text = matrix.texts()["axis"]
    assert axis_rect.top() >= top + 10 * cell  # under the grid, not over it
    if width >= 260:
        assert axis_text == "predicted class (0-9 as the rows) →"
    full = "Confusion matrix (test), epoch 3: accuracy 1.000"
    fits = metrics.horizontalAdvance(full) + 4 <= width
    assert matrix.texts()["title"][1] == (full if fits else "Epoch 3: acc. 1.000")


def test_the_plots_tick_whole_epochs_and_fit_their_column(qtbot, view, trained):
    """The walk found the histogram's epoch axis at 0.5, 1.5, …; and beside the replay the
    plots were wider than their column, cut off on the right."""
    from PySide6.QtCore import Qt

    checkpoint, run_id = trained
    view.resize(1300, 800)
    view.show_run(checkpoint, run_id)
    settle(qtbot, view, 3)
    history = view.history
    for plot in (history.heat_plot, history.metric_plot, history.dead_plot):
        axis = plot.getAxis("bottom")
        lo, hi = plot.viewRange()[0]
        ticks = [v for _, values in axis.tickValues(lo, hi, axis.width()) for v in values]
        assert {1.0, 2.0, 3.0} <= set(ticks) and all(float(v).is_integer() for v in ticks), ticks
    needed = history.plots.ci.effectiveSizeHint(Qt.SizeHint.MinimumSize).width()
    assert needed <= history.plots.viewport().width()
