"""`lit-dl sweep SWEEP.yaml`: a grid, random or Bayesian (Optuna TPE) search, each trial a normal
`lit-dl fit` run, with early termination (Hyperband, successive halving, median), several seeds
per configuration, local worker processes or a SLURM job array sharing one study, and resume.

The package: space.py (the sweep file), methods.py (samplers and pruners), study.py (the record:
an Optuna journal), trials.py and worker.py (running trials), local.py and slurm.py (where the
workers run), collect.py (what the sweep found), check.py (the parameters against the
experiment's parser), wandb_file.py (the same search for a W&B server).

The trials are `<root>/<name>/version_<n>`; `<root>/<name>/sweep_<k>/` is the sweep's record.
`--collect SWEEP_DIR` prints what a sweep found; `--resume SWEEP_DIR` runs what it has left.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any, Literal

from lit_dl.commands.sweep import check, collect, local, methods, slurm, trials
from lit_dl.commands.sweep import study as records
from lit_dl.commands.sweep.space import METHODS, SEED_KEY, Sweep, encode, flag, grid_points, load_sweep
from lit_dl.commands.sweep.wandb_file import wandb_sweep_file, write_wandb_sweep_file
from lit_dl.errors import UserError
from lit_dl.run.layout import DEFAULT_ROOT_DIR

__all__ = ["main", "load_sweep", "grid_points", "flag", "wandb_sweep_file", "build_parser"]


def build_parser():
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(
        exit_on_error=False,
        prog="lit-dl sweep",
        description="Grid, random or Bayesian search: each trial is a `lit-dl fit` run of its own; a compare table ends it. "
        "Flags after `--` go to every trial (lit-dl sweep sweep.yaml -- --trainer.max_epochs 3).",
    )
    parser.add_argument("grid", type=str | None, nargs="?", default=None, help="The sweep file: config, method, metric, parameters (see experiments/sweeps/).")
    parser.add_argument("--config", type=str, nargs="+", default=None, help="Experiment file(s) instead of the sweep file's 'config'.")
    parser.add_argument("--method", type=Literal[METHODS] | None, default=None, help="grid, random or bayes (default: the file's, else grid).")
    parser.add_argument("--count", type=int | None, default=None, help="Number of random or bayes trials (default: the file's 'count').")
    parser.add_argument("--seeds", type=int | None, default=None, help="Run each configuration with seeds 0..K-1 (seed_everything); its score is their mean.")
    parser.add_argument("--workers", type=int | None, default=None, help="Worker processes sharing the study (default 1); with --slurm, array tasks (default: one per trial).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the search's choices (not of the trials: --seeds for that).")
    parser.add_argument("--name", type=str | None, default=None, help="Experiment name of the trials (default: the file's 'name', else its stem).")
    parser.add_argument("--root", type=str | None, default=None, help="Run root (default: the experiment's trainer.default_root_dir).")
    parser.add_argument("--dry_run", action="store_true", help="Check the sweep file, print the trials' commands and stop.")
    parser.add_argument("--wandb_file", type=str | None, default=None, help="Also write the W&B sweep file here (with --dry_run: without running).")
    parser.add_argument("--sort", type=str | None, default=None, help="Sort the final table by this column (default: the sweep's metric).")
    parser.add_argument("--format", type=Literal["table", "markdown", "csv"], default="table", help="The final table's format.")
    parser.add_argument("--slurm", type=str | None, nargs="?", const="", default=None,
                        help="Run the workers as one SLURM job array; its value: sbatch flags in one string "
                        "(--slurm='--time 04:00:00 --ntasks-per-node 2 --gpus-per-node 2').")
    parser.add_argument("--max_concurrent", type=int | None, default=None, help="--slurm: at most this many array tasks at once (the array's %%N).")
    parser.add_argument("--wait", type=bool, default=True, help="--slurm: wait for the array and print the table (false: submit and return).")
    parser.add_argument("--collect", type=str | None, default=None, help="A sweep record (<root>/<name>/sweep_<k>): print its table, best trials and importances; write sweep.json.")
    parser.add_argument("--resume", type=str | None, default=None, help="A sweep record: run its trials that did not finish (interrupted ones continue their runs).")
    return parser


def main(argv: list[str]) -> None:
    from lit_dl.commands.compare import parse

    _need_optuna()
    argv = list(argv)
    split = argv.index("--") if "--" in argv else len(argv)
    argv, fit_args = argv[:split], argv[split + 1 :]
    args = parse(build_parser(), argv)
    given = [flag for flag, value in (("SWEEP.yaml", args.grid), ("--collect", args.collect), ("--resume", args.resume)) if value]
    if len(given) != 1:
        raise UserError("lit-dl sweep takes one of SWEEP.yaml, --collect SWEEP_DIR or --resume SWEEP_DIR; "
                        "e.g. lit-dl sweep experiments/sweeps/quickstart.yaml")
    for name in ("seeds", "workers", "count", "max_concurrent"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UserError(f"--{name} {getattr(args, name)} must be 1 or more")
    if args.grid:
        record = _start(args, fit_args)
        if record is None:
            return
    else:
        record = Path(args.collect or args.resume)
        records.load(record)  # a one-line error for a folder that is not a sweep record
    if args.resume:
        _prepare_resume(record)
    if not args.collect and not _execute(record, args):
        return
    _finish(record, args)


def _need_optuna() -> None:
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise UserError("lit-dl sweep runs its studies with Optuna, which is not installed; "
                        "pip install 'lit-dl[sweep]' (or: pip install 'optuna>=5,<6')") from None


# -- starting -----------------------------------------------------------------------------------
def _start(args: Any, fit_args: list[str]) -> Path | None:
    """A new sweep: the file checked, its study created with every trial queued (None: a dry run)."""
    path = Path(args.grid)
    sweep = load_sweep(path, configs=args.config, method=args.method, count=args.count, name=args.name)
    seeds = list(range(args.seeds)) if args.seeds else None
    if seeds and SEED_KEY in sweep.parameters:
        raise UserError(f"{path} sweeps {SEED_KEY} and --seeds gives seeds too; drop one of them")
    pruner = methods.pruner_spec(sweep.early_terminate, str(path))
    root = args.root or default_root(sweep.configs)
    command = trials.base_command(sweep.configs, str(Path(root).resolve()), sweep.name, sweep.metric["name"], fit_args)
    check.check_parameters(path, sweep, command, seeds)
    slots = [{key: encode(value) for key, value in point.items()} for point in grid_points(sweep)] if sweep.method == "grid" else [{}] * sweep.count
    if args.wandb_file:
        write_wandb_sweep_file(Path(args.wandb_file), sweep, fit_args, seeds)
    settings = _settings(sweep, args, command, pruner, seeds, len(slots))
    if args.dry_run:
        _print_dry_run(sweep, settings)
        return None
    record = next_sweep_dir(Path(root) / sweep.name)
    record.mkdir(parents=True)
    settings["wandb_file"] = str(write_wandb_sweep_file(record / "wandb_sweep.yaml", sweep, fit_args, seeds))
    records.create(record, settings, slots)
    per_trial = f", {len(seeds)} seeds each" if seeds else ""
    print(f"sweep {sweep.name}: {len(slots)} {sweep.method} trial(s){per_trial}; record in {record}", flush=True)
    return record


def _settings(sweep: Sweep, args: Any, command: list[str], pruner: Any, seeds: list[int] | None, slots: int) -> dict[str, Any]:
    """What every worker needs, kept in the study."""
    from lit_dl.commands.compare import short_names

    searched = sweep.searched
    varying = [key for key in searched if sweep.method != "grid" or len({repr(p[key]) for p in grid_points(sweep)}) > 1]
    shown = varying or list(sweep.parameters)
    return {
        "name": sweep.name, "method": sweep.method, "metric": sweep.metric, "slots": slots, "seeds": seeds,
        "seed": args.seed, "pruner": pruner, "command": command, "fixed": sweep.fixed, "searched": searched,
        "parameters": sweep.parameters, "short_names": short_names(shown, list(sweep.parameters)),
        "workers": args.workers, "slurm": args.slurm, "job": None, "wandb_file": None,
    }


def _print_dry_run(sweep: Sweep, settings: dict[str, Any]) -> None:
    from lit_dl.commands.sweep.space import describe
    from lit_dl.commands.sweep.worker import describe as label

    shown = ["lit-dl", *settings["command"][3:]]
    seeds = settings["seeds"]
    each = f"  (once for each of --{SEED_KEY}={','.join(map(str, seeds))})" if seeds else ""
    if sweep.method == "grid":
        for i, point in enumerate(grid_points(sweep)):
            values = {**sweep.fixed, **point}
            print(f"trial {i + 1}/{settings['slots']}  {label(values, settings)}")
            print("  " + shlex.join([*shown, *(flag(k, v) for k, v in values.items())]) + each)
        return
    ranges = ", ".join(f"{key} ~ {describe(spec)}" for key, spec in sweep.searched.items())
    print(f"{settings['slots']} {sweep.method} trials, each drawing {ranges}")
    print("  " + shlex.join([*shown, *(flag(k, v) for k, v in sweep.fixed.items())]) + " --KEY=VALUE..." + each)


def default_root(configs: list[Path]) -> str:
    """The run root the trials would pick: the last experiment file's trainer.default_root_dir."""
    import yaml

    root = DEFAULT_ROOT_DIR
    for config in configs:
        root = ((yaml.safe_load(config.read_text()) or {}).get("trainer") or {}).get("default_root_dir") or root
    return str(root)


