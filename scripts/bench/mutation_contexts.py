"""pytest plugin of the mutation benchmark's coverage run (`-p scripts.bench.mutation_contexts`):
records every test's lines under its node id, in the test process and in every Python process the
test starts, and writes each test's outcome and duration to the JSON file named by
$LIT_DL_MUTATION_TESTS. scripts/bench/mutation.py then runs, for each mutant, only the tests that
executed the mutated line."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import coverage
import pytest

PROCESS_CONFIG = "COVERAGE_PROCESS_CONFIG"  # coverage's `patch = subprocess`: the config child processes start with
_tests: dict[str, dict] = {}


def _switch(context: str) -> None:
    """This process's coverage context becomes `context`, and so does the static context of the
    processes started from now on (`patch = subprocess` hands them the config serialized, as
    base64 JSON, in COVERAGE_PROCESS_CONFIG; a child's lines land under its static context)."""
    current = coverage.Coverage.current()
    if current is not None:
        current.switch_context(context)
    if PROCESS_CONFIG in os.environ:
        config = json.loads(base64.b64decode(os.environ[PROCESS_CONFIG]))
        config["context"] = context or None
        os.environ[PROCESS_CONFIG] = base64.b64encode(json.dumps(config).encode()).decode()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _switch(item.nodeid)
    _tests[item.nodeid] = {"outcome": "passed", "seconds": 0.0}
    yield
    _switch("")


def pytest_runtest_logreport(report):
    test = _tests.setdefault(report.nodeid, {"outcome": "passed", "seconds": 0.0})
    test["seconds"] = round(test["seconds"] + report.duration, 3)
    if report.failed:
        test["outcome"] = "failed"
    elif report.skipped and test["outcome"] == "passed":
        test["outcome"] = "skipped"


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("LIT_DL_MUTATION_TESTS")
    if path:
        Path(path).write_text(json.dumps(_tests, indent=1) + "\n")
