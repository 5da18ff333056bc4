"""`lit-dl sweep GRID.yaml`: a grid or random search, each trial a normal `lit-dl fit` run.

The grid file is a subset of a W&B sweep file:

    config: ../quickstart.yaml            # the experiment each trial starts from (relative to this file)
    method: grid                          # grid | random
    count: 8                              # random: how many trials
    metric: {name: val/loss, goal: minimize}
    parameters:                           # dotted config keys, as on the command line
      model.init_args.optimizer.init_args.lr: {values: [0.001, 0.003, 0.01]}
      seed_everything: {values: [0, 1]}
      trainer.max_epochs: {value: 5}
      # random only: {distribution: uniform | log_uniform_values | int_uniform, min: ..., max: ...}

Each trial runs in its own process, so a trial that fails (a bad value, a crash) is recorded and the
others go on. The trials are `<root>/<name>/version_<n>`; `<root>/<name>/sweep_<k>/` keeps the
sweep's record: trials.json, one log per trial, and wandb_sweep.yaml, the same search as a W&B sweep
whose command runs `lit-dl fit` (`wandb sweep wandb_sweep.yaml`, then `wandb agent SWEEP_ID`).

`--slurm [SBATCH FLAGS]` submits the trials as one SLURM job array instead (sweep_slurm.py);
`--collect SWEEP_DIR` prints the table of a sweep again (or of an array that finished later);
`--resume SWEEP_DIR` runs the trials of a sweep that did not finish, and only those.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from lit_dl.commands import sweep_slurm
from lit_dl.errors import UserError
from lit_dl.run.layout import DEFAULT_ROOT_DIR

METHODS = ("grid", "random")
DISTRIBUTIONS = ("uniform", "log_uniform_values", "int_uniform")
GRID_KEYS = {"config", "method", "count", "metric", "parameters", "name", "description"}
# Keys of a W&B sweep file that mean nothing to a local search; kept for the W&B file.
WANDB_ONLY_KEYS = {"project", "entity", "early_terminate", "run_cap", "program", "command"}
DEFAULT_METRIC = {"name": "val/loss", "goal": "minimize"}


@dataclass
class Trial:
    index: int
    params: dict[str, Any]
    status: str = "pending"  # ok | failed
    returncode: int | None = None
    run_dir: str | None = None
    log: str | None = None
    seconds: float | None = None
    error: str | None = None


@dataclass
class Sweep:
    name: str
    method: str
    configs: list[Path]
    parameters: dict[str, dict[str, Any]]  # each {"values": [...]}, {"value": x} or a distribution
    metric: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_METRIC))
    count: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # W&B-only keys, passed through


# -- the grid file ------------------------------------------------------------------------------
def load_sweep(path: Path, *, configs: list[str] | None = None, method: str | None = None,
               count: int | None = None, name: str | None = None) -> Sweep:
    """Read and check a grid file; the arguments given override its keys."""
    import yaml

    if not path.is_file():
        raise UserError(f"sweep file not found: {path}; pass a YAML file such as experiments/sweeps/quickstart.yaml")
    try:
        spec = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise UserError(f"cannot read {path}: {error}") from error
    if not isinstance(spec, dict):
        raise UserError(f"{path} must be a mapping with 'config' and 'parameters'")
    unknown = set(spec) - GRID_KEYS - WANDB_ONLY_KEYS
    if unknown:
        raise UserError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; a sweep file has {', '.join(sorted(GRID_KEYS))}")

    if configs:
        config_paths = [Path(c) for c in configs]
    else:
        listed = spec.get("config")
        if not listed:
            raise UserError(f"{path} names no experiment; add 'config: ../quickstart.yaml' or pass --config FILE")
        config_paths = [Path(os.path.normpath(path.parent / c)) for c in (listed if isinstance(listed, list) else [listed])]
    for config in config_paths:
        if not config.is_file():
            raise UserError(f"experiment file not found: {config}; 'config' in a sweep file is relative to the sweep file")

    method = method or spec.get("method", "grid")
    if method not in METHODS:
        raise UserError(f"{path}: method '{method}' is not run locally; use one of {', '.join(METHODS)}")
    parameters = spec.get("parameters") or {}
    if not isinstance(parameters, dict) or not parameters:
        raise UserError(f"{path} has no 'parameters'; add e.g. 'model.init_args.optimizer.init_args.lr: {{values: [0.001, 0.01]}}'")
    parameters = {str(key).removeprefix("--"): _parameter(str(key), value, method, path) for key, value in parameters.items()}
    count = count or spec.get("count") or spec.get("run_cap")
    if method == "random" and not count:
        raise UserError(f"{path}: a random search needs a trial count; add 'count: 10' or pass --count 10")
    metric = {**DEFAULT_METRIC, **(spec.get("metric") or {})}
    if metric["goal"] not in ("minimize", "maximize"):
        raise UserError(f"{path}: metric goal '{metric['goal']}' must be minimize or maximize")
    return Sweep(
        name=name or spec.get("name") or path.stem,
        method=method,
        configs=config_paths,
        parameters=parameters,
        metric=metric,
        count=int(count) if count else None,
        extra={key: spec[key] for key in ("project", "entity", "early_terminate", "description") if key in spec},
    )


def _parameter(key: str, value: Any, method: str, path: Path) -> dict[str, Any]:
    """One parameter in W&B's form; a plain list is shorthand for `values`, a scalar for `value`."""
    if isinstance(value, list):
        value = {"values": value}
    elif not isinstance(value, dict):
        value = {"value": value}
    if "values" in value:
        if not isinstance(value["values"], list) or not value["values"]:
            raise UserError(f"{path}: '{key}' values must be a non-empty list")
        return {"values": value["values"]}
    if "value" in value:
        return {"value": value["value"]}
    distribution = value.get("distribution")
    if distribution not in DISTRIBUTIONS or "min" not in value or "max" not in value:
        raise UserError(
            f"{path}: '{key}' needs 'values: [...]', 'value: x', or 'distribution: "
            f"{' | '.join(DISTRIBUTIONS)}' with 'min' and 'max'"
        )
    if method == "grid":
        raise UserError(f"{path}: '{key}' has a distribution, which a grid cannot enumerate; use 'values' or method: random")
    if distribution == "log_uniform_values" and value["min"] <= 0:
        raise UserError(f"{path}: '{key}' log_uniform_values needs min > 0")
    return {"distribution": distribution, "min": value["min"], "max": value["max"]}


