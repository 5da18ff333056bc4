"""W&B and TensorBoard for a lit-dl run: both write into the run directory.

`prepare_loggers` is called while the Trainer is built: it rebuilds each configured `WandbLogger`
and `TensorBoardLogger` from its parsed arguments with lit-dl's settings filled in (run
directory, experiment name, W&B run id, offline mode, the resolved config). `finish_fit` is called
at the end of `fit`: it uploads the config when asked, closes the W&B run and prints the
`wandb sync` command of an offline run.

Only the fit path imports this module, so Lightning is already loaded; wandb itself is imported
by Lightning's logger when the run starts.
"""

from __future__ import annotations

import netrc
import os
import secrets
import socket
import string
import threading
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

from lightning.pytorch.loggers import Logger, TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from lit_dl.internals import logger_prefix, wandb_init_arguments, wandb_logs_model, wandb_run_started
from lit_dl.run.config import flatten
from lit_dl.run.layout import CONFIG_FILE, TENSORBOARD_DIR, WANDB_ID_FILE, RunPaths

DEFAULT_WANDB_HOST = "https://api.wandb.ai"


class RunWandbLogger(WandbLogger):
    """Lightning's WandbLogger whose W&B run config is the resolved lit-dl config.

    Lightning logs the task's and data module's init arguments as hyperparameters when a stage
    starts; they are already in the run config under `<section>.init_args.<name>`, so only those
    the config lacks (values linked in from the data, like `num_outputs`) are added.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Lightning always hands wandb.init `anonymous` (None when unset), which wandb >= 0.19
        # answers with a deprecation warning on every run; unset, it is the same as absent.
        init = wandb_init_arguments(self)
        if init.get("anonymous") is None:
            init.pop("anonymous", None)

    @rank_zero_only
    def log_hyperparams(self, params: Any) -> None:
        params = dict(vars(params) if not isinstance(params, dict) else params)
        known = {key.rsplit(".", 1)[-1] for key in (wandb_init_arguments(self).get("config") or {}) if ".init_args." in key}
        # Keys with a leading underscore are LightningCLI's bookkeeping (`_instantiator`).
        missing = {key: value for key, value in params.items() if key not in known and not key.startswith("_")}
        if missing:
            super().log_hyperparams(missing)


    @rank_zero_only
    def log_metrics(self, metrics: Any, step: int | None = None) -> None:
        """Lightning's, with W&B's own step (`_step`) set to the trainer's step, so that a resumed
        run's history continues from its checkpoint's step instead of restarting at 0 (and a
        `wandb sync` of its segments appends rows rather than overwriting them). A row for an
        earlier step (the test of the best checkpoint) goes where W&B's history stands."""
        run = self.experiment
        if step is None or step < run.step or logger_prefix(self):
            super().log_metrics(metrics, step)
        else:
            run.log({**metrics, "trainer/global_step": step}, step=step)


def prepare_loggers(
    loggers: list[Logger], specs: list[Any], *, run_dir: Path, experiment: str, config: Callable[[], str]
) -> list[Logger]:
    """`loggers` with each W&B and TensorBoard logger rebuilt to write into `run_dir`.

    `specs` are the parsed `trainer.logger` entries (class_path and init_args) the loggers were
    instantiated from, in the same order; `config()` gives the resolved config of the run as YAML.
    """
    prepared = []
    for logger, spec in zip(loggers, specs):
        arguments = _init_arguments(spec)
        if arguments is None:  # built in Python rather than parsed: taken as it is
            prepared.append(logger)
        elif isinstance(logger, WandbLogger):
            prepared.append(_wandb_logger(arguments, run_dir=Path(run_dir), experiment=experiment, config=config))
        elif isinstance(logger, TensorBoardLogger):
            # `tensorboard --logdir runs` then shows every run under its own directory name.
            prepared.append(type(logger)(**{**arguments, "save_dir": str(run_dir), "name": "", "version": TENSORBOARD_DIR}))
        else:
            prepared.append(logger)
    return prepared


def finish_fit(trainer: Any, run_dir: Path) -> None:
    """Close each W&B run of the fit (rank zero only), printing how to upload an offline one."""
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger) and wandb_run_started(logger):
            _finish_wandb_run(logger, Path(run_dir))


