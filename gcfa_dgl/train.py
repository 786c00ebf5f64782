"""`python -m gcfa_dgl.train [overrides]`: train and evaluate one run (`-m`: a sweep).

Returns the best validation value of `train.monitor`, which Hydra sweepers (Optuna) optimise.
Under torchrun (`distributed.ddp=true`) every rank runs this entry point; ranks other than 0 get a
throw-away Hydra directory and no log file, so a run has exactly one output directory.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from data_prep.errors import UserError
from gcfa_dgl.config import CONFIG_PATH, register_configs
from gcfa_dgl.distributed import env_rank
from gcfa_dgl.job import run
from gcfa_dgl.trainer import Interrupted

register_configs()


def _parallel_jobs() -> int:
    """How many runs the launcher executes at once on this machine (joblib's n_jobs)."""
    n = HydraConfig.get().launcher.get("n_jobs")
    if n is None:
        return 1
    n = int(n)
    if n < 0:  # joblib counts back from the cores: -1 is all of them
        n = (os.cpu_count() or 1) + 1 + n
    return max(1, n)


@hydra.main(config_path=CONFIG_PATH, config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        return run(cfg, out_dir, parallel_jobs=_parallel_jobs())
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except Interrupted as e:
        print(str(e), file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    scratch = None
    if env_rank() > 0:
        scratch = tempfile.mkdtemp(prefix="gcfa-rank")
        sys.argv += [f"hydra.run.dir={scratch}", "hydra.output_subdir=null", "hydra/job_logging=none",
                     "hydra/hydra_logging=none"]
    try:
        main()
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
