"""The Qt-free session: events fire after the state changes, stale modules are refused."""

from __future__ import annotations

from explorer.session import Session, WeightsChoice


def _record(session: Session) -> list[str]:
    seen: list[str] = []
    for name in ("model_changed", "weights_changed", "module_changed", "image_changed", "node_changed"):
        getattr(session, name).connect(lambda s, n=name: seen.append(n))
    return seen


def test_changing_model_resets_module_and_node_and_recalls_weights():
    remembered = {"lenet_small": WeightsChoice("shipped", test_accuracy=0.9)}
    session = Session(recall_weights=remembered.get, remember_weights=remembered.__setitem__)
    seen = _record(session)
    session.set_model("lenet_small")
    assert session.weights == remembered["lenet_small"]
    assert session.set_module("lenet_small", session.weights, object())
    session.set_node("conv1")
    seen.clear()
    session.set_model("alexnet_small")
    assert session.module is None and session.node is None and session.weights is None
    assert seen == ["model_changed", "weights_changed", "module_changed", "node_changed"]


def test_a_module_for_a_model_the_user_left_is_refused():
    session = Session()
    session.set_model("lenet_small")
    session.set_model("alexnet_small")
    assert not session.set_module("lenet_small", WeightsChoice("random", seed=1), object())
    assert session.module is None
    random = WeightsChoice("random", seed=3)
    assert session.set_module("alexnet_small", random, "module")
    assert session.weights == random and session.module == "module"


def test_choosing_weights_is_remembered_per_model():
    remembered: dict[str, WeightsChoice] = {}
    session = Session(recall_weights=remembered.get, remember_weights=remembered.__setitem__)
    session.set_model("resnet18_small")
    run = WeightsChoice("run", path="/runs/a.pt", run_id="a", epoch=3, test_accuracy=0.83)
    session.set_weights(run)
    session.set_model("lenet_small")
    session.set_model("resnet18_small")
    assert session.weights == run


def test_the_run_keeps_its_own_model():
    session = Session()
    session.set_model("lenet_small")
    labels: list[str] = []
    session.training.changed.connect(lambda run: labels.append(run.model_name))
    session.training.start("lenet_small", config=None)
    session.set_model("alexnet_small")
    assert session.training.model_name == "lenet_small" and labels == ["lenet_small"]


def test_weights_choice_round_trips_and_rejects_bad_values():
    choice = WeightsChoice("run", path="/x.pt", run_id="r", epoch=2, test_accuracy=0.5)
    assert WeightsChoice.from_dict(choice.to_dict()) == choice
    for bad in (None, 3, {"kind": "quantum"}, {"kind": "run"}, {"kind": "random", "seed": "7"},
                {"kind": "random", "seed": True}):
        assert WeightsChoice.from_dict(bad) is None
    assert "shipped: test 0.912" in WeightsChoice("shipped", test_accuracy=0.912).label()


def test_opening_the_shown_model_with_other_weights_only_changes_the_weights():
    session = Session()
    session.set_model("lenet_small", WeightsChoice("random", seed=1))
    session.set_node("conv1")
    seen = _record(session)
    run = WeightsChoice("run", path="/r.pt", run_id="r", epoch=1)
    session.set_model("lenet_small", run)
    assert session.weights == run and session.node == "conv1"
    assert seen == ["weights_changed", "module_changed"]


def test_weights_chosen_with_the_model_are_remembered():
    remembered: dict[str, WeightsChoice] = {}
    session = Session(recall_weights=remembered.get, remember_weights=remembered.__setitem__)
    session.set_model("lenet_small")
    run = WeightsChoice("run", path="/runs/b.pt", run_id="b", epoch=2)
    session.set_model("resnet18_small", run)  # "open in explorer" on another model
    session.set_model("lenet_small")
    session.set_model("resnet18_small")
    assert session.weights == run


def test_knockouts_are_session_state_and_another_model_empties_them():
    session = Session()
    session.set_model("resnet18_small")
    seen = []
    session.knockouts_changed.connect(lambda s: seen.append(s.knockouts))
    session.set_knockouts(["layer1_0_conv1:3"])
    session.set_knockouts(("layer1_0_conv1:3",))  # the same list: no event
    session.set_weights(WeightsChoice("random", seed=9))  # other weights keep the list
    assert session.knockouts == ("layer1_0_conv1:3",)
    session.set_model("lenet5_small")
    assert seen == [("layer1_0_conv1:3",), ()] and session.knockouts == ()
