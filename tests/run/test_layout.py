"""Versions, reservations and finding a run's checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

from lit_dl.run import layout


def test_runs_started_together_get_their_own_versions(tmp_path):
    experiment = tmp_path / "quickstart"
    (experiment / "version_0").mkdir(parents=True)
    reservations = [layout.reserve_version(experiment) for _ in range(3)]
    assert [r.run_dir.name for r in reservations] == ["version_1", "version_2", "version_3"]
    for reservation in reservations:
        reservation.release()
    assert layout.versions(experiment) == [0]


def test_a_version_taken_after_it_was_counted_is_skipped(tmp_path, monkeypatch):
    """Another process can create the version this one counted before this one creates it: the
    reservation moves on to the next free version."""
    experiment = tmp_path / "quickstart"
    for taken in ("version_0", "version_1", "version_2"):
        (experiment / taken).mkdir(parents=True)
    monkeypatch.setattr(layout, "next_version", lambda experiment_dir: 1)  # counted before versions 1 and 2 appeared
    reservation = layout.reserve_version(experiment)
    assert reservation.run_dir.name == "version_3"
    reservation.release()


def test_release_removes_only_what_it_created_and_only_if_empty(tmp_path):
    reservation = layout.reserve_version(tmp_path / "new" / "exp")
    (reservation.run_dir / "config.yaml").write_text("x")
    reservation.release()
    assert (reservation.run_dir / "config.yaml").is_file()
    empty = layout.reserve_version(tmp_path / "other" / "exp")
    empty.release()
    assert not (tmp_path / "other").exists() and tmp_path.is_dir()


def test_last_is_the_newest_of_last_and_the_requeue_checkpoint(tmp_path):
    checkpoints = tmp_path / "exp" / "version_0" / "checkpoints"
    checkpoints.mkdir(parents=True)
    for name, mtime in (("last.ckpt", 100), ("hpc_ckpt_1.ckpt", 200), ("best.ckpt", 300)):
        (checkpoints / name).write_bytes(b"x")
        os.utime(checkpoints / name, (mtime, mtime))
    assert layout.latest_checkpoint(checkpoints.parent) == checkpoints / "hpc_ckpt_1.ckpt"
    os.utime(checkpoints / "last.ckpt", (400, 400))
    assert layout.latest_checkpoint(checkpoints.parent) == checkpoints / "last.ckpt"
    assert layout.run_dir_of_checkpoint(Path("exp/version_0/checkpoints/last.ckpt")) == Path("exp/version_0")
    assert layout.run_dir_of_config(Path("runs/exp/version_2/config.yaml")) == Path("runs/exp/version_2")
    assert layout.run_dir_of_config(Path("experiments/quickstart.yaml")) is None


def test_the_newest_run_passes_over_lr_find_versions(tmp_path):
    experiment = tmp_path / "exp"
    for version in range(3):
        (experiment / f"version_{version}").mkdir(parents=True)
    (experiment / "version_2" / layout.LR_FIND_FILE).write_text("{}")
    assert layout.newest_run(experiment) == experiment / "version_1"
    (experiment / "version_1" / layout.LR_FIND_FILE).write_text("{}")
    (experiment / "version_0" / layout.LR_FIND_FILE).write_text("{}")
    assert layout.newest_run(experiment) is None


def test_versions_count_as_numbers_and_last_resumes_version_10(tmp_path, lit_dl):
    """version_10 is newer than version_9 (as text it would sort first): `--ckpt_path last`
    continues version_10. Both are real unfinished runs; version_0..8 are empty folders."""
    from tests.helpers.paths import QUICKSTART

    experiment = tmp_path / "runs" / "quickstart"
    for version in range(9):
        (experiment / f"version_{version}").mkdir(parents=True)
    tiny = ["--config", QUICKSTART, "--trainer.default_root_dir", tmp_path / "runs", "--test_after_fit", "false",
            "--data.init_args.n_train", "128", "--data.init_args.n_val", "64", "--data.init_args.n_test", "64",
            "--model.init_args.scheduler", "null"]
    for version in (9, 10):
        code, out, err = lit_dl("fit", *tiny, "--trainer.max_epochs", "1")
        assert code == 0 and out.strip().splitlines()[-1] == str(experiment / f"version_{version}"), err
    assert layout.versions(experiment) == list(range(11))
    assert layout.newest_run(experiment) == experiment / "version_10"
    code, out, err = lit_dl("fit", *tiny, "--trainer.max_epochs", "2", "--ckpt_path", "last")
    assert code == 0, err
    assert out.strip().splitlines()[-1] == str(experiment / "version_10")
    assert "version_10" in err + out and not (experiment / "version_11").exists()


def test_discard_removes_the_run_with_what_it_wrote_also_when_it_is_gone_already(tmp_path):
    reservation = layout.reserve_version(tmp_path / "new" / "exp")
    (reservation.run_dir / "checkpoints").mkdir()
    (reservation.run_dir / "config.yaml").write_text("x")
    reservation.discard()
    assert not (tmp_path / "new").exists()
    gone = layout.reserve_version(tmp_path / "other" / "exp")
    gone.run_dir.rmdir()  # removed by someone else meanwhile
    gone.discard()
    assert not (tmp_path / "other").exists()


def test_a_runs_files_and_its_temporary_ones(tmp_path):
    paths = layout.RunPaths(tmp_path / "exp" / "version_3")
    assert paths.experiment == "exp"
    assert [p.relative_to(paths.run_dir).as_posix() for p in (paths.config, paths.results, paths.metrics, paths.lock, paths.slurm_job,
                                                             paths.predictions, paths.predictions_table, paths.exports, paths.last_checkpoint,
                                                             paths.best_checkpoint)] == [
        "config.yaml", "results.json", "metrics.csv", "run.lock", "slurm_job", "predictions.pt", "predictions.csv", "export",
        "checkpoints/last.ckpt", "checkpoints/best.ckpt"]
    assert paths.temporary_files() == []
    paths.checkpoints.mkdir(parents=True)
    for name in ("results.json.tmp-12", "checkpoints/last.ckpt.tmp-7", "checkpoints/best.ckpt", "metrics.csv"):
        (paths.run_dir / name).write_text("")
    assert paths.temporary_files() == [paths.run_dir / "checkpoints" / "last.ckpt.tmp-7", paths.run_dir / "results.json.tmp-12"]
    assert layout.temporary_path(paths.results) == paths.run_dir / f"results.json.tmp-{os.getpid()}"
    assert layout.stale_temporaries(paths.results) == [paths.run_dir / "results.json.tmp-12"]


def test_run_directory_names_and_the_run_a_config_or_checkpoint_belongs_to(tmp_path):
    assert layout.is_run_dir_name("version_0") and layout.is_run_dir_name("version_12")
    assert not layout.is_run_dir_name("version_") and not layout.is_run_dir_name("sweep_0") and not layout.is_run_dir_name("version_x")
    run = tmp_path / "exp" / "version_2"
    assert layout.run_dir_of_checkpoint(run / "checkpoints" / "best.ckpt") == run
    assert layout.run_dir_of_checkpoint(tmp_path / "exp" / "best.ckpt") is None
    assert layout.run_dir_of_checkpoint(run / "other" / "best.ckpt") is None
    assert layout.run_dir_of_config(run / "config.yaml") == run
    assert layout.run_dir_of_config(tmp_path / "exp" / "config.yaml") is None and layout.run_dir_of_config(run / "other.yaml") is None
    assert layout.versions(tmp_path / "absent") == [] and layout.next_version(tmp_path / "absent") == 0


def test_the_next_version_follows_the_highest_even_after_gaps(tmp_path):
    for version in (0, 3, 1):
        (tmp_path / "exp" / f"version_{version}").mkdir(parents=True)
    assert layout.versions(tmp_path / "exp") == [0, 1, 3] and layout.next_version(tmp_path / "exp") == 4
