"""The wheel's package list, the PyInstaller spec and the .desktop file stay in step with
the tree and pyproject.toml."""

import configparser
from pathlib import Path

import tomllib

from explorer.resources import resource_path, resources_root

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_package_is_listed_for_the_wheel():
    on_disk = {
        ".".join(p.parent.relative_to(REPO).parts)
        for p in (REPO / "explorer").rglob("__init__.py")
    }
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    assert on_disk | {"explorer._resources"} == listed


def test_resources_resolve_from_checkout():
    assert resources_root() == REPO / "resources"
    assert resource_path("icons/cnn-explorer.svg").read_text().startswith("<svg")


def test_spec_reads_name_and_version_from_pyproject():
    spec = (REPO / "packaging" / "cnn-explorer.spec").read_text(encoding="utf-8")
    assert "pyproject.toml" in spec and 'project["name"]' in spec and 'project["version"]' in spec
    compile(spec, "cnn-explorer.spec", "exec")  # valid Python


def test_every_module_the_spec_names_exists():
    """The spec's hidden imports named the flat ui/ modules after they had moved into rooms."""
    import importlib.util
    import re

    spec = (REPO / "packaging" / "cnn-explorer.spec").read_text(encoding="utf-8")
    named = re.findall(r'"(explorer(?:\.\w+)+)"', spec)
    assert "explorer.ui.maps.panel" in named
    assert [m for m in named if importlib.util.find_spec(m) is None] == []


def test_desktop_file_launches_the_entry_point():
    desktop = configparser.ConfigParser(interpolation=None)
    desktop.optionxform = str
    desktop.read(REPO / "packaging" / "cnn-explorer.desktop", encoding="utf-8")
    entry = desktop["Desktop Entry"]
    assert entry["Exec"] == "cnn-explorer" in PYPROJECT["project"]["scripts"]
    assert entry["Type"] == "Application"
    assert (REPO / "resources" / "icons" / f"{entry['Icon']}.svg").exists()
