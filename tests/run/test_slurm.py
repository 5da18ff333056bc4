"""What lit-dl reads of a SLURM job's environment."""

from __future__ import annotations

import pytest

from lit_dl.run import slurm


@pytest.mark.parametrize(("count", "restarted"), [(None, False), ("", False), ("0", False), ("1", True), ("3", True), ("-1", False)])
def test_a_job_is_restarted_when_slurm_counts_a_restart(count, restarted):
    """SLURM_RESTART_COUNT is set from the first requeue on; only a positive count is a restart."""
    env = {} if count is None else {"SLURM_RESTART_COUNT": count}
    assert slurm.restarted(env) is restarted


def test_a_job_key_is_the_job_or_array_task_and_the_configs_hash():
    assert slurm.job_key({}, "a: 1") is None
    key = slurm.job_key({"SLURM_JOB_ID": "77"}, "a: 1")
    assert key.startswith("77:") and len(key) == len("77:") + 12
    assert slurm.job_key({"SLURM_JOB_ID": "77"}, "a: 2") != key  # another config: another run
    assert slurm.job_key({"SLURM_JOB_ID": "77", "SLURM_ARRAY_JOB_ID": "70", "SLURM_ARRAY_TASK_ID": "3"}, "a: 1") == "70_3:" + key[3:]


def test_a_requeued_job_finds_the_newest_run_it_marked_with_its_own_key(tmp_path):
    experiment = tmp_path / "exp"
    runs = [experiment / f"version_{n}" for n in range(4)]
    for run in runs:
        run.mkdir(parents=True)
    slurm.mark_job(runs[0], "70_3:abc")
    slurm.mark_job(runs[1], "70_3:abc")
    slurm.mark_job(runs[2], "70_2:abc")  # another array task: a key that sorts before it
    slurm.mark_job(runs[3], "70_3:abd")  # the same task with another config
    assert (runs[1] / "slurm_job").read_text() == "70_3:abc\n"
    assert slurm.job_run(experiment, "70_3:abc") == runs[1]
    assert slurm.job_run(experiment, "70_3:abc", with_checkpoint=True) is None  # neither saved a checkpoint
    (runs[0] / "checkpoints").mkdir()
    (runs[0] / "checkpoints" / "last.ckpt").write_bytes(b"x")
    assert slurm.job_run(experiment, "70_3:abc", with_checkpoint=True) == runs[0]
    assert slurm.job_run(experiment, "70_4:abc") is None and slurm.job_run(tmp_path / "nowhere", "70_3:abc") is None
