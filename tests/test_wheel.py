"""A user's install from the wheel: it holds every config file, and both entry points compose their
configs and train from a directory outside the source tree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from conftest import CONF, ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of what the sdist holds, so the build leaves nothing in the source tree."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md", "conf", "gcfa_dgl", "data_prep"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, src / name, **({"ignore": shutil.ignore_patterns("__pycache__")} if copy is shutil.copytree else {}))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(src)],
                       capture_output=True, text=True, cwd=out)
    assert r.returncode == 0, r.stderr[-3000:]
    return next(out.glob("gcfa_dgl-*.whl"))


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel installed; the dependencies come from this
    environment's site-packages (added as a path, so its editable install of the project is not)."""
    env = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    python = env / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet",
                        str(wheel)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return python


def test_the_wheel_holds_every_config_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    want = {f"gcfa_dgl/conf/{p.relative_to(CONF)}" for p in CONF.rglob("*.yaml")}
    assert want and want <= names, sorted(want - names)


def test_the_installed_package_composes_and_trains_outside_the_source_tree(venv, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GCFA_RAW_DIR")}
    env["GCFA_PROCESSED_DIR"] = str(tmp_path / "processed")

    def run(*args: str):
        r = subprocess.run([str(venv), *args], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        return r.stdout

    where = run("-c", "import gcfa_dgl, data_prep; print(gcfa_dgl.__file__); print(data_prep.__file__)")
    assert str(ROOT) not in where and str(venv.parent.parent) in where
    assert "name: ml100k" in run("-m", "data_prep", "--cfg", "job")
    assert "propagation_layers: 2" in run("-m", "gcfa_dgl.train", "--cfg", "job")
    out = tmp_path / "run"
    run("-m", "gcfa_dgl.train", "experiment=tiny_synthetic", "train.epochs=1", f"hydra.run.dir={out}")
    m = json.loads((out / "metrics.json").read_text())
    assert m["model"] == "gcfa" and len(m["history"]) == 1 and m["test"]["sampled/auc"] > 0.5