def trial_params(sweep: Sweep, seed: int = 0) -> list[dict[str, Any]]:
    """The parameter values of every trial, in order."""
    if sweep.method == "grid":
        choices = [spec["values"] if "values" in spec else [spec["value"]] for spec in sweep.parameters.values()]
        return [dict(zip(sweep.parameters, combo)) for combo in itertools.product(*choices)]
    rng = random.Random(seed)
    return [{key: _sample(spec, rng) for key, spec in sweep.parameters.items()} for _ in range(sweep.count or 0)]


def _sample(spec: dict[str, Any], rng: random.Random) -> Any:
    if "value" in spec:
        return spec["value"]
    if "values" in spec:
        return rng.choice(spec["values"])
    low, high = spec["min"], spec["max"]
    if spec["distribution"] == "int_uniform":
        return rng.randint(int(low), int(high))
    if spec["distribution"] == "log_uniform_values":
        return float(f"{math.exp(rng.uniform(math.log(low), math.log(high))):.6g}")
    return float(f"{rng.uniform(low, high):.6g}")


def flag(key: str, value: Any) -> str:
    """`--key=value` as jsonargparse reads it (YAML): the `=` keeps a negative number a value."""
    if isinstance(value, bool):
        text = str(value).lower()
    elif value is None:
        text = "null"
    elif isinstance(value, (list, dict)):
        text = json.dumps(value)
    else:
        text = str(value)
    return f"--{key}={text}"


