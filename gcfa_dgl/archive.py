"""Keep the records of finished runs where they can be committed:

    python -m gcfa_dgl.archive <run or multirun dirs> --to docs/runs/<name>

A run directory holds weights and logs too big to keep; the report needs only its `metrics.json`,
`timing.json` and `.hydra/config.yaml` (and `.hydra/overrides.yaml` says how it was started). This
copies those files of every run below the given directories to `<to>/<model>_seed<seed>_<hash>/`,
the hash taken from the run's config so a rerun of the same config replaces its record and a
different config gets its own. `python -m gcfa_dgl.report <to>` then rebuilds the tables and
figures without the runs.

    python -m gcfa_dgl.archive <search sweep dir> --search --to <dir>

keeps a search (`hparams_search`, stopped or finished) instead: its Optuna study and sampler state
and each trial's records under the trial's own directory name, so `<dir>` is a sweep directory
again. `python -m gcfa_dgl.tuned <dir>` reads it, and the search command with
`hydra.sweep.dir=<dir>` (or a copy back where it ran) continues it on any machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from data_prep.store import atomic_write, atomic_write_text
from gcfa_dgl.search_resume import cut_off

KEPT = ("metrics.json", "timing.json", ".hydra/config.yaml", ".hydra/overrides.yaml")
SEARCH = ("optuna_sampler.json", "optimization_results.yaml")  # beside optuna.db


def record_name(run: Path) -> str:
    """`<model>_seed<seed>_<first 8 hex digits of the config's SHA-1>`."""
    m = json.loads((run / "metrics.json").read_text())
    config = run / ".hydra" / "config.yaml"
    digest = hashlib.sha1(config.read_bytes() if config.exists() else b"").hexdigest()[:8]
    return f"{m['model']}_seed{m['seed']}_{digest}"


def archive(dirs: list[Path], to: Path) -> list[Path]:
    """Copy the kept files of every finished run below `dirs` into `to`; the records written."""
    runs = sorted({p.parent for d in dirs for p in d.rglob("metrics.json")} - set(to.rglob("*")))
    if not runs:
        raise SystemExit(f"error: no finished run (metrics.json) below {', '.join(map(str, dirs))}")
    written = []
    for run in runs:
        dest = to / record_name(run)
        for rel in KEPT:
            if (run / rel).exists():
                atomic_write_text(dest / rel, (run / rel).read_text())
        written.append(dest)
    return written


def _copy_study(src: Path, dest: Path) -> None:
    """A consistent copy of a SQLite study (the backup API), written atomically."""
    import sqlite3
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "study.db"
        a, b = sqlite3.connect(src), sqlite3.connect(copy)
        try:
            a.backup(b)
        finally:
            a.close()
            b.close()
        data = copy.read_bytes()
    atomic_write(dest, lambda f: f.write(data))


def _counted_trials(db: Path) -> int:
    """Trials of the study in `db` that count toward its budget (all but those cut off)."""
    import optuna

    url = f"sqlite:///{db}"
    (summary,) = optuna.study.get_all_study_summaries(storage=url)
    trials = optuna.load_study(study_name=summary.study_name, storage=url).trials
    return sum(not cut_off(t) for t in trials)


def archive_search(sweep: Path, to: Path) -> list[Path]:
    """Copy a search's study, sampler state, results and finished trials' records to `to`, each
    trial under its own directory name; the trial records written."""
    if not (sweep / "optuna.db").exists():
        raise SystemExit(f"error: {sweep / 'optuna.db'} not found: pass the sweep directory of an hparams_search run")
    _copy_study(sweep / "optuna.db", to / "optuna.db")
    for name in SEARCH:
        if (sweep / name).exists():
            atomic_write_text(to / name, (sweep / name).read_text())
    states = to / "optuna_sampler.json"
    if states.exists():  # a continuation needs only the state after the trials that count
        saved = json.loads(states.read_text())
        key = str(_counted_trials(to / "optuna.db"))
        atomic_write_text(states, json.dumps({key: saved[key]} if key in saved else saved))
    written = []
    for run in sorted(p.parent for p in sweep.glob("*/metrics.json")):
        for rel in (*KEPT, ".hydra/hydra.yaml"):
            if (run / rel).exists():
                atomic_write_text(to / run.name / rel, (run / rel).read_text())
        written.append(to / run.name)
    return written


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", type=Path, nargs="+", help="run or multirun directories")
    ap.add_argument("--to", type=Path, required=True, help="where the records go, e.g. docs/runs/recbole_ml1m")
    ap.add_argument("--search", action="store_true", help="keep one search's study and trials (a sweep directory)")
    a = ap.parse_args(argv)
    if a.search:
        if len(a.dirs) != 1:
            ap.error("--search keeps one search at a time")
        written = archive_search(a.dirs[0], a.to)
        print(f"kept the study and {len(written)} finished trial(s) in {a.to}", file=sys.stderr)
        return
    written = archive(a.dirs, a.to)
    print(f"kept {len(written)} run record(s) in {a.to}", file=sys.stderr)


if __name__ == "__main__":
    main()
