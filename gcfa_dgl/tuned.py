"""Save the winner of a search as a preset: `python -m gcfa_dgl.tuned <sweep dir> [--out conf/tuned]`.

Reads the sweep's `optimization_results.yaml` (Optuna's best parameters and value) and its trial
runs, and writes `<out>/<dataset>_<model>.yaml`: the model, its sampler and the best parameters,
with a header
that records what the search saw (dataset, monitor, best validation value and epoch, epoch cap,
number of trials, the search's own overrides). The preset is used as
`python -m gcfa_dgl.train experiment=... tuned=<dataset>_<model>`; the same config and seed give
the recorded validation value again. `--trials` prints every finished trial instead, best first,
as a markdown table of its validation value, best epoch and searched values (also mid-search). `--presets <files>`
prints one row per saved preset (the winners side by side), read back from the files alone.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml
from omegaconf import OmegaConf

from data_prep.store import atomic_write_text
from gcfa_dgl.config import run_config


def best_trial(sweep: Path, best_value: float) -> Path:
    """The trial run whose best validation value is the search's best (the first, on a tie)."""
    trials = sorted((p.parent for p in sweep.glob("*/metrics.json")), key=lambda p: int(p.name.split("_")[0]))
    for run in trials:
        if json.loads((run / "metrics.json").read_text())["best_valid"] == best_value:
            return run
    raise SystemExit(f"error: no trial under {sweep} reached the best value {best_value} of optimization_results.yaml")


def preset(sweep: Path) -> tuple[str, str]:
    """(file name, YAML text) of the preset for the search in `sweep`."""
    results = sweep / "optimization_results.yaml"
    if not results.exists():
        raise SystemExit(f"error: {results} not found: pass the directory of a finished hparams_search run")
    res = yaml.safe_load(results.read_text())
    run = best_trial(sweep, res["best_value"])
    cfg, m = run_config(run), json.loads((run / "metrics.json").read_text())
    n_trials = len(list(sweep.glob("*/metrics.json")))
    overrides = OmegaConf.load(run / ".hydra" / "overrides.yaml")
    searched = set(res["best_params"])
    fixed = [o for o in overrides if o.split("=")[0] not in searched and not o.startswith(("hydra.", "hparams_search="))]
    body: dict = {}
    for key in sorted(searched):  # the values as the trial composed them (Optuna keeps a list as text)
        group, _, field = key.partition(".")
        val = OmegaConf.select(cfg, key)
        body.setdefault(group, {})[field] = OmegaConf.to_container(val) if OmegaConf.is_config(val) else val
    choices = OmegaConf.load(run / ".hydra" / "hydra.yaml").hydra.runtime.choices
    name = f"{cfg.dataset.name}_{cfg.model.name}"
    head = [
        "# @package _global_",
        f"# {cfg.model.name} tuned on {cfg.dataset.name}: best validation {m['monitor']} {res['best_value']:.6f}",
        f"# at epoch {m['best_epoch']} of {cfg.train.epochs}, the best of {n_trials} trials of",
        f"#   python -m gcfa_dgl.train hparams_search={cfg.model.name} {' '.join(fixed)}",
        f"# Use: python -m gcfa_dgl.train {' '.join(fixed)} tuned={name}",
        "defaults:",
        f"  - override /model: {choices.model}",
        f"  - override /sampler: {choices.sampler}",  # the search's (GC-MC full, GraphRec uniform)
        "",
    ]
    return f"{name}.yaml", "\n".join(head) + yaml.safe_dump(body, sort_keys=True)


def _shown(val) -> str:
    val = OmegaConf.to_container(val) if OmegaConf.is_config(val) else val
    return f"{val:.3g}" if isinstance(val, float) else str(val)


def _table(head: list[str], rows: list[list[str]]) -> str:
    """A markdown table of text cells."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in rows]) + "\n"


def trials_table(sweep: Path) -> str:
    """Every finished trial of the search in `sweep`, best validation value first (markdown); also
    while the search runs or after it was stopped (the searched keys then come from a trial's
    Hydra config)."""
    done = list(sweep.glob("*/metrics.json"))
    results = sweep / "optimization_results.yaml"
    if results.exists():
        keys = sorted(yaml.safe_load(results.read_text())["best_params"])
    elif done:
        keys = sorted(OmegaConf.load(done[0].parent / ".hydra" / "hydra.yaml").hydra.sweeper.params)
    else:
        raise SystemExit(f"error: {sweep} has no finished trial yet: pass the directory of an hparams_search run")
    rows = []
    for path in done:
        m, cfg = json.loads(path.read_text()), run_config(path.parent)
        rows.append((m["best_valid"], [path.parent.name.split("_")[0], f"{m['best_valid']:.4f}",
                                       f"{m['best_epoch']} of {cfg.train.epochs}"]
                     + [_shown(OmegaConf.select(cfg, k)) for k in keys]))
    rows.sort(key=lambda r: -r[0])
    return _table(["trial", f"valid {m['monitor']}", "best epoch", *keys], [cells for _, cells in rows])


HEADER = re.compile(r"# (\S+) tuned on (\S+): best validation (\S+) ([0-9.]+)\n# at epoch (\d+) of (\d+), the best of (\d+) trials")
COMMON = ("model.objective", "sampler.num_negatives", "model.lr", "model.l2", "model.dim")


def presets_table(files: list[Path]) -> str:
    """One row per preset file, best validation value first: what its search found and its values
    (markdown). The model's own settings share one column."""
    rows = []
    for f in files:
        text = f.read_text()
        head = HEADER.search(text)
        if head is None:
            raise SystemExit(f"error: {f}: no header of python -m gcfa_dgl.tuned (is it a tuned preset?)")
        model, _, monitor, best, epoch, cap, n = head.groups()
        flat = {f"{g}.{k}": v for g, kv in yaml.safe_load(text).items() if g != "defaults" for k, v in kv.items()}
        if flat.get("model.objective") != "softmax":
            flat.pop("model.temperature", None)  # only the softmax objective reads it
        own = ", ".join(f"{k.split('.', 1)[1]}={_shown(v)}" for k, v in sorted(flat.items()) if k not in COMMON)
        rows.append((float(best), [model, f"{float(best):.4f}", f"{epoch} of {cap}", n,
                                   *(_shown(flat.get(k, "")) for k in COMMON), own]))
    rows.sort(key=lambda r: -r[0])
    return _table(["model", f"valid {monitor}", "best epoch", "trials", "objective", "negatives", "lr", "L2", "dim",
                   "its own settings"], [cells for _, cells in rows])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep", type=Path, nargs="+",
                    help="the sweep directory of a finished hparams_search run (with --presets: preset files)")
    ap.add_argument("--out", type=Path, default=Path("conf/tuned"), help="where presets go (default conf/tuned)")
    ap.add_argument("--trials", action="store_true", help="print every trial as a markdown table instead")
    ap.add_argument("--presets", action="store_true", help="print the given preset files side by side (markdown)")
    a = ap.parse_args(argv)
    if a.presets:
        print(presets_table(a.sweep), end="")
        return
    if len(a.sweep) > 1:
        ap.error("one sweep directory at a time (several files only with --presets)")
    a.sweep = a.sweep[0]
    if a.trials:
        print(trials_table(a.sweep), end="")
        return
    name, text = preset(a.sweep)
    a.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(a.out / name, text)
    print(f"wrote {a.out / name}", file=sys.stderr)


if __name__ == "__main__":
    main()
