"""What the built package carries, checked fast from the source tree.

The slow, whole check (build the wheel, install it into a fresh virtual environment, run `rung demo`
there) is `.ci/wheel_check.py`, which `.ci/run` runs before pytest.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

import rung

PACKAGE = Path(rung.__file__).parent
PYPROJECT = PACKAGE.parent / "pyproject.toml"


def test_installed_metadata_version_is_rung_version() -> None:
    # pyproject reads the version from rung.__version__; an install made before a version change
    # (reinstall after changing it) or a second version written in pyproject would differ here.
    assert importlib.metadata.version("rung") == rung.__version__


def test_version_is_written_in_one_place() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "rung.__version__"}


def test_package_data_covers_every_file_that_is_not_python() -> None:
    # setuptools puts into the wheel the .py files of the packages it finds, and of the other files only
    # those that package-data's globs match (relative to the package, `*` within one folder).
    tomllib = pytest.importorskip("tomllib")
    globs = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]["rung"]
    covered = {path.relative_to(PACKAGE).as_posix() for pattern in globs for path in PACKAGE.glob(pattern)}
    others = {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    }
    assert "dashboard/static/index.html" in others
    assert others - covered == set()


def test_every_folder_of_modules_is_a_package() -> None:
    # A folder without __init__.py is no package to setuptools' find: its modules would not be in the wheel.
    folders = {path.parent for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts}
    assert sorted(str(f.relative_to(PACKAGE)) for f in folders if not (f / "__init__.py").is_file()) == []
