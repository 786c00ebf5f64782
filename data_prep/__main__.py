"""`python -m data_prep dataset=<name>`: build the processed dataset (a no-op when up to date)."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from data_prep.config import CONFIG_PATH, PrepConfig, check_composed, register_configs
from data_prep.errors import UserError
from data_prep.pipeline import prepare

register_configs()


@hydra.main(config_path=CONFIG_PATH, config_name="prep", version_base="1.3")
def main(cfg: DictConfig) -> str:
    try:
        check_composed(cfg, PrepConfig)
        out = prepare(cfg)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"processed dataset: {out}")
    return str(out)


if __name__ == "__main__":
    main()