# -- the W&B sweep file -------------------------------------------------------------------------
def wandb_sweep_file(sweep: Sweep, fit_args: list[str]) -> dict[str, Any]:
    """The same search as a W&B sweep; the agent appends `--key=value` flags through `${args}`."""
    command = ["lit-dl", "fit"]
    for config in sweep.configs:
        command += ["--config", _shown_path(config)]
    if not any(_has_wandb_logger(config) for config in sweep.configs) and "--trainer.logger+=WandbLogger" not in fit_args:
        command.append("--trainer.logger+=WandbLogger")  # the agent's trial must report to W&B
    command += ["--name", sweep.name, *fit_args, "${args}"]
    spec: dict[str, Any] = {"name": sweep.name, "method": sweep.method, "metric": sweep.metric}
    spec["parameters"] = sweep.parameters
    if sweep.count and sweep.method == "random":
        spec["run_cap"] = sweep.count
    return {**spec, **sweep.extra, "command": command}


def _has_wandb_logger(config: Path) -> bool:
    import yaml

    loggers = ((yaml.safe_load(config.read_text()) or {}).get("trainer") or {}).get("logger") or []
    loggers = loggers if isinstance(loggers, list) else [loggers]
    return any(isinstance(item, dict) and str(item.get("class_path", "")).endswith("WandbLogger") for item in loggers)


def _shown_path(path: Path) -> str:
    """Relative to the working directory when below it, as a command run from here should name it."""
    relative = os.path.relpath(path)
    return path.resolve().as_posix() if relative.startswith("..") else Path(relative).as_posix()


# -- running ------------------------------------------------------------------------------------
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


def run_trial(trial: Trial, command: list[str], log: Path, env: dict[str, str]) -> Trial:
    """Run one `lit-dl fit` to completion, its output into `log`; the trial records how it ended."""
    started = time.monotonic()
    with open(log, "w") as output:
        returncode = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, env=env).returncode
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    trial.returncode, trial.log, trial.seconds = returncode, str(log), round(time.monotonic() - started, 1)
    # `lit-dl fit` prints the run directory last; a warning at exit may still follow it.
    trial.run_dir = next((line for line in reversed(lines) if (Path(line) / "config.yaml").is_file()), None)
    if returncode == 0 and trial.run_dir:
        trial.status = "ok"
    else:
        trial.status = "failed"
        errors = [line for line in lines if line.startswith("lit-dl: error:")]
        trial.error = (errors or lines or [f"exit code {returncode}"])[-1].removeprefix("lit-dl: error: ")
    return trial


def build_parser():
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(
        exit_on_error=False,
        prog="lit-dl sweep",
        description="Grid or random search: each trial is a `lit-dl fit` run of its own; a compare table ends it. "
        "Flags after `--` go to every trial (lit-dl sweep grid.yaml -- --trainer.max_epochs 3).",
    )
    parser.add_argument("grid", type=str | None, nargs="?", default=None, help="The sweep file: config, method, parameters (see experiments/sweeps/).")
    parser.add_argument("--config", type=str, nargs="+", default=None, help="Experiment file(s) instead of the sweep file's 'config'.")
    parser.add_argument("--method", type=Literal["grid", "random"] | None, default=None, help="grid or random (default: the file's, else grid).")
    parser.add_argument("--count", type=int | None, default=None, help="Number of random trials (default: the file's 'count').")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the random search's choices (not of the trials: sweep seed_everything for that).")
    parser.add_argument("--name", type=str | None, default=None, help="Experiment name of the trials (default: the file's 'name', else its stem).")
    parser.add_argument("--root", type=str | None, default=None, help="Run root (default: the experiment's trainer.default_root_dir).")
    parser.add_argument("--dry_run", action="store_true", help="Print the trials' commands and stop.")
    parser.add_argument("--wandb_file", type=str | None, default=None, help="Also write the W&B sweep file here (with --dry_run: without running).")
    parser.add_argument("--sort", type=str | None, default=None, help="Sort the final table by this column (default: the sweep's metric).")
    parser.add_argument("--format", type=Literal["table", "markdown", "csv"], default="table", help="The final table's format.")
    parser.add_argument("--slurm", type=str | None, nargs="?", const="", default=None,
                        help="Submit the trials as one SLURM job array; its value: sbatch flags in one string "
                        "(--slurm='--time 04:00:00 --ntasks-per-node 2 --gpus-per-node 2').")
    parser.add_argument("--max_concurrent", type=int | None, default=None, help="--slurm: at most this many trials at once (the array's %%N).")
    parser.add_argument("--wait", type=bool, default=True, help="--slurm: wait for the array and print the table (false: submit and return).")
    parser.add_argument("--collect", type=str | None, default=None, help="A sweep record (<root>/<name>/sweep_<k>): read its trials' outcomes and print the table.")
    parser.add_argument("--resume", type=str | None, default=None, help="A sweep record: run its trials that did not finish; finished ones are kept.")
    return parser


