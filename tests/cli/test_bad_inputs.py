"""A tired researcher at 2 a.m., a shared cluster filesystem, a full disk: every bad input and
misuse ends in one line `lit-dl: error: ...` naming the option or file, exit code 2, no
traceback, nothing printed before it, and not one byte of an earlier run changed.

Each case runs `lit_dl.cli.main` in this process on a copy of one finished quickstart run (made
once per session). Filesystem faults are real: a small tmpfs for a full disk, a read-only bind
mount, a file where a folder should be (they need root and `mount`; elsewhere they skip).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers.filesystems import fill, full_tmpfs, read_only

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = str(REPO / "experiments" / "quickstart.yaml")
ARRAYS_MLP = str(REPO / "experiments" / "arrays_mlp.yaml")
SEQUENCES = str(REPO / "experiments" / "gru_sequences.yaml")
CNN_CIFAR10 = str(REPO / "experiments" / "cnn_cifar10.yaml")
# Tiny data and one epoch: a case that trains at all takes well under a second.
SIZES = [
    "--data.init_args.n_train", "200", "--data.init_args.n_val", "64", "--data.init_args.n_test", "64",
    "--trainer.max_epochs", "1", "--trainer.limit_val_batches", "1",
]
# The finished run has no LR schedule, so that a resume may add epochs.
NO_SCHEDULE = ["--model.init_args.scheduler", "null"]
LAST = "quickstart/version_0/checkpoints/last.ckpt"
BEST = "quickstart/version_0/checkpoints/best.ckpt"


def fit(*extra: str) -> list[str]:
    return ["fit", "--config", QUICKSTART, *SIZES, "--test_after_fit", "false", *extra]


def evaluate(command: str, *extra: str) -> list[str]:
    return [command, "--config", QUICKSTART, *SIZES, *extra]


def lr_find(*extra: str) -> list[str]:
    return ["lr-find", "--config", QUICKSTART, *SIZES, *extra]


def cifar_fit(ctx: Ctx, augment: str) -> list[str]:
    """CIFAR-10 with `augment` options: they are checked as the DataModule is built, before any file is read."""
    data = ["--data.init_args.data_dir", str(ctx.tmp / "no_data"), "--data.init_args.download", "false"]
    return ["fit", "--config", CNN_CIFAR10, *data, "--trainer.accelerator", "cpu", "--data.init_args.augment", augment]


@dataclass
class Ctx:
    """What a case's arguments may refer to: its folder, the runs root and files made for it."""

    tmp: Path
    root: Path
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @property
    def last(self) -> str:
        return str(self.root / LAST)

    @property
    def best(self) -> str:
        return str(self.root / BEST)

    def write(self, name: str, text: str | bytes) -> str:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return str(path)

    def npz(self, name: str, **arrays: np.ndarray) -> str:
        path = self.tmp / name
        np.savez(path, **arrays)
        return str(path)


@dataclass
class Case:
    id: str
    argv: Callable[[Ctx], list[str]]
    names: list[str]  # fragments the error line must hold: the option, file or value at fault
    xfail: str | None = None  # why it fails today
    setup: Callable[[Ctx], None] | None = None
    root_flag: bool = True  # append --trainer.default_root_dir ROOT
    new_run: bool = False  # the mistake shows only during training: a new (failed) run may remain
    code: int = 2


# -- files a case needs -----------------------------------------------------------------------
def arrays(ctx: Ctx, name: str = "data.npz", y_kind: str = "int", n: int = 60, **override: np.ndarray) -> str:
    rng = np.random.default_rng(0)
    data = {"x_train": rng.normal(size=(n, 4)).astype(np.float32), "x_test": rng.normal(size=(20, 4)).astype(np.float32)}
    if y_kind == "int":
        data.update(y_train=np.arange(n) % 3, y_test=np.arange(20) % 3)
    elif y_kind == "float":
        data.update(y_train=rng.normal(size=n).astype(np.float32), y_test=rng.normal(size=20).astype(np.float32))
    elif y_kind == "onehot":
        data.update(y_train=np.eye(3)[np.arange(n) % 3].astype(np.int64), y_test=np.eye(3)[np.arange(20) % 3].astype(np.int64))
    data.update(override)
    return ctx.npz(name, **data)


def array_fit(ctx: Ctx, path: str, *extra: str) -> list[str]:
    return ["fit", "--config", ARRAYS_MLP, "--data.init_args.path", path, "--trainer.max_epochs", "1", "--test_after_fit", "false", *extra]


