"""Two trainings at once on the same cores: what thread settings do to each other's speed.

    python -m gcfa_dgl.bench.concurrent [--model gcfa] [--batch 4096] [--max-batches 30]
                                        [--repeats 3] [--json f] [--data k=v ...] [overrides ...]

Each setting starts GCFA's Table 1 run on ML-1M (the real entry point, `--max-batches` batches)
in fresh child processes: one run alone with the default threads, and with
`OMP_WAIT_POLICY=PASSIVE` (what that setting costs a run that has the machine to itself); two runs
at once with the default threads (each sized for the whole machine); two at once with
`train.threads=1`; two at once with the default threads and `OMP_WAIT_POLICY=PASSIVE`. Reported
per setting: seconds per batch of each run (median over runs and repeats) and the training pairs
per second of all runs together, with its ratio to the single run. The runs load the same data and
train the same batches, so their batch loops overlap; the children's OpenMP variables are the
settings' own. Two OpenMP runtimes live in each process (torch's and DGL's), and by default their
idle threads spin before they sleep; runs that together ask for more threads than there are cores
take the cores from each other.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gcfa_dgl.bench.common import median, ml1m_overrides, write_json
from gcfa_dgl.bench.train import train_once
from gcfa_dgl.distributed import usable_cores

SETTINGS = {
    "one run, default threads": (1, [], {}),
    "one run, OMP_WAIT_POLICY=PASSIVE": (1, [], {"OMP_WAIT_POLICY": "PASSIVE"}),
    "two runs at once, default threads": (2, [], {}),
    "two runs at once, train.threads=1": (2, ["train.threads=1"], {}),
    "two runs at once, OMP_WAIT_POLICY=PASSIVE": (2, [], {"OMP_WAIT_POLICY": "PASSIVE"}),
}


def _runs(n: int, overrides: list[str], env: dict, model: str, batch: int, max_batches: int,
          tmp: Path, tag: str) -> list[float]:
    """Seconds of the batch loop of `n` runs started together."""
    # The settings decide these; the caller's own values would make every row the same.
    inherited = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
    child_env = {**inherited, **env}

    def one(i: int) -> float:
        out = tmp / f"{tag}_{i}"
        return train_once(model, overrides, batch, max_batches, out, env=child_env)["seconds"]

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def run(model: str, batch: int, max_batches: int, repeats: int, overrides: list[str],
        data: list[str] | None = None) -> dict:
    data, label = (data, "custom: " + " ".join(data)) if data else ml1m_overrides()
    seconds: dict[str, list[float]] = {k: [] for k in SETTINGS}
    with tempfile.TemporaryDirectory(prefix="gcfa-bench-concurrent-") as tmp:
        for r in range(repeats):  # settings interleaved, so drift hits them alike
            for j, (name, (n, extra, env)) in enumerate(SETTINGS.items()):
                got = _runs(n, [*data, *overrides, *extra], env, model,
                            batch, max_batches, Path(tmp), f"{r}_{j}")
                seconds[name] += got
                print(f"  {name}: run {r + 1}/{repeats} {', '.join(f'{s:.1f}' for s in got)} s",
                      file=sys.stderr, flush=True)
    rows = {}
    for name, (n, _, _) in SETTINGS.items():
        per_batch = median(seconds[name]) / max_batches
        rows[name] = {"runs": n, "seconds_per_batch": round(per_batch, 4),
                      "pairs_per_second": round(n * batch / per_batch),
                      "runs_seconds": [round(s, 2) for s in seconds[name]]}
    ref = rows["one run, default threads"]["pairs_per_second"]
    for r in rows.values():
        r["ratio"] = round(r["pairs_per_second"] / ref, 3)
    return {"dataset": label, "model": model, "batch": batch, "max_batches": max_batches, "repeats": repeats,
            "cores": usable_cores(), "overrides": overrides, "settings": rows}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="gcfa")
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--max-batches", type=int, default=30)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--data", nargs="+", default=None, help="dataset overrides in place of ML-1M")
    a, overrides = p.parse_known_args(argv)
    res = run(a.model, a.batch, a.max_batches, a.repeats, overrides, a.data)
    print(f"{a.model} on {res['dataset']}, batch {a.batch}, {a.max_batches} batches per run, "
          f"median of {a.repeats}, {res['cores']} cores")
    print("| setting | s / batch (each run) | pairs / s (all runs) | ratio |\n|---|---:|---:|---:|")
    for name, r in res["settings"].items():
        print(f"| {name} | {r['seconds_per_batch']:.3f} | {r['pairs_per_second']:,} | x{r['ratio']:.2f} |")
    if a.json:
        write_json(a.json, res)
    return res


if __name__ == "__main__":
    main()