def main(argv: list[str]) -> None:
    from lit_dl.commands.compare import parse

    argv = list(argv)
    split = argv.index("--") if "--" in argv else len(argv)
    argv, fit_args = argv[:split], argv[split + 1 :]
    args = parse(build_parser(), argv)
    given = [flag for flag, value in (("GRID.yaml", args.grid), ("--collect", args.collect), ("--resume", args.resume)) if value]
    if len(given) != 1:
        raise UserError("lit-dl sweep takes one of GRID.yaml, --collect SWEEP_DIR or --resume SWEEP_DIR; "
                        "e.g. lit-dl sweep experiments/sweeps/quickstart.yaml")
    if args.grid:
        record, meta, trials = _start(args, fit_args)
        if record is None:
            return
    else:
        record = Path(args.collect or args.resume)
        meta, trials = _read_record(record)
    if not args.collect:
        slurm = args.slurm if args.slurm is not None else meta.get("slurm")
        todo = [trial for trial in trials if trial.status != "ok"]
        if slurm is None:
            _run_locally(record, meta, todo, trials)
        elif not _run_on_slurm(record, meta, trials, todo, slurm, args):
            return
    if meta.get("slurm") is not None:
        trials = [Trial(**t) for t in sweep_slurm.collect(record, [asdict(t) for t in trials])]
        _write_record(record, meta, trials)
    _finish(meta, trials, args)


def _run_on_slurm(record: Path, meta: dict[str, Any], trials: list[Trial], todo: list[Trial], sbatch_flags: str, args: Any) -> bool:
    """Submit the trials in `todo` as one job array; whether it waited for the array to end."""
    meta.update(slurm=sbatch_flags, job=_submit_array(record, meta, todo, sbatch_flags, args.max_concurrent))
    _write_record(record, meta, trials)
    later = f"job array {meta['job']} keeps running; when it is done: lit-dl sweep --collect {record}"
    if not args.wait:
        print(later, flush=True)
        return False
    try:
        sweep_slurm.wait(meta["job"])
    except KeyboardInterrupt:
        print(f"\n{later}", flush=True)
        raise SystemExit(130) from None
    return True


def _start(args: Any, fit_args: list[str]) -> tuple[Path | None, dict[str, Any], list[Trial]]:
    """A new sweep from its grid file: the record with every trial's command, or the dry run."""
    sweep = load_sweep(Path(args.grid), configs=args.config, method=args.method, count=args.count, name=args.name)
    root = args.root or default_root(sweep.configs)
    base = [sys.executable, "-m", "lit_dl.cli", "fit"]
    for config in sweep.configs:
        base += ["--config", str(config)]
    base += ["--trainer.default_root_dir", root, "--name", sweep.name, *fit_args]
    trials = [Trial(i, params) for i, params in enumerate(trial_params(sweep, args.seed))]
    labels = _labels(trials)
    if args.wandb_file:
        write_wandb_sweep_file(Path(args.wandb_file), sweep, fit_args)
    if args.dry_run:
        for trial, label in zip(trials, labels):
            shown = ["lit-dl", *base[3:], *(flag(key, value) for key, value in trial.params.items())]
            print(f"trial {trial.index + 1}/{len(trials)}  {label}\n  {' '.join(shown)}")
        return None, {}, trials
    record = next_sweep_dir(Path(root) / sweep.name)
    record.mkdir(parents=True)
    meta = {
        "name": sweep.name, "method": sweep.method, "metric": sweep.metric, "labels": labels,
        "commands": [base + [flag(key, value) for key, value in trial.params.items()] for trial in trials],
        "wandb_file": str(write_wandb_sweep_file(record / "wandb_sweep.yaml", sweep, fit_args)),
    }
    _write_record(record, meta, trials)
    print(f"sweep {sweep.name}: {len(trials)} {sweep.method} trial(s); record in {record}", flush=True)
    return record, meta, trials


