"""The package's public surface: its version, the entry points, and the typed marker."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

import nsf
from nsf.errors import NsfError


def test_version_is_the_installed_distribution():
    assert nsf.__version__ == version("nsf")


def test_entry_points_are_the_subpackages_own():
    from nsf.config import load_config
    from nsf.data import open_dataset
    from nsf.models import probability_to_score
    from nsf.pipeline import prepare
    from nsf.scoring import score_file
    from nsf.study import run_study

    assert nsf.load_config is load_config
    assert nsf.open_dataset is open_dataset
    assert nsf.prepare is prepare
    assert nsf.run_study is run_study
    assert nsf.score_file is score_file
    assert nsf.probability_to_score is probability_to_score
    assert set(nsf.__all__) <= set(dir(nsf))
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        _ = nsf.nonexistent  # type: ignore[attr-defined]


def test_import_nsf_stays_cheap():
    """``import nsf`` loads neither the study nor pandas (the CLI's start-up)."""
    code = ("import sys, nsf; print(any(m in sys.modules for m in "
            "('nsf.study', 'pandas', 'sklearn')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_score_scale():
    assert nsf.probability_to_score([0.0, 0.125, 0.5, 1.0]).tolist() == [0, 12, 50, 100]
    assert nsf.probability_to_score(np.array([0.994])).dtype == np.int16


def test_open_result_refuses_what_is_not_a_result(tmp_path):
    with pytest.raises(NsfError, match=r"missing\.json: cannot read"):
        nsf.open_result(tmp_path / "missing.json")
    bad = tmp_path / "study.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(NsfError, match="not JSON"):
        nsf.open_result(bad)
    bad.write_text('{"schema": "nsf.study/0"}', encoding="utf-8")
    with pytest.raises(NsfError, match="re-run the study"):
        nsf.open_result(bad)


def test_the_package_ships_its_type_marker():
    assert (Path(nsf.__file__).parent / "py.typed").is_file()


def test_the_reader_reads_the_format_the_simulator_writes():
    """nsf reads a dataset's folder with its own reader (nsf.data); both sides name one format."""
    from data_gen.dataset import FORMAT
    from nsf.data import DATASET_FORMAT

    assert DATASET_FORMAT == FORMAT


def _imported_packages(path: Path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module.split(".")[0])
    return out


def test_nsf_reaches_the_simulator_through_one_module_and_not_back():
    root = Path(nsf.__file__).resolve().parents[1]
    reaching = sorted(str(p.relative_to(root)) for p in (root / "nsf").rglob("*.py")
                      if "data_gen" in _imported_packages(p))
    assert reaching == ["nsf/simulator.py"]
    back = [str(p.relative_to(root)) for p in (root / "data_gen").rglob("*.py")
            if "nsf" in _imported_packages(p)]
    assert back == []