def next_sweep_dir(experiment_dir: Path) -> Path:
    taken = [int(p.name.split("_", 1)[1]) for p in experiment_dir.glob("sweep_*") if p.name.split("_", 1)[1].isdigit()]
    return experiment_dir / f"sweep_{max(taken, default=-1) + 1}"


# -- running ------------------------------------------------------------------------------------
def _prepare_resume(record: Path) -> None:
    """Queue again what did not finish: trials whose worker died, and failed trials."""
    study, settings = records.load(record)
    if settings.get("slurm") is not None and slurm.running(settings.get("job")):
        raise UserError(f"the sweep's job array {settings['job']} still runs; wait for it (squeue -j {settings['job']}) or scancel it, then --resume")
    orphans = records.requeue_orphans(study, record)
    failed = records.retry_failed(study)
    waiting = sum(records.status(trial) == "pending" for trial in records.latest_attempts(study))
    print(f"resuming {record}: {len(orphans)} interrupted and {len(failed)} failed trial(s) queued again; {waiting} to run", flush=True)


def _execute(record: Path, args: Any) -> bool:
    """Run the queued trials here or on SLURM; False when a SLURM array was left running."""
    study, settings = records.load(record)
    sbatch_flags = args.slurm if args.slurm is not None else settings.get("slurm")
    workers = args.workers or settings.get("workers")
    if sbatch_flags is None:
        local.run_workers(record, workers or 1)
        return True
    waiting = sum(records.status(trial) == "pending" for trial in records.latest_attempts(study))
    if waiting:
        tasks = min(workers or waiting, waiting)
        job = slurm.submit(record, settings["name"], tasks, sbatch_flags, args.max_concurrent)
        study.set_user_attr(records.SETTINGS, {**settings, "slurm": sbatch_flags, "job": job})
        print(f"submitted job array {job}: {tasks} worker(s) for {waiting} trial(s); logs in {record}", flush=True)
    else:
        job = settings.get("job")
    later = f"job array {job} keeps running; when it is done: lit-dl sweep --collect {record}"
    if not args.wait:
        print(later, flush=True)
        return False
    try:
        slurm.wait(job) if job else None
    except KeyboardInterrupt:
        print(f"\n{later}", flush=True)
        raise SystemExit(130) from None
    return True


