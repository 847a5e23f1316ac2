"""The Qt-free session: one model identity (selection and loaded model), events fire after
the state changes, a loaded model for a selection the user left is refused."""

from __future__ import annotations

from explorer.loading import LoadedModel
from explorer.session import Selection, Session, WeightsChoice


def _record(session: Session) -> list[str]:
    """Every event the session fires, in order ("model:<change>" for the model's)."""
    seen: list[str] = []
    session.model_changed.connect(lambda s, change: seen.append(f"model:{change}"))
    for name in ("image_changed", "node_changed", "device_changed", "knockouts_changed"):
        getattr(session, name).connect(lambda s, n=name: seen.append(n))
    session.message.connect(lambda text: seen.append("message"))
    return seen


def _loaded(source: str, requested: WeightsChoice | None, weights: WeightsChoice | None = None,
            module: object = None, fallback: bool = False) -> LoadedModel:
    return LoadedModel(source, requested, weights or requested or WeightsChoice("random", seed=1),
                       module if module is not None else object(), fallback=fallback)


def test_changing_model_resets_module_and_node_and_recalls_weights():
    remembered = {"lenet_small": WeightsChoice("shipped", test_accuracy=0.9)}
    session = Session(recall_weights=remembered.get, remember_weights=remembered.__setitem__)
    seen = _record(session)
    session.set_model("lenet_small")
    assert session.weights == remembered["lenet_small"]
    assert session.deliver(_loaded("lenet_small", session.weights))
    session.set_node("conv1")
    session.set_knockouts(["conv1:2"])
    seen.clear()
    session.set_model("alexnet_small")
    assert session.module is None and session.loaded is None and session.node is None
    assert session.weights is None and session.knockouts == ()
    assert seen == ["model:model"]  # one event says all of it


def test_one_model_click_fires_at_most_three_events():
    session = Session()
    seen = _record(session)
    session.set_model("lenet_small")
    loaded = _loaded("lenet_small", None, WeightsChoice("shipped"))
    assert session.deliver(loaded)
    session.notify(loaded.notice)
    assert seen == ["model:model", "model:loaded", "message"]
    assert session.loaded is loaded and session.weights == WeightsChoice("shipped")


def test_a_loaded_model_for_a_selection_the_user_left_is_refused():
    session = Session()
    session.set_model("lenet_small")
    session.set_model("alexnet_small")
    assert not session.deliver(_loaded("lenet_small", None))
    assert session.module is None
    random = WeightsChoice("random", seed=3)
    assert not session.deliver(_loaded("alexnet_small", random))  # asked for the default, not this
    assert session.deliver(_loaded("alexnet_small", None, random, module="module"))
    assert session.weights == random and session.module == "module"
    assert session.loaded.selection == session.selection == Selection("alexnet_small", None)


def test_a_failed_load_is_said_for_the_current_selection_only():
    session = Session()
    seen = _record(session)
    session.set_model("lenet_small")
    assert not session.load_failed(Selection("alexnet_small"), "gone")
    assert session.load_failed(Selection("lenet_small"), "cannot read weights")
    assert session.load_error == "cannot read weights" and seen == ["model:model", "model:failed"]
    session.set_weights(WeightsChoice("random", seed=2))
    assert session.load_error is None


def test_resolved_defaults_and_fallbacks_of_a_choice_are_remembered_a_failed_default_is_not():
    remembered: dict[str, WeightsChoice] = {}
    session = Session(recall_weights=remembered.get, remember_weights=remembered.__setitem__)
    session.set_model("resnet18")
    random = WeightsChoice("random", seed=5)
    session.deliver(_loaded("resnet18", None, random, fallback=True))  # ImageNet offline
    assert "resnet18" not in remembered
    session.set_model("lenet_small")
    session.deliver(_loaded("lenet_small", None, WeightsChoice("shipped")))
    assert remembered["lenet_small"] == WeightsChoice("shipped")
    broken = WeightsChoice("file", path="/gone.pt")
    session.set_weights(broken)
    assert remembered["lenet_small"] == broken
    session.deliver(_loaded("lenet_small", broken, WeightsChoice("shipped"), fallback=True))
    assert remembered["lenet_small"] == WeightsChoice("shipped") == session.weights


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
    assert seen == ["model:weights"]


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
    session.set_model("lenet5_small")  # said by model_changed("model"), which resets them
    assert seen == [("layer1_0_conv1:3",)] and session.knockouts == ()
