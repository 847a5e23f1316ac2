from PySide6.QtCore import Qt

from explorer.models import get_model_info, list_models
from explorer.ui.model_picker import NAME_ROLE, ModelPicker


def _picker(qtbot) -> ModelPicker:
    picker = ModelPicker()
    qtbot.addWidget(picker)
    picker.set_models([get_model_info(n) for n in list_models()])
    return picker


def _visible_names(picker: ModelPicker) -> set[str]:
    names, proxy = set(), picker._proxy

    def walk(parent):
        for row in range(proxy.rowCount(parent)):
            index = proxy.index(row, 0, parent)
            if index.data(NAME_ROLE):
                names.add(index.data(NAME_ROLE))
            walk(index)

    from PySide6.QtCore import QModelIndex

    walk(QModelIndex())
    return names


def test_grouped_by_family_in_paper_order_with_small_forms_nested(qtbot):
    picker = _picker(qtbot)
    families = [picker._model.item(r).text() for r in range(picker._model.rowCount())]
    assert families[0] == "LeNet" and families[-1] == "MobileNet"
    assert len(families) == len(set(families))
    small = picker._items["resnet18_small"]
    assert small.parent() is picker._items["resnet18"]
    assert "Fashion-MNIST" in small.text()
    assert "(2015)" in picker._items["resnet50"].text()


def test_search_filters_by_name_family_and_year(qtbot):
    picker = _picker(qtbot)
    qtbot.keyClicks(picker._search, "densenet")
    visible = _visible_names(picker)
    assert "densenet121" in visible and "resnet50" not in visible
    picker._search.setText("2017")
    assert {"densenet121", "mobilenet_v1"} <= _visible_names(picker)
    picker._search.clear()
    assert len(_visible_names(picker)) == len(list_models())


def test_click_emits_choice_and_select_does_not(qtbot):
    picker = _picker(qtbot)
    with qtbot.assertNotEmitted(picker.model_chosen):
        picker.select("googlenet")
    index = picker._tree.currentIndex()
    assert index.data(NAME_ROLE) == "googlenet"
    picker.show()
    with qtbot.waitSignal(picker.model_chosen) as blocker:
        qtbot.mouseClick(picker.tree.viewport(), Qt.MouseButton.LeftButton,
                         pos=picker.row_rect("resnet50").center())
    assert blocker.args == ["resnet50"]