def _finish(record: Path, args: Any) -> None:
    """The compare table of the finished trials, the best trials and importances; sweep.json."""
    from lit_dl.commands import compare
    from lit_dl.commands.sweep.worker import describe

    study, settings = records.load(record)
    rows = collect.trial_rows(study, record)
    found = collect.summary(study, settings, rows)
    records.write_json(record / "trials.json", rows)
    records.write_json(record / "sweep.json", found)
    finished = [run for row in rows if row["status"] in ("completed", "pruned") for run in row["run_dirs"]]
    metric = settings["metric"]["name"]
    if finished:
        print()
        grouped = ["--group"] if settings["seeds"] and len(settings["seeds"]) > 1 else []
        compare.main([*finished, "--metric", metric, "--sort", args.sort or metric, "--format", args.format, *grouped])
    collect.print_summary(found, settings)
    unfinished = [row for row in rows if row["status"] not in ("completed", "pruned")]
    for row in unfinished:
        shown = describe(row["params"] or {}, settings)
        print(f"{row['status']}: trial {row['index'] + 1} ({shown}): {row['error'] or 'not run yet'}", file=sys.stderr)
    print(f"W&B sweep file: {settings['wandb_file']}  (wandb sweep {settings['wandb_file']}, then wandb agent SWEEP_ID)", flush=True)
    if unfinished:
        raise SystemExit(1)
