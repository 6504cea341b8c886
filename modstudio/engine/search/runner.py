"""A search: Optuna samples each trial's values, the project with those values trains in a worker process
(the one ``modstudio train`` uses, so each trial is a normal run folder), its epochs feed Optuna's pruner
and its result becomes the trial's objective values.

Optuna does the scheduling: ``study.optimize`` with ``n_jobs`` threads, each waiting on its own worker
process; TPE for one objective, NSGA-II for several; the study in an RDB storage that several processes
(machines) may share, with heartbeats so that a trial whose process died is marked failed.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from modstudio.blocks import default_catalog
from modstudio.engine.client import TrainClient
from modstudio.engine.errors import EngineError
from modstudio.engine.protocol import Epoch, Finished, Started
from modstudio.engine.search.costs import network_costs, trial_problems
from modstudio.engine.search.study import DIRECTIONS, TrialRow, opened, trial_row
from modstudio.engine.settings import TrainSettings
from modstudio.engine.threads import usable_cores
from modstudio.graph.document import OperationError
from modstudio.graph.io import process_exists
from modstudio.graph.model import Project, SearchDimension
from modstudio.graph.search_ops import with_values

if TYPE_CHECKING:
    import optuna

HEARTBEAT_S = 10  # a running trial tells the storage it is alive this often
GRACE_S = 60  # a trial of another process silent this long is marked failed
POPULATION = 8  # NSGA-II's generation size: small searches still evolve
PRUNE_AFTER_TRIALS = 4  # the median pruner compares a trial with at least this many finished ones
PRUNE_AFTER_EPOCHS = 2  # and never stops a trial before its second epoch (epochs count from 1)


class SearchError(Exception):
    """A search that cannot start (its study is another search's, a bad option); the message says why."""


class TrialFailed(Exception):
    """A trial that could not train (its values, the worker); Optuna marks it FAIL and the search goes on."""


@dataclass
class SearchOptions:
    trials: int
    objectives: list[str]
    storage: str
    study_name: str
    jobs: int = 1
    timeout: float | None = None
    epochs: int | None = None
    device: str | None = None
    seed: int | None = None


def default_jobs() -> int:
    """One job per two cores, at least one."""
    return max(1, (os.cpu_count() or 1) // 2)


@dataclass
class Search:
    """One process's share of a study; ``report`` gets each trial as it ends (from a job's thread)."""

    project: Project
    project_path: Path
    options: SearchOptions
    report: Callable[[TrialRow], None] = lambda row: None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _killing: threading.Event = field(default_factory=threading.Event)

    @property
    def dimensions(self) -> list[SearchDimension]:
        return list(self.project.search.dimensions) if self.project.search is not None else []

    @property
    def prunes(self) -> bool:
        """Optuna prunes single-objective studies only, and only by a curve (accuracy or loss)."""
        return len(self.options.objectives) == 1 and self.options.objectives[0] in ("accuracy", "loss")

    def open_study(self) -> optuna.Study:
        """The study (created, or loaded to resume), its trials left RUNNING by a dead process of this
        machine marked FAIL; raises SearchError when it optimises other objectives."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        storage = self._storage()
        directions = [DIRECTIONS[o] for o in self.options.objectives]
        if len(directions) == 1:
            sampler: optuna.samplers.BaseSampler = optuna.samplers.TPESampler(seed=self.options.seed)
        else:
            sampler = optuna.samplers.NSGAIISampler(population_size=POPULATION, seed=self.options.seed)
        pruner = optuna.pruners.MedianPruner(PRUNE_AFTER_TRIALS, PRUNE_AFTER_EPOCHS)
        study = optuna.create_study(
            storage=storage,
            study_name=self.options.study_name,
            directions=directions,
            sampler=sampler,
            pruner=pruner,
            load_if_exists=True,
        )
        known = study.user_attrs.get("objectives")
        if known is None:
            study.set_user_attr("objectives", list(self.options.objectives))
        elif list(known) != list(self.options.objectives):
            raise SearchError(
                f"the study '{self.options.study_name}' optimises {','.join(known)}, not "
                f"{','.join(self.options.objectives)}: give those objectives, or another --storage"
            )
        fail_dead_trials(study)
        return study

    def _storage(self) -> optuna.storages.RDBStorage:
        """The storage; a process that opens a new SQLite file while another creates its tables retries."""
        import optuna

        kwargs: dict[str, Any] = {"connect_args": {"timeout": 60}} if self.options.storage.startswith("sqlite") else {}
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna; they mark dead trials
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return opened(
                    self.options.storage,
                    lambda: optuna.storages.RDBStorage(
                        self.options.storage, engine_kwargs=kwargs, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S
                    ),
                )
        except Exception as exc:  # sqlalchemy: a bad URL, a missing driver, a server that does not answer
            raise SearchError(f"cannot open the storage {self.options.storage}: {exc}") from None

    def run(self, study: optuna.Study) -> int:
        """Run trials until the study has ``trials`` of them (or the timeout, or ``stop``); returns how many
        this process ran."""
        import optuna
        from optuna.trial import TrialState

        counted = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        remaining = self.options.trials - len(study.get_trials(deepcopy=False, states=counted))
        if remaining <= 0:
            return 0
        ran = 0

        def ended(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            nonlocal ran
            ran += 1
            if self._stopping.is_set():
                study.stop()  # here, in the job's thread, before Optuna starts another trial
            self.report(trial_row(trial))

        # a trial running in another process counts: the last trials are not started twice
        enough = optuna.study.MaxTrialsCallback(self.options.trials, states=(*counted, TrialState.RUNNING))
        study.optimize(
            self._objective,
            n_trials=remaining,
            timeout=self.options.timeout,
            n_jobs=self.options.jobs,
            catch=(TrialFailed,),
            callbacks=[ended, enough],
        )
        return ran

    def stop(self) -> None:
        """Start no new trial; running ones stop at their next step (a checkpoint saved) and are marked
        failed ("stopped"). Only sets a flag: safe in a signal handler."""
        self._stopping.set()

    def kill(self) -> None:
        """End the running trials' workers at once."""
        self._stopping.set()
        self._killing.set()

    def _objective(self, trial: optuna.Trial) -> float | list[float]:
        import optuna

        if self._stopping.is_set():
            trial.study.stop()
            _fail(trial, "the search was stopped before this trial started")
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        values = {dim.target: suggest(trial, dim) for dim in self.dimensions}
        try:
            project = with_values(self.project, values, default_catalog())
        except OperationError as exc:
            _fail(trial, f"its values do not fit the project: {exc}")
        settings = self._settings()
        problems = trial_problems(project, settings, self.project_path)
        if problems:
            _fail(trial, "; ".join(problems))
        try:
            costs = network_costs(project)
        except (EngineError, ValueError) as exc:
            _fail(trial, str(exc))
        trial.set_user_attr("params", costs.params)
        trial.set_user_attr("flops", costs.flops)
        curve = self._train(trial, project, settings)
        if curve.pruned:
            raise optuna.TrialPruned(f"pruned after epoch {curve.epochs}")
        results = {
            "accuracy": curve.best_accuracy,
            "loss": curve.best_loss,
            "-params": costs.params,
            "-flops": costs.flops,
        }
        out: list[float] = []
        for name in self.options.objectives:
            value = results[name]
            if value is None or not math.isfinite(value):
                _fail(trial, f"the run gave no validation {name} (is there a validation split?)")
            out.append(float(value))
        return out[0] if len(out) == 1 else out

    def _settings(self) -> TrainSettings:
        threads = max(1, usable_cores() // max(1, self.options.jobs))
        return TrainSettings(
            epochs=self.options.epochs,
            device=self.options.device,
            threads=threads,
            live_views=False,
            progress_per_second=1.0,
            routing_period=60.0,
        )

    def _train(self, trial: optuna.Trial, project: Project, settings: TrainSettings) -> Curve:
        """Train the trial's project in a worker; its epochs go to the pruner (single objective)."""
        if self._stopping.is_set():
            _fail(trial, "the search was stopped before this trial started")
        client = TrainClient()
        curve = Curve()
        client.start(project, settings, self.project_path)
        trial.set_user_attr("worker_pid", client.pid)
        finished: Finished | None = None
        asked_to_stop = False
        while finished is None:
            if self._killing.is_set():
                client.kill()
            elif self._stopping.is_set() and not asked_to_stop:
                client.stop()
                asked_to_stop = True
            for message in client.poll(0.2):
                if isinstance(message, Started):
                    trial.set_user_attr("run_dir", message.run_folder)
                elif isinstance(message, Epoch):
                    curve.add(message)
                    if self.prunes and not curve.pruned:
                        value = message.val_score if self.options.objectives[0] == "accuracy" else message.val_loss
                        if value is not None and math.isfinite(value):
                            trial.report(value, message.epoch)
                            if trial.should_prune():
                                curve.pruned = True
                                client.stop()
                elif isinstance(message, Finished):
                    finished = message
        if finished.run_folder:
            trial.set_user_attr("run_dir", finished.run_folder)
        if finished.test_accuracy is not None:
            trial.set_user_attr("test_accuracy", finished.test_accuracy)
        if self._stopping.is_set() and not curve.pruned:
            _fail(trial, "stopped with the search")
        if finished.status == "failed":
            _fail(trial, f"training failed: {finished.error or finished.kind}")
        return curve


@dataclass
class Curve:
    """A trial's validation curve as its epochs arrive."""

    best_accuracy: float | None = None
    best_loss: float | None = None
    epochs: int = 0
    pruned: bool = False

    def add(self, epoch: Epoch) -> None:
        self.epochs = epoch.epoch  # counted from 1
        score = epoch.val_score
        if score is not None and math.isfinite(score):
            self.best_accuracy = score if self.best_accuracy is None else max(self.best_accuracy, score)
        if epoch.val_loss is not None and math.isfinite(epoch.val_loss):
            self.best_loss = epoch.val_loss if self.best_loss is None else min(self.best_loss, epoch.val_loss)


def suggest(trial: optuna.Trial, dim: SearchDimension) -> Any:
    """The trial's value of one dimension; the param is named by the target."""
    if dim.kind == "choice":
        return trial.suggest_categorical(dim.target, list(dim.choices))
    if dim.kind == "int":
        return trial.suggest_int(dim.target, int(dim.low), int(dim.high), step=int(dim.step or 1), log=dim.log)  # type: ignore[arg-type]
    return trial.suggest_float(dim.target, float(dim.low), float(dim.high), step=dim.step, log=dim.log)  # type: ignore[arg-type]


def _fail(trial: optuna.Trial, why: str) -> NoReturn:
    trial.set_user_attr("error", why)
    raise TrialFailed(why)


def fail_dead_trials(study: optuna.Study) -> list[int]:
    """Mark FAIL the RUNNING trials that a process of this machine left when it was killed or crashed
    (those of other machines: Optuna's heartbeat does it after the grace period); returns their numbers."""
    from optuna.trial import TrialState

    host, failed = socket.gethostname(), []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = trial.user_attrs.get("pid")
        if trial.user_attrs.get("host") != host or not isinstance(pid, int) or process_exists(pid):
            continue
        storage = study._storage  # optuna's public storage API, reached through the study
        storage.set_trial_user_attr(trial._trial_id, "error", "its search process ended before it finished")
        if storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
            failed.append(trial.number)
    return failed
