"""`cnn-explorer unit`: terms, value, the model's own value and the difference; JSON; a
one-line error naming the valid range for a unit that is not there (issue 21)."""

from __future__ import annotations

import json

import pytest

from explorer.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_lenet5_c3_text(capsys):
    code, out, err = _run(capsys, "unit", "lenet5_small", "sample", "--layer", "c3", "--channel", "6",
                          "--at", "2", "3", "--weights", "shipped")
    assert code == 0, err
    assert "c3 (ConnectionTableConv2d), channel 6 at (2, 3): connection_table_conv" in out
    assert "connected maps 0, 1, 2, 3 (the connection table)" in out and "scaled tanh" in out
    for label in ("value ", "model value", "difference"):
        assert label in out
    assert " ok (tolerance " in out and "MISMATCH" not in out


def test_resnet18_add_json(capsys):
    code, out, err = _run(capsys, "unit", "resnet18_small", "sample", "--layer", "layer1.0 (add)",
                          "--channel", "5", "--weights", "shipped", "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["model"] == "resnet18_small" and payload["trained"] and payload["kind"] == "add"
    assert payload["node"] == "layer1.0 (add)" and payload["unit"][0] == 5 and payload["matches"]
    assert abs(payload["value"] - payload["model_value"]) == pytest.approx(abs(payload["difference"]))
    roles = sorted(operand[0] for operand in payload["detail"]["operands"])
    assert roles == ["branch", "shortcut"] and len(payload["terms"]) == 2


def test_resnet18_conv_default_unit_is_the_strongest(capsys):
    code, out, err = _run(capsys, "unit", "resnet18_small", "sample", "--layer", "layer2.0.conv1",
                          "--channel", "0", "--json", "--top", "3")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["kind"] == "conv" and "strided" in payload["detail"]["variants"] and payload["matches"]
    channels = len(payload["detail"]["in_channels"])
    assert [t["label"] for t in payload["terms"]][-1] == f"the other {channels - 3} channels"
    assert len(payload["terms"]) == 4  # three channels, the rest; no bias (batch norm follows)
    # Like the window, the command runs a model's own default: a small form's shipped weights.
    assert payload["trained"] and "Fashion-MNIST, shipped" in " ".join(payload["notices"])


def test_padding_in_a_pooling_window_is_null_in_json(capsys):
    code, out, err = _run(capsys, "unit", "resnet18_small", "sample", "--layer", "maxpool", "--channel", "0",
                          "--at", "0", "0", "--json")
    assert code == 0, err
    payload = json.loads(out)  # strict JSON: no NaN
    window, padding = payload["detail"]["window"], payload["detail"]["in_padding"]
    assert window[0] == [None, None, None] and padding[0] == [True, True, True] and window[1][1] is not None
    assert payload["value"] == max(v for row in window for v in row if v is not None)


@pytest.mark.parametrize(("argv", "message"), [
    (["--layer", "c3", "--channel", "16"], "channel 16 is outside c3's 16 channels: 0..15"),
    (["--layer", "c3", "--channel", "0", "--at", "10", "0"], "outside c3's 10x10 map: y 0..9, x 0..9"),
    (["--layer", "f6", "--channel", "84"], "index 84 is outside f6's 84 values: 0..83"),
    (["--layer", "f6", "--channel", "1", "--at", "0", "0"], "vector of 84 values (0..83)"),
    (["--layer", "nowhere", "--channel", "0"], "no node named 'nowhere': give one of the 9 nodes' titles"),
])
def test_a_unit_that_is_not_there_is_one_line_and_exit_1(capsys, argv, message):
    code, out, err = _run(capsys, "unit", "lenet5_small", "sample", *argv)
    assert code == 1 and out == "" and err.count("\n") == 1 and message in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["--channel", "-1"], ["--channel", "0", "--at", "0", "-3"],
                                  ["--channel", "0", "--top", "0"], ["--channel", "1e9"]])
def test_numbers_out_of_range_are_usage_errors(capsys, argv):
    with pytest.raises(SystemExit) as stopped:
        main(["unit", "lenet5_small", "sample", "--layer", "c1", *argv])
    assert stopped.value.code == 2 and "must be a whole number from" in capsys.readouterr().err
