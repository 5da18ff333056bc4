"""The `lit-dl` CLI: parsing, overrides, the run directory, seeding and user errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers.paths import QUICKSTART


def read_metrics(run_dir):
    with open(run_dir / "metrics.csv", newline="") as file:
        return list(csv.DictReader(file))


def parse(*args: str):
    """The CLI with its classes built but nothing run."""
    from lit_dl.cli.app import LitDLCLI

    return LitDLCLI(args=["--config", str(QUICKSTART), *args], run=False)


def test_config_links_data_shapes_into_the_net():
    cli = parse()
    assert cli.model.net.head.out_features == 3  # three spiral arms, never typed in the net
    assert cli.model.num_outputs == 3
    assert cli.datamodule.input_shape == (2,)


def test_dotted_overrides_reach_the_net_and_the_optimizer():
    cli = parse(
        "--model.init_args.net.init_args.hidden_dims", "[8, 4]",
        "--model.net.init_args.dropout", "0.25",  # the short form works too
        "--model.init_args.optimizer.init_args.lr", "0.05",
        "--model.init_args.scheduler", "null",
    )
    linears = [m for m in cli.model.net.modules() if type(m).__name__ == "Linear"]
    assert [m.out_features for m in linears] == [8, 4, 3]
    assert any(type(m).__name__ == "Dropout" and m.p == 0.25 for m in cli.model.net.modules())
    optimizer = cli.model.configure_optimizers()
    assert optimizer.param_groups[0]["lr"] == 0.05


def test_later_config_file_wins(tmp_path):
    override = tmp_path / "override.yaml"
    override.write_text("trainer:\n  max_epochs: 7\n")
    cli = parse("--config", str(override))
    assert cli.trainer.max_epochs == 7


def test_print_config_shows_the_resolved_config(lit_dl):
    code, out, _ = lit_dl("fit", "--config", QUICKSTART, "--print_config")
    assert code == 0
    config = yaml.safe_load(out)
    assert config["model"]["init_args"]["net"]["class_path"] == "lit_dl.nets.MLP"
    assert config["trainer"]["max_epochs"] == 15


def test_fit_leaves_a_complete_run_directory(fit_quickstart, tmp_path):
    run_dir = fit_quickstart()
    assert run_dir == tmp_path / "runs" / "quickstart" / "version_0"
    assert (run_dir / "config.yaml").is_file()
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    results = json.loads((run_dir / "results.json").read_text())
    assert results["test"]["test/acc"] > 0.5  # three classes: chance is 1/3
    assert results["val"]["val/loss"] > 0
    assert results["best_checkpoint"].endswith("best.ckpt")
    assert results["seed"] == 42
    assert {"torch", "lightning", "python"} <= set(results["versions"])
    columns = read_metrics(run_dir)[0].keys()
    for name in ("train/loss", "val/loss", "val/acc", "train/acc", "test/acc", "test/loss", "lr-AdamW", "grad_norm/total"):
        assert name in columns
    # The saved config is enough to rerun the run alone.
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["data"]["init_args"]["n_train"] == 512


def test_versions_count_up_and_never_overwrite(fit_quickstart):
    first = fit_quickstart("--trainer.max_epochs", "1")
    before = (first / "metrics.csv").read_bytes()
    second = fit_quickstart("--trainer.max_epochs", "1")
    assert (first.name, second.name) == ("version_0", "version_1")
    assert (first / "metrics.csv").read_bytes() == before


def test_experiment_name_flag(fit_quickstart):
    assert fit_quickstart("--trainer.max_epochs", "1", "--name", "spirals").parent.name == "spirals"


def test_same_seed_same_metrics(fit_quickstart, tmp_path):
    def losses(run_dir):
        return [(r["step"], r["train/loss"], r["val/loss"], r["val/acc"]) for r in read_metrics(run_dir)]

    first = fit_quickstart("--model.init_args.net.init_args.dropout", "0.2", root=tmp_path / "a")
    second = fit_quickstart("--model.init_args.net.init_args.dropout", "0.2", root=tmp_path / "b")
    assert losses(first) == losses(second)
    other = fit_quickstart("--model.init_args.net.init_args.dropout", "0.2", "--seed_everything", "7", root=tmp_path / "c")
    assert losses(other) != losses(first)


def test_deterministic_flag_is_honoured():
    import torch

    try:
        parse("--trainer.deterministic", "true")
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)


def test_test_after_fit_can_be_turned_off(fit_quickstart):
    run_dir = fit_quickstart("--trainer.max_epochs", "1", "--test_after_fit", "false")
    results = json.loads((run_dir / "results.json").read_text())
    assert results["test"] == {}
    assert "test/loss" not in read_metrics(run_dir)[0]


def test_test_subcommand_evaluates_the_best_checkpoint(fit_quickstart, lit_dl, tmp_path):
    run_dir = fit_quickstart("--trainer.max_epochs", "1", "--test_after_fit", "false")
    code, out, err = lit_dl(
        "test", "--config", QUICKSTART, "--trainer.default_root_dir", tmp_path / "runs",
        "--data.init_args.n_train", "512", "--ckpt_path", "best",
    )
    assert code == 0, err
    assert out.strip().splitlines()[-1] == str(run_dir)
    record = json.loads((run_dir / "results.json").read_text())
    assert "test" not in record or not record["test"]  # the fit's own values stay as they were
    (evaluation,) = record["evaluations"]
    assert evaluation["command"] == "test" and evaluation["checkpoint"].endswith("best.ckpt")
    assert evaluation["metrics"]["test/acc"] > 0.4


def test_unknown_key_is_one_line_with_the_closest_name(lit_dl):
    code, out, err = lit_dl("fit", "--config", QUICKSTART, "--trainer.max_epocs", "3")
    assert code == 2
    assert err.strip() == "lit-dl: error: unknown option 'trainer.max_epocs'; did you mean 'trainer.max_epochs'?"


def test_unknown_net_argument_names_the_class_and_the_fix(lit_dl):
    code, _, err = lit_dl("fit", "--config", QUICKSTART, "--model.init_args.net.init_args.hidden_dim", "[3]")
    assert code == 2
    assert "'hidden_dim'" in err and "lit_dl.nets.MLP" in err and "'hidden_dims'" in err
    assert len(err.strip().splitlines()) == 1


def test_console_script_starts_and_exits_2_on_bad_input(tmp_path):
    ok = subprocess.run([sys.executable, "-m", "lit_dl.cli", "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "fit" in ok.stdout and "compare" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "lit_dl.cli", "fit", "--config", str(tmp_path / "missing.yaml")],
        capture_output=True, text=True,
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and "missing.yaml" in bad.stderr


def test_plot_activations_writes_a_png(lit_dl, tmp_path):
    code, out, err = lit_dl("plot", "activations", "-o", tmp_path / "act.png")
    assert code == 0, err
    assert (tmp_path / "act.png").stat().st_size > 10_000
    assert lit_dl("plot", "nope")[0] == 2


def test_predict_saves_the_outputs_in_the_run_directory(fit_quickstart, lit_dl, tmp_path):
    import torch

    run_dir = fit_quickstart("--trainer.max_epochs", "1", "--test_after_fit", "false")
    code, out, err = lit_dl(
        "predict", "--config", QUICKSTART, "--trainer.default_root_dir", tmp_path / "runs",
        "--data.init_args.n_test", "100", "--ckpt_path", "best",
    )
    assert code == 0, err
    assert out.strip().splitlines()[-1] == str(run_dir)
    assert torch.load(run_dir / "predictions.pt").shape == (100, 3)


def test_default_callbacks_are_config_recorded_and_switchable(fit_quickstart):
    import yaml

    run_dir = fit_quickstart("--trainer.max_epochs", "1", "--test_after_fit", "false", "--defaults.grad_norm", "false")
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["defaults"]["grad_norm"] is False and saved["defaults"]["lr_monitor"] is True
    logged = set().union(*(row.keys() for row in read_metrics(run_dir)))
    assert "grad_norm/total" not in logged and "lr-AdamW" in logged
    assert json.loads((run_dir / "results.json").read_text())["status"] == "completed"


def test_later_commands_never_rewrite_the_config(fit_quickstart, lit_dl, tmp_path):
    run_dir = fit_quickstart("--trainer.max_epochs", "1", "--test_after_fit", "false")
    before = (run_dir / "config.yaml").read_bytes()
    for command in ("test", "validate"):
        code, _, err = lit_dl(command, "--config", run_dir / "config.yaml", "--ckpt_path", "last")
        assert code == 0, err
    assert (run_dir / "config.yaml").read_bytes() == before
    code, out, err = lit_dl("fit", "--config", run_dir / "config.yaml", "--trainer.max_epochs", "1", "--test_after_fit", "false")
    assert code == 0, err
    assert Path(out.strip().splitlines()[-1]) == run_dir.parent / "version_1"  # the same experiment, a new version
