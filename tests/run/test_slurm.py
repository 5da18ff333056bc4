"""What lit-dl reads of a SLURM job's environment."""

from __future__ import annotations

import pytest

from lit_dl.run import slurm


@pytest.mark.parametrize(("count", "restarted"), [(None, False), ("", False), ("0", False), ("1", True), ("3", True), ("-1", False)])
def test_a_job_is_restarted_when_slurm_counts_a_restart(count, restarted):
    """SLURM_RESTART_COUNT is set from the first requeue on; only a positive count is a restart."""
    env = {} if count is None else {"SLURM_RESTART_COUNT": count}
    assert slurm.restarted(env) is restarted