def _read_record(record: Path) -> tuple[dict[str, Any], list[Trial]]:
    try:
        meta = json.loads((record / "sweep.json").read_text())
        trials = [Trial(**trial) for trial in json.loads((record / "trials.json").read_text())]
    except (OSError, ValueError, TypeError):
        raise UserError(f"{record} is not a sweep record (it needs sweep.json and trials.json); "
                        "pass the sweep_<k> folder a sweep printed") from None
    return meta, trials


def _write_record(record: Path, meta: dict[str, Any], trials: list[Trial]) -> None:
    (record / "sweep.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    (record / "trials.json").write_text(json.dumps([asdict(t) for t in trials], indent=2, default=str) + "\n")


def _submit_array(record: Path, meta: dict[str, Any], todo: list[Trial], sbatch_flags: str, max_concurrent: int | None) -> str | None:
    if not todo:
        return meta.get("job")
    commands = {trial.index: meta["commands"][trial.index] for trial in todo}
    job = sweep_slurm.submit(record, meta["name"], commands, sbatch_flags, max_concurrent)
    for trial in todo:
        trial.status, trial.log = "pending", str(record / f"trial_{trial.index}.log")
    print(f"submitted job array {job}: {len(todo)} trial(s); logs in {record}", flush=True)
    return job


def _run_locally(record: Path, meta: dict[str, Any], todo: list[Trial], trials: list[Trial]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WANDB_RUN_ID"}  # each trial is a W&B run of its own
    env.setdefault("WANDB_RUN_GROUP", meta["name"])
    for trial in todo:
        print(f"trial {trial.index + 1}/{len(trials)}  {meta['labels'][trial.index]}", flush=True)
        run_trial(trial, meta["commands"][trial.index], record / f"trial_{trial.index}.log", env)
        if trial.status == "ok":
            print(f"  ok in {trial.seconds}s: {trial.run_dir}", flush=True)
        else:
            print(f"  FAILED (exit {trial.returncode}): {trial.error}  (log: {trial.log})", flush=True)
        _write_record(record, meta, trials)


def _finish(meta: dict[str, Any], trials: list[Trial], args: Any) -> None:
    finished = [t.run_dir for t in trials if t.status == "ok"]
    if finished:
        from lit_dl.commands import compare

        print()
        metric = meta["metric"]["name"]
        compare.main([*finished, "--metric", metric, "--sort", args.sort or metric, "--format", args.format])
    unfinished = [t for t in trials if t.status != "ok"]
    for trial in unfinished:
        print(f"{trial.status}: trial {trial.index + 1} ({meta['labels'][trial.index]}): {trial.error}", file=sys.stderr)
    wandb_file = meta.get("wandb_file")
    print(f"W&B sweep file: {wandb_file}  (wandb sweep {wandb_file}, then wandb agent SWEEP_ID)", flush=True)
    if unfinished:
        raise SystemExit(1)


def write_wandb_sweep_file(path: Path, sweep: Sweep, fit_args: list[str]) -> Path:
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"# lit-dl sweep {sweep.name} as a W&B sweep: wandb sweep {path.name}, then wandb agent SWEEP_ID\n"
        + yaml.safe_dump(wandb_sweep_file(sweep, fit_args), sort_keys=False)
    )
    return path


def _labels(trials: list[Trial]) -> list[str]:
    """`lr=0.01 seed_everything=1`: each trial by the values that vary, under short names."""
    from lit_dl.commands.compare import short_names

    keys = list(dict.fromkeys(key for trial in trials for key in trial.params))
    varying = [key for key in keys if len({repr(trial.params.get(key)) for trial in trials}) > 1] or keys
    names = short_names(varying, keys)
    return [" ".join(f"{names[key]}={trial.params.get(key)}" for key in varying) for trial in trials]
