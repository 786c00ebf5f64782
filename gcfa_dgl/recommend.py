"""Top-K unseen videos for users of a trained run.

    python -m gcfa_dgl.recommend run_dir=outputs/... user=196 k=10
    python -m gcfa_dgl.recommend run_dir=outputs/... users=all k=20 out=recs.csv
    python -m gcfa_dgl.recommend run_dir=outputs/... users_file=ids.txt out=recs.csv

Users are given by their raw ids (as in the raw data). Videos the user interacted with (in any
split) are never recommended.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from data_prep.errors import UserError
from data_prep.store import atomic_write_text
from gcfa_dgl.cli import parse_run_args, user_errors
from gcfa_dgl.runs import Run, load_run

KEYS = {"run_dir", "user", "users", "users_file", "k", "out", "checkpoint"}


def recommend(run: Run, user_index: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(scores, video indices) of the top-k unseen videos of each user index."""
    model = run.model
    model.eval()
    with torch.no_grad():
        zu, zv = model.embed_all(run.data.graph, run.eval_sampler)
        out_s, out_i = [], []
        for start in range(0, len(user_index), 1024):
            users = user_index[start : start + 1024]
            scores = model.score_matrix(zu[users], zv).float()
            run.evaluator.mask_seen(scores, users)
            s, i = torch.topk(scores, min(k, scores.shape[1]), dim=1)
            out_s.append(s)
            out_i.append(i)
    return torch.cat(out_s), torch.cat(out_i)


def _parse_users(args: dict, raw_ids: list) -> list:
    if "user" in args:
        return [args["user"]]
    if args.get("users") == "all":
        return list(raw_ids)
    if "users" in args:
        return args["users"].split(",")
    if "users_file" in args:
        path = Path(args["users_file"])
        if not path.exists():
            raise UserError(f"users_file {path} not found")
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    raise UserError("say which users: user=<raw id>, users=<id,id,...>, users=all or users_file=<path>")


def main(argv: list[str] | None = None) -> None:
    with user_errors():
        args = parse_run_args(argv if argv is not None else sys.argv[1:], KEYS)
        k = int(args.get("k", 10))
        if k < 1:
            raise UserError(f"k must be >= 1, got {k}")
        run = load_run(Path(args["run_dir"]), args.get("checkpoint", "best"))
        raw_ids = run.data.meta.user_ids
        lookup = {str(u): i for i, u in enumerate(raw_ids)}
        wanted = _parse_users(args, raw_ids)
        unknown = [u for u in wanted if str(u) not in lookup]
        if unknown:
            raise UserError(f"unknown user id(s) {unknown[:5]} (raw ids of {run.data.meta.name})")
        idx = torch.tensor([lookup[str(u)] for u in wanted])
        scores, videos = recommend(run, idx, k)
    items = pd.read_csv(run.data.path / "items.csv", keep_default_na=False)
    rows = pd.DataFrame({
        "user": np.repeat([str(u) for u in wanted], videos.shape[1]),
        "rank": np.tile(np.arange(1, videos.shape[1] + 1), len(wanted)),
        "video": items["raw_id"].to_numpy()[videos.reshape(-1).numpy()],
        "score": scores.reshape(-1).numpy().round(5),
        "title": items["title"].to_numpy()[videos.reshape(-1).numpy()],
        "info": items["info"].to_numpy()[videos.reshape(-1).numpy()],
    })
    if "out" in args:
        atomic_write_text(args["out"], rows.to_csv(index=False))
        print(f"wrote {len(rows)} recommendations for {len(wanted)} users to {args['out']}")
    else:
        with pd.option_context("display.max_colwidth", 60, "display.width", 160):
            print(rows.drop(columns="user").to_string(index=False))


if __name__ == "__main__":
    main()
