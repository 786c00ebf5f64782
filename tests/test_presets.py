"""Every experiment and ablation preset composes into a valid config, and each ablation changes
exactly what its name says."""

from __future__ import annotations

import pytest
from conftest import CONF
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from data_prep.config import CONFIG_PACKAGE
from gcfa_dgl.config import register_configs, validate

register_configs()

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
ABLATIONS = sorted(p.stem for p in (CONF / "ablation").glob("*.yaml"))


def config(*overrides: str):
    with initialize_config_module(CONFIG_PACKAGE, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def flat(cfg) -> dict:
    c = OmegaConf.to_container(cfg, resolve=False)
    return {f"{g}.{k}": str(v) for g in ("model", "sampler") for k, v in c[g].items()}


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_presets_validate(name):
    validate(config(f"experiment={name}"))


@pytest.mark.parametrize("name", ABLATIONS)
def test_ablation_presets_validate_and_change_gcfa_only_where_named(name):
    ref = flat(config("experiment=ablation", "ablation=full"))
    cfg = config("experiment=ablation", f"ablation={name}")
    validate(cfg)
    assert cfg.model.name == "gcfa"
    changed = {k for k, v in flat(cfg).items() if ref.get(k) != v}
    expected = {
        "full": set(),
        "uniform": {"sampler.mode", "sampler.eval_mode"},  # the control samples uniformly in evaluation too
        "topk": {"sampler.mode"},  # evaluation takes the k tightest in every variant already
        "weighted_agg": {"model.aggregator"},
        "mean_agg": {"model.aggregator"},
        "no_attention": {"model.attention"},
        "no_opinion": {"model.opinion"},
        "no_info": {"model.info_edges"},
        "no_social": {"model.social_edges"},
        "layers0": {"model.propagation_layers"},  # the depth alone: the fanout serves every layer
        "layers1": {"model.propagation_layers"},
        "layers3": {"model.propagation_layers", "sampler.fanouts"},  # a smaller fanout on the third hop
        "dot_predictor": {"model.predictor"},
    }[name]
    assert changed == expected


def test_recbole_preset_filters_ratings_under_its_own_name():
    cfg = config("experiment=recbole_ml1m_bpr")
    assert (cfg.model.name, cfg.model.lr, cfg.model.l2) == ("bpr", 0.001, 0.0)
    assert cfg.dataset.implicit_threshold == 3 and cfg.dataset.name != "ml1m_notime"
    assert cfg.dataset.split.kind.value == "ratio" and list(cfg.dataset.split.ratios) == [0.8, 0.1, 0.1]


def test_recbole_lightgcn_preset_keeps_the_setting_and_sets_the_published_hyperparameters():
    base = config("experiment=recbole_ml1m", "model=lightgcn")
    assert (base.model.lr, base.model.l2) == (config("model=lightgcn").model.lr, 1e-4)  # the model's own
    cfg = config("experiment=recbole_ml1m_lightgcn")
    assert cfg.model.name == "lightgcn" and (cfg.model.lr, cfg.model.l2, cfg.model.layers) == (0.002, 1e-4, 3)
    for key in ("dataset", "sampler", "train", "eval"):
        assert cfg[key] == base[key], key


@pytest.mark.parametrize("name", ["simgcl", "xsimgcl"])
def test_recbole_contrastive_presets_set_the_published_hyperparameters(name):
    cfg = config(f"experiment=recbole_ml1m_{name}")
    validate(cfg)
    m = cfg.model
    assert m.name == name and (m.lr, m.l2, m.layers) == (0.002, 1e-4, 2)
    want = {"simgcl": (0.05, 1e-5, 0.1), "xsimgcl": (0.2, 0.1, 0.2)}[name]
    assert (m.cl_temperature, m.cl_weight, m.eps) == want
    assert cfg.dataset.implicit_threshold == 3 and cfg.train.monitor == "full/mrr@10"


@pytest.mark.parametrize("overrides, ok", [
    (["model=bpr"], True), (["model=lightgcn"], True), (["model=xsimgcl"], True),
    (["model=gcfa", "model.predictor=dot"], True), (["model=gcfa"], False), (["model=neumf"], False),
])
def test_ccl_is_refused_before_data_for_a_model_that_does_not_score_by_dot_product(overrides, ok):
    from data_prep.config import ConfigError
    from gcfa_dgl.factory import objective_name

    cfg = config(*overrides, "model.objective=ccl")
    if ok:
        assert objective_name(cfg) == "ccl"
    else:
        with pytest.raises(ConfigError, match="config key model.objective: ccl needs cosine scores"):
            objective_name(cfg)


@pytest.mark.parametrize("hidden, ok", [("[32,16,8]", True), ("null", True), ("[]", False), ("[32,0]", False)])
def test_neumf_tower_sizes_are_checked_before_data(hidden, ok):
    from data_prep.config import ConfigError

    cfg = config("model=neumf", f"model.hidden={hidden}")
    if ok:
        validate(cfg)
    else:
        with pytest.raises(ConfigError, match="model.hidden"):
            validate(cfg)


SEARCHES = sorted(p.stem for p in (CONF / "hparams_search").glob("*.yaml") if p.stem != "common")


def test_every_learned_model_has_a_search():
    from gcfa_dgl.config import MODEL_SCHEMAS

    assert set(SEARCHES) == set(MODEL_SCHEMAS) - {"pop", "ease"}  # the closed-form ones pick λ themselves


@pytest.mark.parametrize("name", SEARCHES)
def test_a_search_sets_its_model_and_searches_only_keys_that_exist(name):
    with initialize_config_module(CONFIG_PACKAGE, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"hparams_search={name}", "experiment=table1"],
                      return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert cfg.model.name == name and sweeper.n_trials == 20 and sweeper.direction == "maximize"
    assert sweeper.sampler.seed == cfg.seed and cfg.train.monitor == "full/ndcg@20"  # validation only
    params = dict(sweeper.params)
    assert {"model.lr", "model.l2", "model.objective", "sampler.num_negatives"} <= set(params)
    for key in params:
        group, _, field = key.partition(".")
        assert field in cfg[group], key
    if "ccl" in params["model.objective"]:  # ccl only where the model scores by dot product
        from gcfa_dgl.factory import objective_name

        cfg.model.objective = "ccl"
        assert objective_name(cfg) == "ccl"


@pytest.mark.parametrize("name", SEARCHES)
def test_every_value_a_search_can_draw_passes_the_checks_made_before_data(name):
    """A trial whose settings are refused ends the whole study, so each choice and each interval's
    ends must pass validation (one key changed at a time, the rest at the experiment's values)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from gcfa_dgl.factory import objective_name

    with initialize_config_module(CONFIG_PACKAGE, version_base="1.3"):
        overrides = [f"hparams_search={name}", "experiment=table1"]
        params = compose(config_name="config", overrides=overrides, return_hydra_config=True).hydra.sweeper.params
        base = compose(config_name="config", overrides=overrides)
    params = OmegaConf.to_container(params)
    parser = OverridesParser.create()
    for key, spec in params.items():
        override = parser.parse_override(f"{key}={spec}")
        if override.is_interval_sweep():
            values = [override.value().start, override.value().end]
        else:
            values = list(override.sweep_iterator())
        assert values, key
        for v in values:
            cfg = base.copy()
            OmegaConf.update(cfg, key, v, merge=False)
            validate(cfg)
            objective_name(cfg)