# -- W&B ----------------------------------------------------------------------------------------
def _wandb_logger(arguments: dict[str, Any], *, run_dir: Path, experiment: str, config: Callable[[], str]) -> RunWandbLogger:
    import yaml

    # A parsed WandbLogger lists every wandb.init argument, unset ones as None; passed on, a None
    # would replace Lightning's own choice (resume="allow", which lets a resumed run continue).
    arguments = {key: value for key, value in arguments.items() if value is not None}
    chosen_id = arguments.pop("version", None) or arguments.get("id")  # Lightning takes either name
    for replaced in ("dir", "experiment"):
        arguments.pop(replaced, None)
    run_id = chosen_id or _wandb_run_id(run_dir)
    if rank_zero_only.rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / WANDB_ID_FILE).write_text(run_id + "\n")
    mode = arguments.get("mode")
    if mode is None and not arguments.get("offline") and rank_zero_only.rank == 0:  # only rank zero logs
        mode = _default_wandb_mode()
    return RunWandbLogger(
        **{
            **arguments,
            "save_dir": str(run_dir),
            "name": arguments.get("name") or experiment,
            "id": run_id,
            "mode": mode,
            # Flat dotted keys, as the flags and W&B sweep parameters spell them: a sweep's value
            # then lands on the resolved config's key instead of beside it.
            "config": {**flatten(yaml.safe_load(config())), **(arguments.get("config") or {})},
            # wandb's closing summary and its own `wandb sync` hint: lit-dl prints the one sync line.
            "settings": arguments.get("settings") or {"quiet": True},
        }
    )


def _wandb_run_id(run_dir: Path) -> str:
    """The run id W&B should use: a W&B sweep agent's, the one this run directory already has
    (a resumed run continues its W&B run), or a new one."""
    if os.environ.get("WANDB_RUN_ID"):
        return os.environ["WANDB_RUN_ID"]
    stored = run_dir / WANDB_ID_FILE
    if stored.is_file() and stored.read_text().strip():
        return stored.read_text().strip()
    # The same alphabet and length as wandb's own ids; wandb has moved its generator between releases.
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


def _default_wandb_mode() -> str | None:
    """"offline" when W&B could not upload: no API key, or no route to the server.

    None leaves the choice to wandb, which honours WANDB_MODE.
    """
    if os.environ.get("WANDB_MODE"):
        return None
    host = os.environ.get("WANDB_BASE_URL", DEFAULT_WANDB_HOST)
    if not (os.environ.get("WANDB_API_KEY") or _netrc_has_login(host)):
        return "offline"
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None  # a direct connection says nothing about the route through the proxy wandb takes
    return None if _reachable(host) else "offline"


def _netrc_has_login(url: str) -> bool:
    """Whether `wandb login` left a key for `url`'s host in the netrc file."""
    host = urlparse(url).hostname or url
    path = os.environ.get("NETRC") or os.path.expanduser("~/.netrc")
    try:
        return netrc.netrc(path).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def _reachable(url: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to `url` opens within `timeout` seconds.

    The name lookup has no timeout of its own (it can hang on a node without DNS), hence the thread.
    """
    parsed = urlparse(url)
    address = (parsed.hostname or url, parsed.port or (80 if parsed.scheme == "http" else 443))
    opened: list[bool] = []

    def connect() -> None:
        try:
            socket.create_connection(address, timeout=timeout).close()
            opened.append(True)
        except OSError:
            opened.append(False)

    attempt = threading.Thread(target=connect, daemon=True)
    attempt.start()
    attempt.join(timeout)
    return bool(opened and opened[0])


def _finish_wandb_run(logger: WandbLogger, run_dir: Path) -> None:
    run = logger.experiment
    if getattr(run, "disabled", False):
        return
    config_file = RunPaths(run_dir).config
    if wandb_logs_model(logger) and config_file.is_file():
        # Lightning uploads the checkpoints (`log_model`); the config is what reruns them.
        import wandb

        artifact = wandb.Artifact(f"config-{run.id}", type="config")
        artifact.add_file(str(config_file), name=CONFIG_FILE)
        run.log_artifact(artifact)
    offline = run.offline
    run.finish()
    if offline:
        print(f"W&B run {run.id} is offline; upload it with: wandb sync {run_dir / 'wandb'}", flush=True)


def _init_arguments(spec: Any) -> dict[str, Any] | None:
    """The keyword arguments of a parsed `class_path`/`init_args` entry; None for anything else."""
    init_args = getattr(spec, "init_args", None) if not isinstance(spec, dict) else spec.get("init_args")
    if init_args is None:
        return None
    arguments = init_args.as_dict() if hasattr(init_args, "as_dict") else dict(init_args)
    extra = spec.get("dict_kwargs") if hasattr(spec, "get") else None
    return {**arguments, **(dict(extra) if extra else {})}
