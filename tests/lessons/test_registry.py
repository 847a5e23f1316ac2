"""The 14 lessons as one list: order, names, every link's node in its model's graph, and the
`cnn-explorer lessons` command (list, run, an unknown name)."""

from __future__ import annotations

import json

import pytest

from explorer.cli import main
from explorer.graph.stored import named_graph
from explorer.lessons import MODULES, all_lessons, get_lesson

LINKS = [(lesson.name, link) for lesson in all_lessons() for link in lesson.links if link.node is not None]


def test_fourteen_lessons_in_order_with_unique_names():
    lessons = all_lessons()
    assert [lesson.number for lesson in lessons] == list(range(1, 15)) == list(range(1, len(MODULES) + 1))
    assert len({lesson.name for lesson in lessons}) == 14
    assert [(lesson.number, lesson.name) for lesson in lessons if lesson.kind == "experiment"] == [
        (4, "dropout"), (5, "augmentation"), (6, "residual-learning"), (7, "batch-norm"),
        (8, "auxiliary-classifiers"), (13, "multi-scale-training")]
    assert get_lesson("7") is get_lesson("batch-norm")


@pytest.mark.parametrize("lesson", all_lessons(), ids=lambda lesson: lesson.name)
def test_each_lesson_says_its_claim_and_an_experiment_its_command_and_budget(lesson):
    assert get_lesson(lesson.name) is lesson and get_lesson(str(lesson.number)) is lesson
    assert lesson.claim and lesson.sources and lesson.look_at
    assert (lesson.kind == "experiment") == (lesson.experiment is not None) == (lesson.demonstrate is None)
    if lesson.experiment is not None:
        assert lesson.experiment.command == f"cnn-explorer lessons run {lesson.name}"
        assert 0 < lesson.experiment.budget_s <= 600


@pytest.mark.parametrize("name, link", LINKS, ids=[f"{name}:{link.node}" for name, link in LINKS])
def test_links_name_real_nodes(name, link):
    assert named_graph(link.model)[0].find_node(link.node) is not None, (name, link.model, link.node)


def test_the_command_lists_every_lesson_with_its_numbers(capsys):
    assert main(["lessons", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [e["number"] for e in entries] == list(range(1, 15))
    for entry in entries:  # every experiment ships its result: none says "no shipped result"
        assert entry["figures"] and entry["verdict"] and "no shipped result" not in entry["verdict"], entry["name"]


def test_the_command_runs_one_lesson_and_refuses_an_unknown_one(capsys):
    assert main(["lessons", "run", "growth-rate", "--json"]) == 0
    entry = json.loads(capsys.readouterr().out)
    assert entry["name"] == "growth-rate" and entry["kind"] == "live" and entry["figures"]
    assert main(["lessons", "run", "no-such-lesson"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown lesson 'no-such-lesson'" in err
    assert main(["lessons", "run", "growth-rate", "--ship"]) == 1  # only a full experiment ships
