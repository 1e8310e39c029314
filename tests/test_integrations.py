"""rung.integrations: loaded only when used, and what its modules share (rung/integrations/_common.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rung
from rung.integrations._common import choose, folder_files, metric_names, write_folder

FRAMEWORKS = ("torch", "lightning", "xgboost", "lightgbm", "keras", "transformers", "wandb")


def test_import_rung_and_rung_integrations_load_no_framework() -> None:
    code = (
        "import sys, rung, rung.integrations\n"
        f"print(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))\n"
        "print(sorted(m for m in sys.modules if m.startswith('rung.integrations.')))\n"
        "print(rung.integrations.__all__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [
        "[]",
        "[]",
        "['keras', 'lightgbm', 'lightning', 'transformers', 'wandb', 'xgboost']",
    ]


def test_an_unknown_integration_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"module 'rung.integrations' has no attribute 'sklearn_'"):
        rung.integrations.sklearn_  # noqa: B018


def test_metric_names_spell_every_form_as_a_renaming() -> None:
    assert metric_names("C", None) is None
    assert metric_names("C", "val_loss") == {"val_loss": "val_loss"}
    assert metric_names("C", ("a", "b")) == {"a": "a", "b": "b"}
    assert metric_names("C", {"loss": "val_loss"}) == {"loss": "val_loss"}
    with pytest.raises(
        TypeError, match=r"C needs metrics to be None, a logged name, .* \(non-empty str\); got metrics="
    ):
        metric_names("C", {"loss": 3})
    with pytest.raises(TypeError, match=r"; got metrics=\[''\]"):
        metric_names("C", [""])
    with pytest.raises(
        ValueError, match=r"C needs metrics to name at least one value \(or None for all\); got metrics={}"
    ):
        metric_names("C", {})


def test_choose_takes_numbers_of_every_kind_and_names_what_was_logged() -> None:
    logged = {"a": 1, "b": np.float32(0.5), "c": np.array([2.0]), "d": "text", "e": True, "f": np.zeros(3)}
    assert choose("C", logged, None, "now") == {"a": 1.0, "b": 0.5, "c": 2.0}
    assert choose("C", logged, {"x": "b"}, "now") == {"x": 0.5}
    with pytest.raises(KeyError, match=r"C was asked to report 'z', which was not logged now; logged: \['a', 'b'"):
        choose("C", logged, {"z": "z"}, "now")
    with pytest.raises(TypeError, match=r"C needs 'd' to be one number; got 'text'"):
        choose("C", logged, {"d": "d"}, "now")


def test_a_folder_goes_into_a_checkpoint_and_back(tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "sub").mkdir(parents=True)
    (source / "a.bin").write_bytes(b"\x00\x01")
    (source / "sub" / "b.json").write_text("{}")
    files = folder_files(source)
    assert files == {"a.bin": b"\x00\x01", "sub/b.json": b"{}"}
    copy = write_folder(files, tmp_path / "copy")
    assert folder_files(copy) == files
    with pytest.raises(ValueError, match=r"a checkpoint's file name must stay inside its folder; got '../escape'"):
        write_folder({"../escape": b""}, tmp_path / "other")
    assert not (tmp_path / "escape").exists()


@pytest.mark.parametrize(
    ("integration", "blocked"),
    [
        ("lightning", "lightning"),
        ("xgboost", "xgboost"),
        ("lightgbm", "lightgbm"),
        ("keras", "keras"),
        ("transformers", "transformers"),
        ("wandb", "wandb"),
    ],
)
def test_an_integration_without_its_framework_says_which_extra_to_install(integration: str, blocked: str) -> None:
    # None in sys.modules makes `import <blocked>` raise ImportError, as if it were not installed
    code = (
        f"import sys; sys.modules[{blocked!r}] = None\n"
        "try:\n"
        f"    import rung.integrations.{integration}\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == (
        f'rung.integrations.{integration} needs {blocked}, which is not installed; pip install "rung[{integration}]"'
    )
