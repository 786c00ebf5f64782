"""The `sampler/` config group: typed, validated, and turned into a working sampler."""

from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException

from data_prep.config import CONFIG_PACKAGE
from data_prep.errors import ConfigError
from gcfa_dgl.config import register_configs, validate_sampler
from gcfa_dgl.factory import build_model, layer_fanouts, load_data, make_sampler, training_scope
from gcfa_dgl.sampling import ImportanceSampler

register_configs()


def sampler_cfg(name: str, *overrides: str):
    with initialize_config_module(CONFIG_PACKAGE, version_base="1.3"):
        return compose(config_name=f"sampler/{name}", overrides=list(overrides)).sampler


def train_cfg(*overrides: str):
    with initialize_config_module(CONFIG_PACKAGE, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


@pytest.mark.parametrize("name, mode", [("importance", "weighted"), ("topk", "topk"),
                                        ("uniform", "uniform"), ("full", "full")])
def test_each_preset_builds_a_sampler_as_deep_as_the_model(name, mode):
    cfg = train_cfg(f"sampler={name}")
    validate_sampler(cfg.sampler)
    sampler = ImportanceSampler(layer_fanouts(cfg), mode=cfg.sampler.mode.value, alpha=cfg.sampler.alpha)
    assert sampler.mode == mode and sampler.num_layers == cfg.model.propagation_layers == 2


@pytest.mark.parametrize("overrides, fanouts", [
    (["model.propagation_layers=3"], [10, 10, 10]),  # one entry serves every layer
    (["model.propagation_layers=0"], [10]),  # the history attention still reads one block
    (["sampler.fanouts=[20,5]"], [20, 5]),  # one entry per layer
    (["model=graphrec"], [10, 10]),  # its social aggregation reads two hops
    (["model=gcmc"], [10]),
    (["model=lightgcn"], []),  # propagates over the whole graph: no sampled blocks
])
def test_the_model_alone_sets_the_depth(overrides, fanouts):
    assert layer_fanouts(train_cfg(*overrides)) == fanouts


@pytest.mark.parametrize("overrides", [["sampler.fanouts=[5,5,5]"], ["model.propagation_layers=1", "sampler.fanouts=[5,5]"],
                                       ["model=gcmc", "sampler.fanouts=[5,5]"]])
def test_a_fanout_list_of_another_depth_names_the_key(overrides):
    with pytest.raises(ConfigError, match="sampler.fanouts: has 2 entries|sampler.fanouts: has 3 entries"):
        layer_fanouts(train_cfg(*overrides))


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
    with initialize_config_module(CONFIG_PACKAGE, version_base="1.3"):
        cfg = compose(config_name="config", overrides=["experiment=tiny_synthetic",
                                                       f"paths.processed_dir={tiny_processed}", *override])
    data = load_data(cfg)
    sampler = make_sampler(cfg, data, build_model(cfg, data))
    assert (sampler.deterministic, sampler.mode) == (want, "weighted")


@pytest.mark.parametrize("override, want", [
    (["sampler.batch_size=512"], "graph"),  # a batch of 512 pairs of 300 users x 200 videos reaches them all
    (["sampler.batch_size=1", "sampler.num_negatives=1"], "blocks"),  # one pair reaches a small part
    (["sampler.batch_size=512", "sampler.graph_share=1.0", "sampler.fanouts=[1]"], "blocks"),
    (["sampler.batch_size=1", "sampler.scope=graph"], "graph"),  # a set scope is kept
    (["sampler.batch_size=512", "model.propagation_layers=0"], "blocks"),  # one layer: nothing to share
])
def test_auto_scope_follows_the_share_of_nodes_a_batch_reaches(tiny_processed, override, want):
    with initialize_config_module(CONFIG_PACKAGE, version_base="1.3"):
        cfg = compose(config_name="config", overrides=["experiment=tiny_synthetic",
                                                       f"paths.processed_dir={tiny_processed}", *override])
    data = load_data(cfg)
    model = build_model(cfg, data)
    state = torch.random.get_rng_state()
    assert training_scope(cfg, data, model) == want
    assert torch.equal(torch.random.get_rng_state(), state)  # the probe leaves the random state alone
