"""Resumable Optuna searches.

`hparams_search=<model>` keeps its study in `<sweep dir>/optuna.db` (SQLite). Run the same command
again after an interruption and the search continues where it stopped: the trials already finished
are kept, the one cut off is marked failed (Optuna's TPE ignores failed trials) and run again, and
`hydra.sweeper.n_trials` counts the trials of the whole search, not of this call. After each batch
of trials the sampler's random state is saved beside the study (`optuna_sampler.json`), keyed by the
number of trials asked so far, so a resumed search proposes exactly the trials an uninterrupted one
would have: with deterministic runs, it ends with the same trials and the same winner.

The Optuna sweeper plugin (hydra-optuna-sweeper 1.3, pinned) has no resume of its own, and Hydra
accepts sweeper classes only from its `hydra_plugins` package, so `install()` wraps the plugin's
`sweep` method; the private attributes it touches are checked against the pinned versions here.
The `ResumableSearch` callback of `conf/hparams_search/common.yaml` installs it as a search starts,
so runs that are not searches never import Optuna (about 2 s of every start).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from hydra.experimental.callback import Callback

from data_prep.store import atomic_write_text

log = logging.getLogger(__name__)

STATE = "optuna_sampler.json"
INTERRUPTED = "interrupted"


def _encode(rng: np.random.RandomState) -> list:
    name, keys, pos, has_gauss, gauss = rng.get_state()
    return [name, keys.tolist(), int(pos), int(has_gauss), float(gauss)]


def _decode(state: list) -> tuple:
    name, keys, pos, has_gauss, gauss = state
    return name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss


def _rngs(sampler: Any) -> dict[str, np.random.RandomState]:
    """The random states a sampler draws from (TPE: its own and its random start's)."""
    out = {}
    if isinstance(getattr(sampler, "_rng", None), np.random.RandomState):
        out["own"] = sampler._rng
    inner = getattr(sampler, "_random_sampler", None)
    if isinstance(getattr(inner, "_rng", None), np.random.RandomState):
        out["random_start"] = inner._rng
    return out


def _restore(sampler: Any, saved: dict[str, list]) -> None:
    for key, rng in _rngs(sampler).items():
        rng.set_state(_decode(saved[key]))


def cut_off(trial: Any) -> bool:
    """Whether a trial was cut off by an interruption (running when the search stopped, or marked
    so by a resume): it does not count toward the search's budget."""
    from optuna.trial import TrialState

    return bool(trial.user_attrs.get(INTERRUPTED)) or trial.state == TrialState.RUNNING


def resume_study(impl: Any, sweep_dir: Path) -> None:
    """Prepare the sweeper `impl` to continue the study in its storage, if it has trials."""
    import optuna
    from optuna.trial import TrialState

    try:
        study = optuna.load_study(study_name=impl.study_name, storage=impl.storage)
    except KeyError:  # no study of that name yet: a new search
        return
    trials = study.trials
    if not trials:
        return
    for t in trials:
        if t.state == TrialState.RUNNING:  # cut off by the interruption
            study._storage.set_trial_user_attr(t._trial_id, INTERRUPTED, True)
            study._storage.set_trial_state(t._trial_id, TrialState.FAIL)
    lost = sum(map(cut_off, trials))
    impl._gcfa_lost = lost
    done = len(trials) - lost
    total = impl.n_trials
    impl.n_trials = max(0, total - done)
    impl.job_idx = len(trials)  # new trials get new run directories
    saved = json.loads((sweep_dir / STATE).read_text()).get(str(done)) if (sweep_dir / STATE).exists() else None
    if saved is not None:
        _restore(impl.sampler, saved)
    else:
        log.warning("%s: no sampler state after %d trials: the rest of the search is valid but may "
                    "differ from an uninterrupted one", sweep_dir / STATE, done)
    log.info("resuming the search in %s: %d of %d trials done, %d to go", sweep_dir, done, total, impl.n_trials)


def _save_state(impl: Any, sweep_dir: Path, asked: int) -> None:
    path = sweep_dir / STATE
    states = json.loads(path.read_text()) if path.exists() else {}
    states[str(asked)] = {k: _encode(r) for k, r in _rngs(impl.sampler).items()}
    atomic_write_text(path, json.dumps(states))


def _resumable_sweep(original):
    def sweep(self, arguments: list[str]) -> None:
        if not self.storage:
            return original(self, arguments)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if not (sweep_dir / STATE).exists():
            _save_state(self, sweep_dir, 0)
        resume_study(self, sweep_dir)
        launch = self.launcher.launch

        def launch_and_save(overrides, initial_job_idx):
            # the trials of this batch are asked: save the state that follows them, under the
            # number of trials a resumed search will have asked at that point
            done_before = initial_job_idx - getattr(self, "_gcfa_lost", 0)
            _save_state(self, sweep_dir, done_before + len(overrides))
            return launch(overrides, initial_job_idx=initial_job_idx)

        self.launcher.launch = launch_and_save
        return original(self, arguments)

    sweep._gcfa_resumable = True
    return sweep


def install() -> None:
    """Make the Optuna sweeper resume a study kept in storage (idempotent)."""
    import optuna
    from hydra_plugins.hydra_optuna_sweeper import _impl

    if getattr(_impl.OptunaSweeperImpl.sweep, "_gcfa_resumable", False):
        return
    sampler = optuna.samplers.TPESampler(seed=0)
    if not optuna.__version__.startswith("2.10.") or set(_rngs(sampler)) != {"own", "random_start"}:
        raise RuntimeError(f"gcfa_dgl.search_resume was written for optuna 2.10 (found {optuna.__version__}); "
                           "see pyproject.toml for the pinned versions")
    # Hydra's plugin scan executes plugin modules again but skips `_`-prefixed ones such as
    # `_impl`, so this survives any later scan; `ResumableSearch` calls it before the sweeper is built.
    _impl.OptunaSweeperImpl.sweep = _resumable_sweep(_impl.OptunaSweeperImpl.sweep)


class ResumableSearch(Callback):
    """Hydra callback: makes the Optuna sweeper resumable when a multirun starts, before Hydra
    builds the sweeper."""

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        install()
