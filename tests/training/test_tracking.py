"""W&B (offline, no account) and TensorBoard in the run directory, then compare and plot the runs."""

from __future__ import annotations

import json
import struct
from types import SimpleNamespace
from pathlib import Path

import pytest

from lit_dl.training import tracking

# The quickstart's OneCycleLR sets the learning rate from max_lr; the optimizer's lr has no effect.
MAX_LR = "model.init_args.scheduler.init_args.max_lr"
LOGGERS_YAML = """\
trainer:
  logger:
    - class_path: lightning.pytorch.loggers.WandbLogger
      init_args: {project: lit-dl-tests, group: learning-rates, tags: [quickstart, test]}
    - class_path: lightning.pytorch.loggers.TensorBoardLogger
      init_args: {save_dir: ignored}
"""


@pytest.fixture
def offline_wandb(monkeypatch, tmp_path):
    """W&B offline and silent, its settings and caches under tmp_path: nothing reaches the network."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_RUN_ID", raising=False)
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb-home"))


def wandb_records(path: Path):
    """The protobuf records of a `.wandb` file: W&B's header, then the leveldb log format."""
    from wandb.proto import wandb_internal_pb2

    data, block, pending, position = path.read_bytes(), 32 * 1024, b"", 7
    assert data[:4] == b":W&B"
    while position + 7 <= len(data):
        if block - position % block < 7:  # a block's tail too short for a header is padding
            position += block - position % block
            continue
        _checksum, length, kind = struct.unpack("<IHB", data[position : position + 7])
        pending += data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (1, 4):  # FULL, or LAST of a record split across blocks
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def offline_run_file(run_dir: Path) -> Path:
    """The `.wandb` file of a run directory's one offline W&B run, complete."""
    import wandb

    # `run.finish()` returns before wandb's service has closed the file; the end of the
    # `lit-dl` process (here, teardown) waits for it.
    wandb.teardown()
    (wandb_file,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    return wandb_file


def wandb_run_config(run_dir: Path) -> dict:
    """The W&B run config an offline run holds, as `wandb sync` would upload it."""
    wandb_file = offline_run_file(run_dir)
    config = {}
    for record in wandb_records(wandb_file):
        kind = record.WhichOneof("record_type")
        items = record.run.config.update if kind == "run" else record.config.update if kind == "config" else []
        config.update({item.key: json.loads(item.value_json) for item in items})
    return config


def test_offline_wandb_runs_then_compare_and_plot(offline_wandb, fit_quickstart, lit_dl, tmp_path):
    loggers = tmp_path / "loggers.yaml"
    loggers.write_text(LOGGERS_YAML)
    run_dirs = [
        fit_quickstart("--config", loggers, "--trainer.max_epochs", "1", f"--{MAX_LR}={max_lr}")
        for max_lr in (0.003, 0.03)
    ]

    for run_dir, max_lr in zip(run_dirs, (0.003, 0.03)):
        run_id = (run_dir / "wandb_id.txt").read_text().strip()
        assert list(run_dir.glob(f"wandb/offline-run-*-{run_id}*"))
        config = wandb_run_config(run_dir)
        assert config[MAX_LR] == max_lr
        assert config["data.init_args.n_train"] == 512 and config["trainer.max_epochs"] == 1
        # The resolved config once, under its own keys: Lightning's hparams add no copy of them.
        assert "monitor" not in config and "compile" not in config and "_instantiator" not in config
        assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
        results = json.loads((run_dir / "results.json").read_text())
        assert results["epochs"] == 1 and results["wall_time_s"] > 0

    code, out, err = lit_dl("compare", *run_dirs, "--format", "markdown", "--plot", tmp_path / "curves.png")
    assert code == 0, err
    header, _, *rows = out.strip().splitlines()
    assert "max_lr" in header and "val/loss (best)" in header and "test/acc" in header
    assert "0.003" in rows[0] and "0.03" in rows[1]
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_offline_run_prints_sync_command_and_a_resume_continues_it(offline_wandb, lit_dl, tmp_path):
    from tests.helpers.paths import QUICKSTART, SMALL_QUICKSTART

    def fit(*more: str) -> tuple[str, Path]:
        code, out, err = lit_dl(
            "fit", "--config", QUICKSTART, *SMALL_QUICKSTART, "--trainer.max_epochs", "1",
            "--trainer.default_root_dir", tmp_path / "runs", "--test_after_fit", "false",
            "--trainer.logger+=WandbLogger", "--trainer.logger.log_model", "true",
            "--model.init_args.scheduler", "null", *more,  # no one-cycle plan: a resume may add an epoch
        )
        assert code == 0, err
        *_, sync_line, run_dir_line = out.strip().splitlines()
        return sync_line, Path(run_dir_line)

    sync_line, run_dir = fit()
    assert sync_line.endswith(f"wandb sync {run_dir / 'wandb'}")
    run_id = (run_dir / "wandb_id.txt").read_text().strip()
    # Asked for (log_model), the offline run keeps the checkpoints and the config as artifacts.
    wandb_file = offline_run_file(run_dir)
    artifacts = {(r.artifact.type, r.artifact.name) for r in wandb_records(wandb_file) if r.WhichOneof("record_type") == "artifact"}
    assert ("config", f"config-{run_id}") in artifacts and ("model", f"model-{run_id}") in artifacts

    first_wall_time = json.loads((run_dir / "results.json").read_text())["wall_time_s"]
    _, resumed_dir = fit("--ckpt_path", "last", "--trainer.max_epochs", "2")
    assert resumed_dir == run_dir
    assert json.loads((run_dir / "results.json").read_text())["wall_time_s"] > first_wall_time  # adds up
    assert len(list(run_dir.glob(f"wandb/offline-run-*-{run_id}*"))) == 2  # one W&B run, in two pieces


def test_wandb_logger_gets_run_dir_experiment_name_stored_id_and_flat_config(tmp_path, monkeypatch):
    from jsonargparse import Namespace
    from lightning.pytorch.loggers import WandbLogger

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_RUN_ID", raising=False)
    run_dir = tmp_path / "exp" / "version_3"
    run_dir.mkdir(parents=True)
    (run_dir / tracking.WANDB_ID_FILE).write_text("abc123\n")  # a resumed run
    parsed = Namespace(class_path="lightning.pytorch.loggers.WandbLogger",
                       init_args=Namespace(project="p", save_dir=".", resume=None, tags=["t"], group=None))
    (logger,) = tracking.prepare_loggers(
        [WandbLogger(project="p")], [parsed], run_dir=run_dir, experiment="exp",
        config=lambda: "model:\n  init_args: {lr: 0.1, compile: false}\n",
    )
    init = logger._wandb_init  # what wandb.init will be given
    assert (init["name"], init["dir"], init["id"], init["resume"], init["tags"]) == ("exp", str(run_dir), "abc123", "allow", ["t"])
    assert init["config"] == {"model.init_args.lr": 0.1, "model.init_args.compile": False}
    assert "group" not in init  # unset stays unset: wandb then reads WANDB_RUN_GROUP


def test_run_id_is_kept_in_the_run_directory_and_reused(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_RUN_ID", raising=False)
    first = tracking._wandb_run_id(tmp_path)
    (tmp_path / tracking.WANDB_ID_FILE).write_text(first + "\n")
    assert tracking._wandb_run_id(tmp_path) == first
    monkeypatch.setenv("WANDB_RUN_ID", "agentrun")  # a W&B sweep agent chooses the id
    assert tracking._wandb_run_id(tmp_path) == "agentrun"


def test_offline_unless_a_key_and_the_server_are_there(tmp_path, monkeypatch):
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    for name in ("WANDB_BASE_URL", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(tracking, "_reachable", lambda url: True)

    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert tracking._default_wandb_mode() is None  # WANDB_MODE is wandb's to honour
    monkeypatch.delenv("WANDB_MODE")
    assert tracking._default_wandb_mode() == "offline"  # no key

    (tmp_path / "netrc").write_text("machine api.wandb.ai\n  login user\n  password secret\n")
    (tmp_path / "netrc").chmod(0o600)
    assert tracking._default_wandb_mode() is None  # `wandb login` left a key: online
    monkeypatch.setattr(tracking, "_reachable", lambda url: False)
    assert tracking._default_wandb_mode() == "offline"  # a key but no network

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    assert tracking._default_wandb_mode() is None  # the route is the proxy's: wandb tries it

    (tmp_path / "netrc").unlink()
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setattr(tracking, "_reachable", lambda url: True)
    assert tracking._default_wandb_mode() is None


def test_reachable_is_a_quick_tcp_connect():
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert tracking._reachable(f"http://127.0.0.1:{server.getsockname()[1]}", timeout=2)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    assert not tracking._reachable(f"http://127.0.0.1:{port}", timeout=1)


def history_steps(wandb_file: Path) -> list[tuple[int, int]]:
    """(W&B's `_step`, the trainer's step) of every history row of an offline run segment."""
    rows = []
    for record in wandb_records(wandb_file):
        if record.WhichOneof("record_type") == "history":
            # "trainer/global_step" is stored as the nested key ["trainer", "global_step"]
            items = {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
            rows.append((record.history.step.num, items.get("trainer/global_step")))
    return rows


def test_a_resumed_run_continues_the_w_and_b_history_at_the_checkpoint_step(offline_wandb, lit_dl, tmp_path):
    import torch
    import wandb

    from tests.helpers.paths import QUICKSTART, SMALL_QUICKSTART

    def fit(epochs: str, *more: str) -> str:
        code, out, err = lit_dl(
            "fit", "--config", QUICKSTART, *SMALL_QUICKSTART, "--model.init_args.scheduler", "null",
            "--trainer.default_root_dir", tmp_path / "runs", "--trainer.logger+=WandbLogger",
            "--trainer.max_epochs", epochs, *more,
        )
        assert code == 0, err
        return out

    out = fit("2")
    run_dir = tmp_path / "runs" / "quickstart" / "version_0"
    assert out.count("wandb sync") == 1
    checkpoint_step = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["global_step"]
    assert fit("3", "--ckpt_path", "last").count("wandb sync") == 1
    wandb.teardown()  # wandb's service closes the files
    first, second = sorted(run_dir.glob("wandb/offline-run-*/run-*.wandb"))
    assert first.name == second.name  # the same W&B run id
    before, after = history_steps(first), history_steps(second)
    assert all(step == trainer_step for step, trainer_step in before + after), (before, after)  # `_step` is the trainer's
    assert before[-1][0] == checkpoint_step and after[0][0] > checkpoint_step  # continued, not restarted at 0
    assert [step for step, _ in before + after] == sorted(step for step, _ in before + after)
    assert "_instantiator" not in (run_dir / "hparams.yaml").read_text()


@pytest.mark.parametrize(("url", "address"), [("https://api.wandb.ai", ("api.wandb.ai", 443)), ("http://wandb.local", ("wandb.local", 80)),
                                              ("https://wandb.local:8443", ("wandb.local", 8443)), ("http://10.0.0.2:8080/x", ("10.0.0.2", 8080))])
def test_reachable_connects_to_the_urls_port_or_its_schemes(url, address, monkeypatch):
    tried = []

    class Connection:
        def close(self):
            pass

    monkeypatch.setattr(tracking.socket, "create_connection", lambda where, timeout: tried.append(where) or Connection())
    assert tracking._reachable(url)
    assert tried == [address]


def test_tensorboard_writes_into_the_run_and_loggers_built_in_python_are_kept(tmp_path):
    from jsonargparse import Namespace
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    run_dir = tmp_path / "exp" / "version_1"
    parsed = Namespace(class_path="lightning.pytorch.loggers.TensorBoardLogger", init_args=Namespace(save_dir="tb", name="x", default_hp_metric=False))
    mine, other = TensorBoardLogger("elsewhere"), CSVLogger("csv")
    board, kept, csv_kept = tracking.prepare_loggers([TensorBoardLogger("tb"), mine, other], [parsed, None, {"init_args": {"save_dir": "csv"}}],
                                                     run_dir=run_dir, experiment="exp", config=lambda: "")
    assert isinstance(board, TensorBoardLogger) and board.log_dir == str(run_dir / "tensorboard") and board._default_hp_metric is False
    assert kept is mine and csv_kept is other


def test_the_init_arguments_of_a_parsed_entry_with_its_dict_kwargs():
    from jsonargparse import Namespace

    assert tracking._init_arguments(Namespace(class_path="X", init_args=Namespace(a=1), dict_kwargs={"b": 2})) == {"a": 1, "b": 2}
    assert tracking._init_arguments({"class_path": "X", "init_args": {"a": 1}}) == {"a": 1}
    assert tracking._init_arguments({"class_path": "X", "init_args": {"a": 1}, "dict_kwargs": {"a": 3}}) == {"a": 3}
    assert tracking._init_arguments(None) is None and tracking._init_arguments({"class_path": "X"}) is None


def test_a_new_run_id_is_eight_lowercase_letters_or_digits_and_an_agents_id_wins(tmp_path, monkeypatch):
    import string

    monkeypatch.delenv("WANDB_RUN_ID", raising=False)
    (tmp_path / tracking.WANDB_ID_FILE).write_text("\n")  # an empty file holds no id
    ids = {tracking._wandb_run_id(tmp_path) for _ in range(5)}
    assert len(ids) == 5 and all(len(i) == 8 and set(i) <= set(string.ascii_lowercase + string.digits) for i in ids)
    monkeypatch.setenv("WANDB_RUN_ID", "agent1")
    (tmp_path / tracking.WANDB_ID_FILE).write_text("stored\n")
    assert tracking._wandb_run_id(tmp_path) == "agent1"


def test_the_netrc_login_is_looked_up_for_the_hosts_name(tmp_path, monkeypatch):
    netrc_file = tmp_path / "netrc"
    netrc_file.write_text("machine wandb.example.org\n  login user\n  password secret\n")
    netrc_file.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc_file))
    assert tracking._netrc_has_login("https://wandb.example.org:8443")
    assert not tracking._netrc_has_login("https://api.wandb.ai")
    netrc_file.write_text("machine\n")  # broken
    assert not tracking._netrc_has_login("https://wandb.example.org")
    monkeypatch.setenv("NETRC", str(tmp_path / "absent"))
    assert not tracking._netrc_has_login("https://wandb.example.org")


def test_wandb_gets_the_hyperparameters_the_config_lacks_and_rows_at_the_trainers_step(tmp_path, monkeypatch):
    from lightning.pytorch.loggers import WandbLogger

    passed = []
    monkeypatch.setattr(WandbLogger, "log_hyperparams", lambda self, params: passed.append(("hparams", params)))
    monkeypatch.setattr(WandbLogger, "log_metrics", lambda self, metrics, step=None: passed.append(("lightning", metrics, step)))
    logger = tracking.RunWandbLogger(project="p", mode="disabled", save_dir=str(tmp_path),
                                     config={"model.init_args.lr": 0.1, "data.init_args.batch_size": 8, "trainer.max_epochs": 2})
    assert "anonymous" not in logger._wandb_init  # unset: not handed to wandb.init
    logger.log_hyperparams({"lr": 0.1, "batch_size": 8, "num_outputs": 3, "max_epochs": 2, "_instantiator": "x"})
    logger.log_hyperparams({"lr": 0.2})  # all known: nothing to add
    assert passed == [("hparams", {"num_outputs": 3, "max_epochs": 2})]

    rows = []
    logger._experiment = SimpleNamespace(step=10, log=lambda row, step: rows.append((row, step)))
    logger.log_metrics({"val/loss": 0.5}, step=12)
    assert rows == [({"val/loss": 0.5, "trainer/global_step": 12}, 12)]
    logger.log_metrics({"test/acc": 0.9}, step=8)  # before W&B's step (the best checkpoint's test): where the history stands
    logger.log_metrics({"x": 1.0})
    assert passed[1:] == [("lightning", {"test/acc": 0.9}, 8), ("lightning", {"x": 1.0}, None)]
    logger._prefix = "fold1"
    logger.log_metrics({"y": 1.0}, step=20)
    assert passed[-1] == ("lightning", {"y": 1.0}, 20) and len(rows) == 1


def test_finishing_a_fit_closes_started_wandb_runs_and_names_the_sync_command(tmp_path, capsys):
    from lightning.pytorch.loggers import WandbLogger

    finished = []
    run = SimpleNamespace(disabled=False, offline=True, id="abc", finish=lambda: finished.append("abc"))
    started = WandbLogger(project="p", mode="disabled")
    started._experiment = run
    idle = WandbLogger(project="p", mode="disabled")
    tracking.finish_fit(SimpleNamespace(loggers=[started, idle, object()]), tmp_path)
    assert finished == ["abc"] and capsys.readouterr().out == f"W&B run abc is offline; upload it with: wandb sync {tmp_path / 'wandb'}\n"
    run.offline = False
    tracking.finish_fit(SimpleNamespace(loggers=[started]), tmp_path)
    assert finished == ["abc", "abc"] and capsys.readouterr().out == ""
    run.disabled = True
    tracking.finish_fit(SimpleNamespace(loggers=[started]), tmp_path)
    assert finished == ["abc", "abc"]  # a disabled run is not finished


def test_the_wandb_logger_keeps_a_chosen_id_name_mode_and_settings(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_RUN_ID", raising=False)
    monkeypatch.setattr(tracking, "_default_wandb_mode", lambda: "offline")
    run_dir = tmp_path / "exp" / "version_0"
    logger = tracking._wandb_logger({"project": "p", "version": "chosen1", "name": "mine", "dir": "/elsewhere", "settings": {"quiet": False},
                                     "config": {"extra": 1}, "group": None}, run_dir=run_dir, experiment="exp", config=lambda: "a: {b: 2}\n")
    init = logger._wandb_init
    assert (init["id"], init["name"], init["mode"], init["dir"], init["settings"]) == ("chosen1", "mine", "offline", str(run_dir), {"quiet": False})
    assert init["config"] == {"a.b": 2, "extra": 1} and "group" not in init
    assert (run_dir / tracking.WANDB_ID_FILE).read_text() == "chosen1\n"
    by_id = tracking._wandb_logger({"id": "other2", "mode": "online"}, run_dir=run_dir, experiment="exp", config=lambda: "{}")
    assert (by_id._wandb_init["id"], by_id._wandb_init["mode"], by_id._wandb_init["name"]) == ("other2", "online", "exp")
    assert by_id._wandb_init["settings"] == {"quiet": True}
    offline = tracking._wandb_logger({"offline": True}, run_dir=run_dir, experiment="exp", config=lambda: "{}")
    assert offline._wandb_init["mode"] is None and offline._offline and offline._wandb_init["id"] == "other2"  # offline: no mode chosen; the stored id


def test_other_ranks_neither_store_the_id_nor_choose_a_mode(tmp_path, monkeypatch):
    from lightning.pytorch.utilities import rank_zero_only

    monkeypatch.delenv("WANDB_RUN_ID", raising=False)
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    monkeypatch.setattr(tracking, "_default_wandb_mode", lambda: pytest.fail("rank zero's choice"))
    logger = tracking._wandb_logger({"project": "p"}, run_dir=tmp_path / "run", experiment="exp", config=lambda: "{}")
    assert not (tmp_path / "run").exists() and logger._wandb_init.get("mode") is None
