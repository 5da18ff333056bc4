"""Which run directory a command works in: `resolve_run(request, environment) -> RunPlan`.

Pure: it reads the runs on disk and the environment it is given, and writes nothing; the CLI
creates the directory the plan names. The rules (DESIGN.md, "The run directory"):
- the experiment name is `--name`, else the first config file's stem, else "default"; a run's
  own saved config.yaml reruns under that run's experiment name;
- `fit` without a checkpoint starts a new version; `--ckpt_path last|best` means the newest
  run of the experiment, and it is an error if that run has no such checkpoint (never a
  fallback to an older run), except that `fit --ckpt_path last` on a newest run that was
  stopped (killed, interrupted) before its first save trains that run again from its start;
- a checkpoint inside a run directory is continued or evaluated in that run's directory;
- a requeued SLURM job continues the run it started; a DDP process started by rank zero
  shares rank zero's run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lit_dl.errors import UserError
from lit_dl.run import layout, slurm
from lit_dl.run.environment import Environment
from lit_dl.run.results import read_results

EVALUATING = ("validate", "test", "predict")
NEW_RUN_COMMANDS = ("fit", "lr_find")  # without a checkpoint, each starts a new version


@dataclass(frozen=True)
class RunRequest:
    command: str  # fit | validate | test | predict | lr_find
    root_dir: Path
    name: str | None = None  # --name
    config_files: Sequence[str] = ()
    ckpt_path: str | None = None  # as given: PATH, "last", "best" or None
    config_text: str = ""  # the resolved config, to recognise a requeued SLURM job's run


@dataclass(frozen=True)
class RunPlan:
    experiment: str
    experiment_dir: Path
    run_dir: Path | None  # None: a new run whose version rank zero reserves
    checkpoint: Path | None = None  # resumed or evaluated
    new_run: bool = False  # this fit (or lr-find) creates the run (and writes its config.yaml)


def resolve_run(request: RunRequest, environment: Environment) -> RunPlan:
    experiment = experiment_name(request.name, request.config_files)
    experiment_dir = Path(request.root_dir) / experiment
    restarted = _stopped_before_its_first_save(request, experiment_dir)
    if restarted is not None:
        run_dir = restarted if environment.rank == 0 else _shared_run(environment, experiment_dir)
        return RunPlan(experiment, experiment_dir, run_dir)
    checkpoint = _checkpoint(request, environment, experiment_dir)
    owner = layout.run_dir_of_checkpoint(checkpoint) if checkpoint else None
    if owner is not None:  # a run's checkpoint is continued or evaluated in that run
        return RunPlan(owner.parent.name, owner.parent, owner, checkpoint)
    if environment.rank != 0:
        return RunPlan(experiment, experiment_dir, _shared_run(environment, experiment_dir), checkpoint)
    if request.command in NEW_RUN_COMMANDS:
        return RunPlan(experiment, experiment_dir, None, checkpoint, new_run=True)
    # A checkpoint from outside any run is evaluated in a run of its own, made only if written to.
    return RunPlan(experiment, experiment_dir, layout.version_dir(experiment_dir, layout.next_version(experiment_dir)), checkpoint)


def experiment_name(name: str | None, config_files: Sequence[str]) -> str:
    if name is not None:
        return check_name(name)
    if not config_files:
        return "default"
    first = Path(str(config_files[0]))
    saved_run = layout.run_dir_of_config(first)
    return saved_run.parent.name if saved_run is not None else first.stem


def check_name(name: str) -> str:
    """`--name` is one path component: the run must stay inside `default_root_dir`."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise UserError(f"--name {name!r} is not a valid experiment name; use one folder name without '/', e.g. --name my_experiment")
    if len(name.encode()) > 200:
        raise UserError(f"--name is {len(name.encode())} bytes long; use a name of at most 200 bytes")
    return name


def _checkpoint(request: RunRequest, environment: Environment, experiment_dir: Path) -> Path | None:
    given = request.ckpt_path
    if given is None and request.command in EVALUATING:
        raise UserError(f"lit-dl {request.command} needs weights to evaluate; pass --ckpt_path best, last or PATH")
    if given is None and environment.slurm_job and environment.slurm_restarted:
        requeued = slurm.job_run(experiment_dir, environment.slurm_job, with_checkpoint=True)
        return layout.latest_checkpoint(requeued) if requeued else None
    if given in ("last", "best"):
        return _newest_runs_checkpoint(experiment_dir, given)
    if given is not None and Path(given).is_dir():
        raise UserError(f"--ckpt_path {given} is a folder; pass a checkpoint file (a run keeps them in checkpoints/), or last or best")
    if given is not None and not Path(given).is_file():
        raise UserError(f"checkpoint not found: {given}; pass --ckpt_path an existing file, or last or best")
    return Path(given) if given is not None else None


def _stopped_before_its_first_save(request: RunRequest, experiment_dir: Path) -> Path | None:
    """The run `fit --ckpt_path last` trains again from its start: the newest run, when it has
    no checkpoint and was stopped (killed: still `running`; interrupted; or killed before its
    first record). A kill can come before the first save; the README's resume must still work."""
    if request.command != "fit" or request.ckpt_path != "last":
        return None
    run_dir = layout.newest_run(experiment_dir)
    if run_dir is None or layout.latest_checkpoint(run_dir) is not None:
        return None
    return run_dir if read_results(run_dir).get("status") in (None, "running", "interrupted") else None


def _newest_runs_checkpoint(experiment_dir: Path, which: str) -> Path:
    run_dir = layout.newest_run(experiment_dir)
    if run_dir is None:
        raise UserError(
            f"no run of '{experiment_dir.name}' under {experiment_dir.parent} to take the {which} checkpoint from; "
            "train one first, or pass --ckpt_path PATH"
        )
    if which == "last":
        found = layout.latest_checkpoint(run_dir)
    else:
        found = layout.best_checkpoint(run_dir, read_results(run_dir).get("best_checkpoint"))
    if found is None:
        raise UserError(
            f"the newest run of '{experiment_dir.name}', {run_dir}, has no {which} checkpoint (it stopped before its "
            "first save); pass --ckpt_path PATH to use an earlier run's checkpoint"
        )
    return found


def _shared_run(environment: Environment, experiment_dir: Path) -> Path | None:
    """The run a DDP process joins: rank zero's, passed down, or the one its SLURM job made."""
    if environment.inherited_run_dir is not None:
        return environment.inherited_run_dir
    if environment.slurm_job:
        marked = slurm.job_run(experiment_dir, environment.slurm_job)
        if marked is not None:
            return marked
    return layout.newest_run(experiment_dir)
