"""`python -m gcfa_dgl.evaluate run_dir=<run> [split=test] [checkpoint=best]`: a finished run's
metrics on one split, as JSON (the protocols of docs/evaluation.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from data_prep.errors import UserError
from gcfa_dgl.cli import parse_run_args, user_errors
from gcfa_dgl.runs import load_run


def main(argv: list[str] | None = None) -> None:
    with user_errors():
        args = parse_run_args(argv if argv is not None else sys.argv[1:], {"run_dir", "split", "checkpoint"})
        split = args.get("split", "test")
        if split not in ("valid", "test"):
            raise UserError(f"split must be valid or test, got {split!r}")
        run = load_run(Path(args["run_dir"]), args.get("checkpoint", "best"))
        res = run.evaluator.evaluate(run.model, run.eval_sampler, split, list(run.cfg.eval.protocols))
    res.pop("buckets")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