def truncated(ctx: Ctx, name: str) -> str:
    data = Path(ctx.last).read_bytes()
    return ctx.write(name, data[: len(data) // 2])


def unfinished_newer_run(ctx: Ctx, record: str = '{"status": "running"}') -> None:
    """version_1 of quickstart: killed before its first checkpoint (a config, no checkpoints)."""
    run = ctx.root / "quickstart" / "version_1"
    run.mkdir()
    shutil.copy(ctx.root / "quickstart" / "version_0" / "config.yaml", run / "config.yaml")
    (run / "results.json").write_text(record + "\n")


def failed_newer_run(ctx: Ctx) -> None:
    """version_1 of quickstart: failed before its first checkpoint. (A run killed there is no
    mistake: `--ckpt_path last` trains it again from its start, tests/run/test_plan.py.)"""
    unfinished_newer_run(ctx, '{"status": "failed", "error": "out of memory"}')


def root_on_tmpfs(leave: int, size: str = "1m") -> Callable[[Ctx], None]:
    """The runs root (holding the finished run) on a tmpfs filled up to `leave` free bytes."""

    def setup(ctx: Ctx) -> None:
        saved = ctx.tmp / "saved_runs"
        shutil.move(ctx.root, saved)
        ctx.stack.enter_context(full_tmpfs(ctx.root, size, leave=None))
        shutil.copytree(saved, ctx.root, dirs_exist_ok=True)
        shutil.rmtree(saved)
        fill(ctx.root, leave)

    return setup


def root_read_only(ctx: Ctx) -> None:
    ctx.stack.enter_context(read_only(ctx.root))


def experiment_is_a_file(ctx: Ctx) -> None:
    (ctx.root / "elsewhere").write_text("not a folder\n")


LATIN1_CONFIG = "# Expérience nocturne\ntrainer:\n  max_epochs: 1\n".encode("latin-1")
MONITOR_TYPO = "did you mean 'val/acc'"
FIX_15A = "issue-15a"

CASES = [
    # -- flags and values ---------------------------------------------------------------------
    Case("top-level max_epochs", lambda c: fit("--max_epochs", "3"), ["max_epochs", "trainer.max_epochs"]),
    Case("typo trainer key", lambda c: fit("--trainer.max_epocs", "3"), ["trainer.max_epocs", "trainer.max_epochs"]),
    Case("typo net argument", lambda c: fit("--model.init_args.net.init_args.hiden_dims", "[8]"), ["hiden_dims", "hidden_dims"]),
    Case("typo data argument", lambda c: fit("--data.init_args.batchsize", "8"), ["batchsize", "batch_size"]),
    Case("typo optimizer argument", lambda c: fit("--model.init_args.optimizer.init_args.learning_rate", "0.1"), ["learning_rate", "lr"]),
    Case("word for an int", lambda c: fit("--trainer.max_epochs", "three"), ["trainer.max_epochs", "three"]),
    Case("fraction for an int", lambda c: fit("--trainer.max_epochs", "1.5"), ["trainer.max_epochs", "1.5"]),
    Case("word for a bool", lambda c: fit("--test_after_fit", "maybe"), ["test_after_fit", "maybe"]),
    Case("word for a list", lambda c: fit("--model.init_args.net.init_args.hidden_dims", "wide"), ["hidden_dims", "wide"]),
    Case("word for batch_size", lambda c: fit("--data.init_args.batch_size", "big"), ["batch_size", "big"]),
    Case("word for lr", lambda c: fit("--model.init_args.optimizer.init_args.lr", "fast"), ["lr", "fast"]),
    Case("word for a seed", lambda c: fit("--seed_everything", "lucky"), ["seed_everything", "lucky"]),
    Case("flag without its value", lambda c: fit("--trainer.max_epochs"), ["trainer.max_epochs"]),
    Case("misspelt subcommand", lambda c: ["fitt", "--config", QUICKSTART], ["fitt", "fit"], root_flag=False),
    Case("no subcommand", lambda c: ["--config", QUICKSTART], ["fit"], root_flag=False),
    Case("literal choice", lambda c: fit("--model.init_args.scheduler_interval", "hourly"), ["scheduler_interval", "hourly"]),
    Case("unknown activation", lambda c: fit("--model.init_args.net.init_args.activation", "relux"), ["activation", "relux"]),
    Case("unknown toy data kind", lambda c: fit("--data.init_args.kind", "circles"), ["kind", "circles"]),
    Case("bool for channels_last", lambda c: fit("--model.init_args.channels_last", "perhaps"), ["channels_last", "perhaps"]),
    Case("linked option typed by hand", lambda c: fit("--model.init_args.net.init_args.input_shape", "[5]"), ["input_shape"]),
    # -- class paths -----------------------------------------------------------------------------
    Case("unknown net class", lambda c: fit("--model.init_args.net.class_path", "lit_dl.nets.MLPP"), ["lit_dl.nets.MLPP", "lit_dl.nets.MLP'"]),
    Case("unknown optimizer class", lambda c: fit("--model.init_args.optimizer.class_path", "torch.optim.Adamw"), ["torch.optim.Adamw", "torch.optim.AdamW"]),
    Case("unknown optimizer module", lambda c: fit("--model.init_args.optimizer.class_path", "torch.optimm.AdamW"), ["torch.optimm"]),
    Case("unknown scheduler class", lambda c: fit("--model.init_args.scheduler.class_path", "torch.optim.lr_scheduler.OneCycle"), ["OneCycle"]),
    Case("unknown data class", lambda c: fit("--data.class_path", "lit_dl.data.ToyDataModule"), ["lit_dl.data.ToyDataModule"]),
    Case("unknown task class", lambda c: fit("--model.class_path", "lit_dl.tasks.Clasifier"), ["lit_dl.tasks.Clasifier", "Classifier"]),
    Case("optimizer as the net", lambda c: fit("--model.init_args.net.class_path", "torch.optim.AdamW"), ["torch.optim.AdamW"]),
    Case("net as the task", lambda c: fit("--model.class_path", "lit_dl.nets.MLP"), ["lit_dl.nets.MLP"]),
    Case("task as the data", lambda c: fit("--data.class_path", "lit_dl.tasks.Classifier"), ["lit_dl.tasks.Classifier"]),
    Case("unknown callback", lambda c: fit("--trainer.callbacks+=NoSuchCallback"), ["NoSuchCallback"]),
    Case("unknown logger", lambda c: fit("--trainer.logger+=NoSuchLogger"), ["NoSuchLogger"]),
    Case("callback missing its required monitor", lambda c: fit("--trainer.callbacks+=EarlyStopping"), ["monitor"]),
    # -- trainer options out of range -----------------------------------------------------------
    Case("unknown strategy", lambda c: fit("--trainer.strategy", "no_such_strategy"), ["no_such_strategy"]),
    Case("unknown precision", lambda c: fit("--trainer.precision", "17"), ["precision", "17"]),
    Case("unknown accelerator", lambda c: fit("--trainer.accelerator", "quantum"), ["accelerator", "quantum"]),
    Case("more CPU devices than cores", lambda c: fit("--trainer.accelerator", "cpu", "--trainer.devices", "4096"), ["trainer.devices", "4096"]),
    Case("more GPUs than the machine has", lambda c: fit("--trainer.accelerator", "gpu", "--trainer.devices", str(torch.cuda.device_count() + 1)), ["trainer.devices"]),
    Case("zero devices", lambda c: fit("--trainer.devices", "0"), ["devices", "0"]),
    Case("negative devices", lambda c: fit("--trainer.devices", "-2"), ["devices", "-2"]),
    Case("zero nodes", lambda c: fit("--trainer.num_nodes", "0"), ["num_nodes"]),
    Case("negative max_epochs", lambda c: fit("--trainer.max_epochs", "-2"), ["max_epochs", "-2"]),
    Case("max_epochs 0 trains nothing", lambda c: fit("--trainer.max_epochs", "0"), ["max_epochs", "0"]),
    Case("max_steps 0 trains nothing", lambda c: fit("--trainer.max_steps", "0"), ["max_steps", "0"]),
    Case("limit_train_batches 0 trains nothing", lambda c: fit("--trainer.limit_train_batches", "0"), ["limit_train_batches", "0"]),
    Case("limit_train_batches 0.0 trains nothing", lambda c: fit("--trainer.limit_train_batches", "0.0"), ["limit_train_batches"]),
    Case("negative limit_train_batches", lambda c: fit("--trainer.limit_train_batches", "-1"), ["limit_train_batches", "-1"]),
    Case("limit_val_batches fraction above 1", lambda c: fit("--trainer.limit_val_batches", "1.5"), ["limit_val_batches", "1.5"]),
    Case("val_check_interval longer than the epoch", lambda c: fit("--trainer.val_check_interval", "1000"), ["val_check_interval", "1000"]),
    Case("val_check_interval fraction above 1", lambda c: fit("--trainer.val_check_interval", "1.5"), ["val_check_interval", "1.5"]),
    Case("val_check_interval 0", lambda c: fit("--trainer.val_check_interval", "0"), ["val_check_interval"]),
    Case("check_val_every_n_epoch 0", lambda c: fit("--trainer.check_val_every_n_epoch", "0"), ["check_val_every_n_epoch"]),
    Case("accumulate_grad_batches 0", lambda c: fit("--trainer.accumulate_grad_batches", "0"), ["accumulate_grad_batches", "0"]),
    Case("negative accumulate_grad_batches", lambda c: fit("--trainer.accumulate_grad_batches", "-4"), ["accumulate_grad_batches", "-4"]),
    Case("negative gradient_clip_val", lambda c: fit("--trainer.gradient_clip_val", "-1"), ["gradient_clip_val", "-1"]),
    Case("unknown gradient_clip_algorithm", lambda c: fit("--trainer.gradient_clip_algorithm", "clamp"), ["gradient_clip_algorithm", "clamp"]),
    Case("negative fast_dev_run", lambda c: fit("--trainer.fast_dev_run", "-1"), ["fast_dev_run", "-1"]),
    Case("num_sanity_val_steps below -1", lambda c: fit("--trainer.num_sanity_val_steps", "-2"), ["num_sanity_val_steps"]),
    Case("max_time in a wrong format", lambda c: fit("--trainer.max_time", "three hours"), ["max_time", "three hours"]),
    Case("log_every_n_steps negative", lambda c: fit("--trainer.log_every_n_steps", "-5"), ["log_every_n_steps"]),
    Case("seed out of range", lambda c: fit("--seed_everything", "99999999999"), ["seed_everything", "99999999999"]),
    # -- data and model options out of range ---------------------------------------------------
    Case("batch_size 0", lambda c: fit("--data.init_args.batch_size", "0"), ["batch_size", "0"]),
    Case("negative batch_size", lambda c: fit("--data.init_args.batch_size", "-8"), ["batch_size", "-8"]),
    Case("negative eval_batch_size", lambda c: fit("--data.init_args.eval_batch_size", "-1"), ["eval_batch_size", "-1"]),
    Case("one class", lambda c: fit("--data.init_args.num_classes", "1"), ["num_classes", "1"]),
    Case("zero classes", lambda c: fit("--data.init_args.num_classes", "0"), ["num_classes", "0"]),
    Case("no training samples", lambda c: fit("--data.init_args.n_train", "0"), ["n_train", "0"]),
    Case("negative sample count", lambda c: fit("--data.init_args.n_val", "-5"), ["n_val", "-5"]),
    Case("3-D spirals", lambda c: fit("--data.init_args.num_features", "3"), ["spirals", "num_features"]),
    Case("dropout above 1", lambda c: fit("--model.init_args.net.init_args.dropout", "1.5"), ["dropout", "1.5"]),
    Case("negative dropout", lambda c: fit("--model.init_args.net.init_args.dropout", "-0.1"), ["dropout", "-0.1"]),
    Case("negative layer width", lambda c: fit("--model.init_args.net.init_args.hidden_dims", "[-4]"), ["hidden_dims", "-4"]),
    Case("negative lr", lambda c: fit("--model.init_args.optimizer.init_args.lr", "-0.1"), ["lr", "-0.1"]),
    Case("negative weight_decay", lambda c: fit("--model.init_args.optimizer.init_args.weight_decay", "-1"), ["weight_decay", "-1"]),
    Case("beta above 1", lambda c: fit("--model.init_args.optimizer.init_args.betas", "[1.5, 0.9]"), ["beta", "1.5"]),
    Case("negative max_lr", lambda c: fit("--model.init_args.scheduler.init_args.max_lr", "-1"), ["max_lr", "-1"]),
    Case("checkpoint.mode not min/max", lambda c: fit("--checkpoint.mode", "maximum"), ["checkpoint.mode", "maximum", "min", "max"]),
    Case("checkpoint.save_top_k below -1", lambda c: fit("--checkpoint.save_top_k", "-2"), ["save_top_k", "-2"]),
    Case("negative checkpoint.every_n_epochs", lambda c: fit("--checkpoint.every_n_epochs", "-1"), ["every_n_epochs", "-1"]),
    # -- monitored metrics the task never logs --------------------------------------------------
    Case("checkpoint monitors val/accuracy", lambda c: fit("--checkpoint.monitor", "val/accuracy"), ["checkpoint.monitor", "val/accuracy", MONITOR_TYPO]),
    Case("checkpoint monitors val_loss", lambda c: fit("--checkpoint.monitor", "val_loss"), ["val_loss", "did you mean 'val/loss'"]),
    Case("early stopping on a metric never logged", lambda c: fit("--trainer.callbacks+=EarlyStopping", "--trainer.callbacks.monitor", "val/accuracy"), ["EarlyStopping", "val/accuracy", MONITOR_TYPO]),
    Case("early stopping on a test metric", lambda c: fit("--trainer.callbacks+=EarlyStopping", "--trainer.callbacks.monitor", "test/f1_macro"), ["EarlyStopping", "test/f1_macro"]),
    Case("two EMA callbacks", lambda c: fit("--trainer.callbacks+=lit_dl.training.EMA", "--trainer.callbacks+=lit_dl.training.EMA"), ["trainer.callbacks", "EMA"]),
    Case("EMA starting after the last step", lambda c: fit("--trainer.callbacks+=lit_dl.training.EMA", "--trainer.callbacks.start_step", "1000", "--trainer.log_every_n_steps", "1"), ["EMA", "start_step 1000"]),
    Case("plateau scheduler on a metric never logged", lambda c: fit("--model.init_args.scheduler.class_path", "torch.optim.lr_scheduler.ReduceLROnPlateau", "--model.init_args.monitor", "val/accuracy"), ["val/accuracy", MONITOR_TYPO]),
    # -- config files -----------------------------------------------------------------------
    Case("missing config", lambda c: ["fit", "--config", str(c.tmp / "nope.yaml")], ["nope.yaml"]),
    Case("second config missing", lambda c: fit("--config", str(c.tmp / "overrides.yaml")), ["overrides.yaml"]),
    Case("config is a folder", lambda c: ["fit", "--config", str(c.tmp)], []),
    Case("empty config", lambda c: ["fit", "--config", c.write("empty.yaml", "")], ["empty.yaml"]),
    Case("config of comments only", lambda c: ["fit", "--config", c.write("comments.yaml", "# todo\n")], ["comments.yaml"]),
    Case("config is a YAML list", lambda c: ["fit", "--config", c.write("list.yaml", "- trainer\n- model\n")], ["list.yaml", "mapping"]),
    Case("config is a scalar", lambda c: ["fit", "--config", c.write("scalar.yaml", "quickstart\n")], ["scalar.yaml", "mapping"]),
    Case("config not UTF-8", lambda c: fit("--config", c.write("latin1.yaml", LATIN1_CONFIG)), ["latin1.yaml", "UTF-8"]),
    Case("config is binary", lambda c: fit("--config", c.last), ["last.ckpt"]),
    Case("broken YAML", lambda c: fit("--config", c.write("broken.yaml", "trainer:\n  callbacks: [a, b\nmodel: {}\n")), ["broken.yaml", "line"]),
    Case("tabs in YAML", lambda c: fit("--config", c.write("tabs.yaml", "trainer:\n\tmax_epochs: 1\n")), ["tabs.yaml"]),
    Case("broken JSON config", lambda c: fit("--config", c.write("broken.json", '{"trainer": {"max_epochs": 1,}')), ["broken.json"]),
    Case("duplicate key in a config", lambda c: fit("--config", c.write("twice.yaml", "trainer:\n  max_epochs: 1\n  max_epochs: 2\n")), ["twice.yaml", "trainer.max_epochs", "lines 2 and 3"]),
    Case("duplicate key in a flow mapping", lambda c: fit("--config", c.write("flow.yaml", "model:\n  init_args:\n    optimizer: {init_args: {lr: 0.1, lr: 0.2}}\n")), ["flow.yaml", "optimizer.init_args.lr", "line 3"]),
    Case("fit without an experiment file", lambda c: ["fit", "--trainer.max_epochs", "1"], ["lit-dl fit", "--config experiments/quickstart.yaml"], root_flag=False),
    Case("test without an experiment file", lambda c: ["test", "--ckpt_path", "best"], ["lit-dl test", "--config"], root_flag=False),
    Case("unknown section in a config", lambda c: fit("--config", c.write("section.yaml", "trainr:\n  max_epochs: 1\n")), ["trainr", "trainer"]),
    Case("typo in a config", lambda c: fit("--config", c.write("typo.yaml", "trainer:\n  max_epocs: 3\n")), ["max_epocs", "max_epochs"]),
    Case("wrong type in a config", lambda c: fit("--config", c.write("type.yaml", "trainer:\n  max_epochs: lots\n")), ["max_epochs", "lots"]),
    Case("section that is not a mapping", lambda c: fit("--config", c.write("trainer_list.yaml", "trainer: [1, 2]\n")), ["trainer"]),
    Case("model section that is a number", lambda c: fit("--config", c.write("model5.yaml", "model: 5\n")), ["model"]),
    Case("task without its net", lambda c: ["fit", "--config", c.write("no_net.yaml", "model:\n  class_path: lit_dl.tasks.Classifier\ndata:\n  class_path: lit_dl.data.ToyClassificationDataModule\n")], ["net"]),
    Case("no data section", lambda c: ["fit", "--config", c.write("no_data.yaml", "model:\n  class_path: lit_dl.tasks.Classifier\n  init_args:\n    net: lit_dl.nets.MLP\n")], ["data"]),
    # -- experiment names and the run directory ------------------------------------------------
    Case("name with a slash", lambda c: fit("--name", "a/b"), ["--name", "a/b"]),
    Case("name ..", lambda c: fit("--name", ".."), ["--name", ".."]),
    Case("name .", lambda c: fit("--name", "."), ["--name"]),
    Case("name escaping the root", lambda c: fit("--name", "../../escaped"), ["--name", "../../escaped"]),
    Case("absolute name", lambda c: fit("--name", str(c.tmp / "abs")), ["--name"]),
    Case("empty name", lambda c: fit("--name", ""), ["--name"]),
    Case("over-long name", lambda c: fit("--name", "x" * 300), ["--name"]),
    Case("name with a NUL byte", lambda c: fit("--name", "bad\0name"), ["--name"]),
    Case("root is a file", lambda c: fit("--trainer.default_root_dir", c.write("runs_file", "x\n")), ["runs_file"], root_flag=False),
    Case("root under a file", lambda c: fit("--trainer.default_root_dir", c.write("parent_file", "x\n") + "/runs"), ["parent_file"], root_flag=False),
    Case("experiment folder is a file", lambda c: fit("--name", "elsewhere"), ["elsewhere"], setup=experiment_is_a_file),
    Case("over-long root component", lambda c: fit("--trainer.default_root_dir", str(c.tmp / ("r" * 300))), ["default_root_dir"], root_flag=False),
    Case("read-only root", lambda c: fit(), ["read-only"], setup=root_read_only),
    Case("resume on a read-only root", lambda c: fit("--ckpt_path", "last", "--trainer.max_epochs", "2", *NO_SCHEDULE), ["read-only"], setup=root_read_only),
    Case("full disk", lambda c: fit(), ["no space"], setup=root_on_tmpfs(leave=0)),
    Case("disk full at the first checkpoint", lambda c: fit(), ["no space"], setup=root_on_tmpfs(leave=24_000), new_run=True),
    # The evaluation runs, then its figure and record cannot be written: one line, and the run as it was
    # (no empty confusion_matrix_best.png, no test row in metrics.csv that results.json never records).
    Case("test on a full disk", lambda c: evaluate("test", "--ckpt_path", "best"), ["no space"], setup=root_on_tmpfs(leave=0)),
    Case("resume on a full disk", lambda c: fit("--ckpt_path", "last", "--trainer.max_epochs", "2", *NO_SCHEDULE), ["no space"], setup=root_on_tmpfs(leave=4_000)),
    # -- checkpoints and the evaluation commands -------------------------------------------------
    Case("test without a checkpoint", lambda c: evaluate("test"), ["--ckpt_path", "best", "last"]),
    Case("validate without a checkpoint", lambda c: evaluate("validate"), ["--ckpt_path"]),
    Case("predict without a checkpoint", lambda c: evaluate("predict"), ["--ckpt_path"]),
    Case("test with a missing checkpoint", lambda c: evaluate("test", "--ckpt_path", str(c.tmp / "gone.ckpt")), ["gone.ckpt"]),
    Case("fit resuming a missing checkpoint", lambda c: fit("--ckpt_path", str(c.tmp / "gone.ckpt")), ["gone.ckpt"]),
    Case("misspelt last", lambda c: fit("--ckpt_path", "lastt"), ["lastt", "last"]),
    Case("truncated checkpoint to test", lambda c: evaluate("test", "--ckpt_path", truncated(c, "cut.ckpt")), ["cut.ckpt", "truncated"]),
    Case("truncated checkpoint to resume", lambda c: fit("--ckpt_path", truncated(c, "cut.ckpt")), ["cut.ckpt", "truncated"]),
    Case("text file as a checkpoint", lambda c: evaluate("validate", "--ckpt_path", c.write("notes.ckpt", "a note\n")), ["notes.ckpt"]),
    Case("empty checkpoint", lambda c: evaluate("predict", "--ckpt_path", c.write("empty.ckpt", "")), ["empty.ckpt"]),
    Case("folder as a checkpoint", lambda c: evaluate("test", "--ckpt_path", str(c.tmp)), ["--ckpt_path"]),
    Case("plain state_dict as a checkpoint", lambda c: fit("--ckpt_path", plain_state_dict(c)), ["weights.pt", "Lightning checkpoint"]),
    Case("npz as a checkpoint", lambda c: evaluate("test", "--ckpt_path", arrays(c)), ["data.npz"]),
    Case("checkpoint of another architecture", lambda c: fit("--ckpt_path", c.last, "--model.init_args.net.init_args.hidden_dims", "[16]"), ["another architecture", "config.yaml"]),
    Case("test with other class count", lambda c: evaluate("test", "--ckpt_path", c.best, "--data.init_args.num_classes", "5"), ["another architecture"]),
    Case("no run to continue", lambda c: fit("--name", "never_trained", "--ckpt_path", "last"), ["never_trained", "last"]),
    Case("no run to test", lambda c: evaluate("test", "--name", "never_trained", "--ckpt_path", "best"), ["never_trained", "best"]),
    Case("newest run has no checkpoint to continue", lambda c: fit("--ckpt_path", "last"), ["version_1"], setup=failed_newer_run),
    Case("newest run has no checkpoint to test", lambda c: evaluate("test", "--ckpt_path", "best"), ["version_1"], setup=unfinished_newer_run),
    Case("resume a run that has all its epochs", lambda c: fit("--ckpt_path", "last", *NO_SCHEDULE), ["max_epochs"]),
    # -- a task that does not fit the data or the loss ------------------------------------------
    Case("classifier on continuous targets", lambda c: array_fit(c, arrays(c, y_kind="float"), "--data.init_args.task", "classification"), ["classification"]),
    Case("classifier on regression data", lambda c: array_fit(c, arrays(c, y_kind="float"), "--model.class_path", "lit_dl.tasks.Classifier"), ["Classifier", "regression"]),
    Case("MSELoss in a classifier", lambda c: fit("--model.init_args.loss", "torch.nn.MSELoss"), ["MSELoss"]),
    Case("class weights of the wrong length", lambda c: fit("--model.init_args.loss", "torch.nn.CrossEntropyLoss", "--model.init_args.loss.init_args.weight", "[1.0, 2.0]"), ["weight", "3"]),
    Case("one-hot labels", lambda c: array_fit(c, arrays(c, y_kind="onehot")), ["y_train", "class ind"]),
    Case("BCE on three classes", lambda c: fit("--model.init_args.loss", "torch.nn.BCEWithLogitsLoss"), ["BCEWithLogitsLoss"], xfail=FIX_15A),
    Case("regressor on class labels", lambda c: fit("--model.class_path", "lit_dl.tasks.Regressor"), ["Regressor"]),
    Case("cross-entropy in a regressor", lambda c: array_fit(c, arrays(c, y_kind="float"), "--model.class_path", "lit_dl.tasks.Regressor", "--model.init_args.loss", "torch.nn.CrossEntropyLoss"), ["CrossEntropyLoss"]),
    # -- data files --------------------------------------------------------------------------
    Case("missing data file", lambda c: array_fit(c, str(c.tmp / "nodata.npz")), ["nodata.npz"]),
    Case("data file is text", lambda c: array_fit(c, c.write("text.npz", "x,y\n1,2\n")), ["text.npz"]),
    Case("data file is a folder", lambda c: array_fit(c, str(c.tmp)), ["path"]),
    Case("data file lacks test arrays", lambda c: array_fit(c, c.npz("partial.npz", x_train=np.zeros((8, 3)), y_train=np.zeros(8, dtype=np.int64))), ["partial.npz", "x_test"]),
    Case("x and y of different lengths", lambda c: array_fit(c, arrays(c, y_train=np.arange(50) % 3)), ["x_train", "y_train"]),
    Case("NaN in the inputs", lambda c: array_fit(c, arrays(c, x_train=np.full((60, 4), np.nan, dtype=np.float32))), ["NaN"]),
    # Labels other than 0..K-1 are relabelled (tests/data/test_arrays.py); a label training never saw is not.
    Case("test label that training lacks", lambda c: array_fit(c, arrays(c, y_train=np.arange(60) % 3 + 1, y_test=np.arange(20) % 4 + 1)), ["y_test", "label(s) 4", "y_train lacks"]),
    Case("classes that miss a label", lambda c: array_fit(c, arrays(c, y_train=np.arange(60) % 3 + 1, y_test=np.arange(20) % 3 + 1), "--data.init_args.classes", "[1, 2]"), ["label(s) 3", "classes [1, 2]"]),
    Case("unknown standardize mode", lambda c: array_fit(c, arrays(c), "--data.init_args.standardize", "pixel"), ["standardize", "pixel"]),
    Case("input_shape that does not fit", lambda c: array_fit(c, arrays(c), "--data.init_args.input_shape", "[3]"), ["input_shape"]),
    Case("val_fraction of 1", lambda c: array_fit(c, arrays(c), "--data.init_args.val_fraction", "1.0"), ["val_fraction"]),
    Case("unknown sequence problem", lambda c: ["fit", "--config", SEQUENCES, "--data.init_args.problem", "addition"], ["addition"]),
    # -- image augmentation ----------------------------------------------------------------------
    Case("negative mixup", lambda c: cifar_fit(c, "{mixup: -1}"), ["augment.mixup", "-1"]),
    Case("cutout as large as the image", lambda c: cifar_fit(c, "{cutout: 64}"), ["augment.cutout", "64", "32x32"]),
    Case("erasing probability above 1", lambda c: cifar_fit(c, "{erasing: 2.0}"), ["augment.erasing", "2.0"]),
    # -- lr-find ------------------------------------------------------------------------------
    Case("lr-find from a rate of 0", lambda c: lr_find("--min_lr", "0"), ["--min_lr", "above 0"]),
    Case("lr-find of no rates", lambda c: lr_find("--num_training", "0"), ["--num_training", "13"]),
    Case("lr-find from one rate to itself", lambda c: lr_find("--min_lr", "0.01", "--max_lr", "0.01"), ["--max_lr 0.01", "--min_lr 0.01"]),
    Case("lr-find down from max_lr", lambda c: lr_find("--min_lr", "1", "--max_lr", "1e-6"), ["--max_lr", "--min_lr"]),
    Case("lr-find stopping at once", lambda c: lr_find("--early_stop_threshold", "1"), ["--early_stop_threshold"]),
    # -- lit-dl's own commands ----------------------------------------------------------------
    Case("compare a missing folder", lambda c: ["compare", str(c.tmp / "no_runs")], ["no_runs"], root_flag=False),
    Case("compare an unknown metric", lambda c: ["compare", str(c.root / "quickstart"), "--metric", "val/nosuch"], ["--metric", "val/nosuch", "did you mean 'val/loss'"], root_flag=False),
    Case("compare with an unknown status", lambda c: ["compare", str(c.root / "quickstart" / "*"), "--status", "finished"], ["--status", "finished"], root_flag=False),
    Case("sweep a missing grid", lambda c: ["sweep", str(c.tmp / "grid.yaml")], ["grid.yaml"], root_flag=False),
    Case("plot an unknown figure", lambda c: ["plot", "activationz", "-o", str(c.tmp / "a.png")], ["activationz"], root_flag=False),
]


def plain_state_dict(ctx: Ctx) -> str:
    path = ctx.tmp / "weights.pt"
    torch.save({"net.features.0.weight": torch.zeros(64, 2)}, path)
    return str(path)


@pytest.fixture(scope="session")
def finished_root(tmp_path_factory) -> Path:
    """A runs root holding one finished quickstart run (version_0), copied into every case."""
    root = tmp_path_factory.mktemp("finished") / "runs"
    code, _, err = run_in_process([*fit(*NO_SCHEDULE), "--trainer.default_root_dir", str(root)], capture=None)
    assert code == 0, err
    assert (root / LAST).is_file()
    return root


def run_in_process(argv: list[str], capture) -> tuple[int, str, str]:
    from lit_dl.cli import main

    try:
        main(argv)
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    out, err = capture.readouterr() if capture is not None else ("", "")
    return code, out, err


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under folder with its content hash, and every folder."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
        if p.name != "filler"
    }


def leftovers(root: Path) -> list[str]:
    """Temporary files and zero-byte config.yaml/results.json: what an interrupted write leaves."""
    bad = [p for p in root.rglob("*.tmp*")]
    bad += [p for name in ("config.yaml", "results.json") for p in root.rglob(name) if p.stat().st_size == 0]
    return [str(p) for p in bad]


def _params():
    for case in CASES:
        marks = [pytest.mark.xfail(reason=case.xfail, strict=False)] if case.xfail else []
        if case.setup is unfinished_newer_run:
            marks.append(pytest.mark.broken_runs("the setup fakes a run killed before its first save"))
        yield pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", list(_params()))
def test_bad_input_ends_in_one_line_and_changes_nothing(case: Case, finished_root: Path, tmp_path: Path, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative path a case writes by mistake lands where we look
    monkeypatch.delenv("LIT_DL_DEBUG", raising=False)
    ctx = Ctx(tmp=tmp_path, root=tmp_path / "runs")
    shutil.copytree(finished_root, ctx.root)
    with ctx.stack:
        if case.setup:
            case.setup(ctx)
        argv = case.argv(ctx) + (["--trainer.default_root_dir", str(ctx.root)] if case.root_flag else [])
        capfd.readouterr()
        before = snapshot(tmp_path)

        code, out, err = run_in_process(argv, capfd)

        after = snapshot(tmp_path)
        left = leftovers(ctx.root)
    assert code == case.code, f"exit {code}: {err}"
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("lit-dl: error: "), err
    assert len(lines) <= 2, err
    if not case.new_run:
        assert out == "", out
        assert len(lines) == 1, err
    for name in case.names:
        assert name in lines[-1], lines[-1]
    # Every earlier file is as it was; new ones only in the run this command made.
    changed = [p for p, digest in before.items() if after.get(p) != digest]
    assert not changed, changed
    added = [p for p in after if p not in before]
    if case.new_run:
        new_runs = {Path(p).parts[:3] for p in added}
        assert len(new_runs) <= 1 and all(parts[:2] == ("runs", "quickstart") for parts in new_runs), added
    else:
        assert not added, added
    assert not left, left


def test_the_table_is_large_and_its_ids_unique():
    ids = [case.id for case in CASES]
    assert len(ids) >= 100
    assert len(set(ids)) == len(ids)


def test_the_console_script_prints_the_error_alone(finished_root, tmp_path):
    """The real `lit-dl` process: Lightning's `Seed set to` and warnings do not come before it."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("LIT_DL_DEBUG", None)
    done = subprocess.run(
        [sys.executable, "-c", "from lit_dl.cli import main; main()", *fit("--checkpoint.monitor", "val/accuracy", "--trainer.default_root_dir", str(tmp_path / "runs"))],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [done.stderr.strip()], done.stderr
    assert done.stderr.startswith("lit-dl: error: ") and "val/accuracy" in done.stderr


def test_debug_mode_shows_the_traceback(tmp_path, monkeypatch):
    from lit_dl.cli import main
    from lit_dl.errors import UserError

    monkeypatch.setenv("LIT_DL_DEBUG", "1")
    with pytest.raises(UserError, match="nope.yaml"):
        main(["fit", "--config", str(tmp_path / "nope.yaml")])


def test_a_bug_of_ours_keeps_its_traceback(monkeypatch, tmp_path):
    """An exception that no user input explains is not dressed up as a user error."""
    import lit_dl.cli

    def broken(argv=None):
        raise KeyError("internal")

    monkeypatch.setattr(lit_dl.cli, "run", broken)
    with pytest.raises(KeyError):
        lit_dl.cli.main(["fit", "--config", QUICKSTART])
