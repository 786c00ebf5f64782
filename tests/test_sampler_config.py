"""The `sampler/` config group: typed, validated, and turned into a working sampler."""

from __future__ import annotations

import pytest
from conftest import CONF
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from data_prep.errors import ConfigError
from gcfa_dgl.config import register_configs, validate_sampler
from gcfa_dgl.sampling import ImportanceSampler

register_configs()


def sampler_cfg(name: str, *overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=f"sampler/{name}", overrides=list(overrides)).sampler


@pytest.mark.parametrize("name, mode", [("importance", "weighted"), ("topk", "topk"),
                                        ("uniform", "uniform"), ("full", "full")])
def test_each_preset_builds_a_sampler(name, mode):
    s = sampler_cfg(name)
    validate_sampler(s)
    sampler = ImportanceSampler(OmegaConf.to_container(s.fanouts), mode=s.mode.value, alpha=s.alpha)
    assert sampler.mode == mode and sampler.num_layers == 2


def test_per_edge_type_fanouts():
    s = sampler_cfg("importance", "sampler.fanouts=[{rated_by:20,similar:5},10]")
    validate_sampler(s)
    assert s.fanouts[0]["rated_by"] == 20


@pytest.mark.parametrize("override, key", [
    ("sampler.fanouts=[0,10]", "sampler.fanouts[0]"),
    ("sampler.fanouts=[10,{ratez:3}]", "sampler.fanouts[1]"),
    ("sampler.fanouts=[]", "sampler.fanouts"),
    ("sampler.alpha=0", "sampler.alpha"),
    ("sampler.batch_size=0", "sampler.batch_size"),
    ("sampler.num_negatives=0", "sampler.num_negatives"),
])
def test_bad_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        validate_sampler(sampler_cfg("importance", override))


def test_bad_types_fail_at_composition():
    with pytest.raises(ConfigCompositionException, match="sampler.mode"):
        sampler_cfg("importance", "sampler.mode=sometimes")
    with pytest.raises(ConfigCompositionException, match="sampler.batch_size"):
        sampler_cfg("importance", "sampler.batch_size=many")


@pytest.mark.parametrize("override, want", [([], True), (["sampler.deterministic=false"], False)])
def test_the_trainer_builds_the_configured_sampler(tiny_processed, override, want):
    """`sampler.deterministic` (and the mode) reach the sampler that training uses."""
    from gcfa_dgl import trainer as T

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["experiment=tiny_synthetic",
                                                       f"paths.processed_dir={tiny_processed}", *override])
    data = T.load_data(cfg)
    sampler = T.make_sampler(cfg, data, T.build_model(cfg, data))
    assert (sampler.deterministic, sampler.mode) == (want, "weighted")
