"""What the sweep's parser check parses (tests/commands/test_sweep_checks.py runs it on bad files),
and the worker's own command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lit_dl.commands.sweep import __main__ as worker_main
from lit_dl.commands.sweep import check
from lit_dl.commands.sweep.space import Sweep
from lit_dl.errors import UserError


def test_the_experiment_alone_then_each_value_of_each_parameter_on_its_own():
    sweep = Sweep("s", "grid", [], {"lr": {"values": [0.1, 0.2, 0.1]}, "dims": {"values": [[1, 2], [1, 2]]}, "depth": {"value": 3},
                                    "width": {"distribution": "int_uniform", "min": 8, "max": 10},
                                    "rate": {"distribution": "log_uniform_values", "min": 0.001, "max": 0.1}})
    found = check.variants(sweep, seeds=[4, 5])
    assert [(v["key"], v["value"]) for v in found] == [(None, None), ("lr", 0.1), ("lr", 0.2), ("dims", [1, 2]), ("depth", 3), ("width", 8),
                                                       ("width", 10), ("rate", 0.001), ("rate", 0.1)]
    assert found[0]["flags"] == ["--seed_everything=4"] and found[1]["flags"] == ["--seed_everything=4", "--lr=0.1"]
    assert check.variants(Sweep("s", "grid", [], {"lr": {"value": 1}}), None)[1]["flags"] == ["--lr=1"]
    assert check._values({"distribution": "int_uniform", "min": 1, "max": 1000}) == [1, 1000]  # the bounds only
    assert check._values({"distribution": "uniform", "min": 0, "max": 2}) == [0.0, 2.0]


@pytest.mark.parametrize(("printed", "said"), [
    ("null", None),
    ('{"key": null, "value": null, "error": "unknown option"}', "s.yaml: the experiment does not run with the flags given to every trial: unknown option"),
    ('{"key": "lr", "value": "x", "error": "not a float"}', "s.yaml: parameter 'lr' = 'x': not a float"),
])
def test_the_first_value_the_experiment_refuses_is_one_line(printed, said, monkeypatch):
    monkeypatch.setattr(check.subprocess, "run", lambda command, **kwargs: subprocess.CompletedProcess(command, 0, f"noise\n{printed}\n", ""))
    sweep = Sweep("s", "grid", [], {"lr": {"values": [0.1]}})
    if said is None:
        check.check_parameters(Path("s.yaml"), sweep, ["python", "-m", "lit_dl.cli", "fit", "--config", "a.yaml"], None)
        return
    with pytest.raises(UserError) as raised:
        check.check_parameters(Path("s.yaml"), sweep, ["python", "-m", "lit_dl.cli", "fit", "--config", "a.yaml"], None)
    assert str(raised.value) == said


def test_a_parser_check_that_printed_nothing_is_an_error_of_lit_dl_not_of_the_sweep(monkeypatch):
    monkeypatch.setattr(check.subprocess, "run", lambda command, **kwargs: subprocess.CompletedProcess(command, 1, "", "Traceback: boom"))
    with pytest.raises(RuntimeError, match="the parser check of s.yaml failed: Traceback: boom"):
        check.check_parameters(Path("s.yaml"), Sweep("s", "grid", [], {}), ["fit"], None)


def test_the_worker_command_line(monkeypatch):
    calls = []
    monkeypatch.setattr(worker_main.worker, "work", lambda *args: calls.append(args))
    worker_main.main(["rec", "--seed_offset", "2", "--label", "task 3", "--launcher", "srun --kill-on-bad-exit", "--", "--trainer.devices", "2"])
    worker_main.main(["rec"])
    assert calls == [(Path("rec"), 2, "task 3: ", ["srun", "--kill-on-bad-exit"], ["--trainer.devices", "2"]), (Path("rec"), 0, "", [], [])]

    def stopped(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(worker_main.worker, "work", stopped)
    with pytest.raises(SystemExit) as raised:
        worker_main.main(["rec"])
    assert raised.value.code == 130
