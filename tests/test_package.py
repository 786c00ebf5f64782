"""Package hygiene: quiet imports and a ruff-clean tree."""

from __future__ import annotations

import shutil
import subprocess
import sys

from conftest import ROOT


def test_import_prints_no_third_party_noise():
    code = "import gcfa_dgl, gcfa_dgl.data, dgl, dgl.dataloading, data_prep.pipeline"
    r = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""


def test_ruff_clean():
    ruff = shutil.which("ruff") or str(ROOT / ".venv" / "bin" / "ruff")
    r = subprocess.run([ruff, "check", "."], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_training_entry_point_starts_without_optuna():
    """Importing Optuna (and the plotting it pulls in) adds seconds to every start: only a search
    imports it, through the callback of conf/hparams_search/common.yaml."""
    code = "import sys, gcfa_dgl.train; print('optuna' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.split()[-1] == "False", r.stdout + r.stderr
