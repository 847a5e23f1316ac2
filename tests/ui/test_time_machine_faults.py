"""The time machine with a damaged epoch summary (issue 17): the run still opens, the
damaged epoch is skipped and the title says so; scrubbing onto it draws no confusion
matrix instead of raising in a GUI handler."""

from __future__ import annotations

import json

import pytest
import torch

from explorer.session import Session
from explorer.train import RunHistory, TrainConfig, Trainer, load_fashion_mnist
from explorer.train.snapshots import snapshot_folder
from explorer.ui.training.time_machine import TimeMachineView


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_fashion_root):
    """A finished 3-epoch run on the tiny set whose epoch 1 summary is then cut short
    (not JSON) and whose epoch 2 summary has a ragged confusion matrix and fewer
    predictions than labels."""
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("tm-faults")
    data = load_fashion_mnist(tiny_fashion_root, "cpu", val_fraction=0.0)
    config = TrainConfig(model="lenet_small", epochs=3, batch_size=64, lr=3e-3, optimizer="adam", device="cpu",
                         width_mult=0.5)
    trainer = Trainer(config, data=data, history=RunHistory(folder / "runs"), checkpoint_path=folder / "run.pt")
    for _ in trainer.run():
        pass
    summary = snapshot_folder(folder / "run.pt") / "epoch-0002.json"
    record = json.loads(summary.read_text())
    record["confusion"] = [[1, 2], [3]]
    record["predictions"] = record["predictions"][:5]
    summary.write_text(json.dumps(record))
    cut = summary.with_name("epoch-0001.json")
    cut.write_bytes(cut.read_bytes()[:100])
    return str(folder / "run.pt"), trainer.record.run_id


def test_a_damaged_epoch_is_skipped_and_the_run_still_opens(qtbot, trained, tiny_fashion_root):
    from explorer.activations.samples import FashionTestImages

    session = Session()
    session.set_image(FashionTestImages(tiny_fashion_root).load(3))
    view = TimeMachineView(session, data_dir=lambda: str(tiny_fashion_root))
    qtbot.addWidget(view)
    view.show()
    try:
        checkpoint, run_id = trained
        view.show_run(checkpoint, run_id)
        qtbot.waitUntil(lambda: view.last_frame_epoch == 3 and not view.busy, timeout=30_000)
        title = view.title.text()
        assert "loading" not in title and "damaged summary of epoch 1, 2 skipped" in title
        assert set(view.history._summaries) == {3}  # the other epochs' layer history still shows
        assert view.epochs == [0, 1, 2, 3]  # its weights still replay
        view.slider.setValue(2)
        qtbot.waitUntil(lambda: view.last_frame_epoch == 2 and not view.busy, timeout=30_000)
        assert view._record is None  # nothing damaged reaches the drawing code
        assert "damaged" in view.confusion._title
        view.show_cell(0, 0)  # a click on the (cleared) matrix does nothing
        assert view.cell is None
    finally:
        view.close_view()
