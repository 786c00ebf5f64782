"""`python -m gcfa_dgl.train [overrides]`: train and evaluate one run (`-m`: a sweep).

Returns the best validation value of `train.monitor`, which Hydra sweepers optimise.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from data_prep.errors import UserError
from gcfa_dgl.config import register_configs

register_configs()


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    from gcfa_dgl.trainer import Interrupted, run

    out_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        return run(cfg, out_dir)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except Interrupted as e:
        print(str(e), file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
