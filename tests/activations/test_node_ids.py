"""The stepper and the graph view name the same nodes: both trace with graph/tracer.py.

Every registered model (45 today, about 25 s on one core): the models are built on the
meta device and given uninitialised CPU storage (``to_empty``), since node names do not
depend on weight values and initialising VGG's 138 M parameters would dominate the test.
"""

from __future__ import annotations

import pytest

from explorer.activations import Stepper
from explorer.graph import build_named_graph
from explorer.models import get_model_info, list_models
from explorer.models.stats import meta_model


@pytest.mark.parametrize("name", list_models())
def test_stepper_nodes_are_the_graph_nodes(name):
    model = meta_model(name).to_empty(device="cpu")
    graph = build_named_graph(name)
    # Given the input shape, the stepper finds the auxiliary heads as the graph does and
    # steps their nodes under the same ids (clicking aux1 in the graph runs it).
    stepper = Stepper(model, "cpu", input_shape=get_model_info(name).input_shape)
    assert [r.name for r in stepper.nodes] == graph.order
    for record in stepper.nodes:
        assert graph.node(record.name)["module_path"] == record.module_path, record.name
    # Without it, the main line only: what an eval-mode forward runs.
    plain = Stepper(model, "cpu")
    assert [r.name for r in plain.nodes] == [n for n in graph.order if not graph.node(n)["aux"]]
