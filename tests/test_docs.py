"""The commands of the README and docs run as written: every `python -m gcfa_dgl.train` line
composes and passes every check that runs before data is read, and every `make` line names a
target that `make -n` can plan. (Training itself runs through the same entry point in the other
tests, on tiny data; the README's evaluate, recommend and report lines run on such a run in
test_train_entry.py.)"""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest
from conftest import ROOT, commands
from hydra import compose, initialize_config_module

from data_prep.config import CONFIG_PACKAGE
from gcfa_dgl.config import register_configs, validate
from gcfa_dgl.factory import layer_fanouts, objective_name

register_configs()


README = commands(ROOT / "README.md")
DOCS = [(p.name, c) for p in sorted((ROOT / "docs").glob("*.md")) for c in commands(p)]


def overrides(line: str, module: str) -> list[str]:
    args = shlex.split(line)
    args = args[args.index(module) + 1:]
    return [a for a in args if a != "-m" and not a.startswith("hydra")]


@pytest.mark.parametrize("line", [c for c in README if "-m gcfa_dgl.train" in c]
                         + [c for _, c in DOCS if "-m gcfa_dgl.train" in c])
def test_a_documented_training_command_composes_and_passes_every_check(line):
    with initialize_config_module(CONFIG_PACKAGE, version_base="1.3"):
        # a sweep's comma lists: the first value of each (every value is checked by the same rules)
        cfg = compose(config_name="config", overrides=[re.sub(r"=([^,\[]+),\S+", r"=\1", o)
                                                        for o in overrides(line, "gcfa_dgl.train")])
    validate(cfg)
    layer_fanouts(cfg)
    objective_name(cfg)


@pytest.mark.parametrize("line", sorted({c for c in README + [c for _, c in DOCS] if c.startswith("make ")}))
def test_a_documented_make_command_names_a_target(line):
    r = subprocess.run(["make", "-n", *shlex.split(line)[1:]], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_the_readme_has_its_two_setup_commands_and_fits_on_a_few_screens():
    text = (ROOT / "README.md").read_text()
    assert README[:2] == ["make train", "make test"]
    assert len(text.splitlines()) <= 160
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    assert not re.search(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b", prose), "a commit hash in prose"
