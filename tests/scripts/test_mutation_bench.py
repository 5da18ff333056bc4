"""The mutation benchmark's dry run (the benchmark itself: `python scripts/bench/mutation.py`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers.paths import REPO


@pytest.mark.slow
def test_mutation_benchmark_dry_run(tmp_path):
    """--tiny: the coverage of two test files, two mutants per package and the issue's hand-made
    survivors, tested in a copy of the checkout; the checkout itself is never mutated."""
    out, before = tmp_path / "bench", _lit_dl_text()
    env = {**os.environ, "PYTHONPATH": str(REPO), "WANDB_MODE": "disabled"}
    done = subprocess.run([sys.executable, "scripts/bench/mutation.py", "--tiny", "--out", str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _lit_dl_text() == before
    results = json.loads((out / "mutation.json").read_text())
    assert results["tiny"] and results["baseline_tests"]["passed"] > 0
    assert [m["package"] for m in results["mutants"]] == ["run", "training", "tasks", "commands"] * 2  # drawn in turns
    assert {m["status"] for m in results["mutants"]} <= {"killed", "survived", "timeout", "incompetent"}
    versions = next(n for n in results["named"] if n["module"] == "lit_dl/run/layout.py")  # its tests are among the two files
    assert versions["status"] == "killed" and versions["killed_by"].startswith("tests/run/test_layout.py::")
    assert "| Mutation: the issue's hand-made survivors | all killed |" in (out / "mutation.md").read_text()


def _lit_dl_text() -> dict[str, str]:
    return {str(p): p.read_text() for p in sorted((REPO / "lit_dl").rglob("*.py"))}


def _result(seed: int, held_out_from: int | None, held_out_score: float) -> dict:
    """A measured result as mutation.py writes it, small."""
    def package(killed: int, n: int) -> dict:
        return {"sampled": n, "killed": killed, "survived": n - killed, "equivalent": 0, "errors": 0, "no_test": 0, "score": killed / n,
                "interval": [0.5, 1.0]}

    scores = {p: package(9, 10) for p in ("run", "training", "tasks", "commands")}
    scores["all"] = {"score": 0.9, "interval": [0.85, 0.95], "killed": 36, "tested": 40}
    held = {p: package(round(held_out_score * 10), 10) for p in ("run", "training", "tasks", "commands")}
    held["all"] = {"score": held_out_score, "interval": [0.5, 0.9], "killed": 0, "tested": 40}
    result = {"seed": seed, "sample": 60, "scores": scores, "held_out_scores": held, "named": [], "population": dict.fromkeys(scores, 100)}
    if held_out_from is not None:
        result["held_out_from"] = held_out_from
    return result


def test_a_fresh_seeds_whole_sample_is_the_held_out_part_and_says_so():
    from scripts.bench import mutation

    assert mutation.held_out_from(mutation.SEED) == mutation.HELD_OUT_FROM and mutation.held_out_from(21) == 0
    fresh = _result(21, 0, 0.9)
    rows = mutation.goals(fresh)
    assert rows[0][0].endswith("a fresh sample of 60 mutants per package (seed 21: no test was written against it)")
    assert not any("held-out part" in row[0] for row in rows)
    text = " ".join(mutation._held_out_text(fresh) + mutation._verdict(fresh))
    assert "drawn with seed 21" in text and "the whole sample is held out" in text and "ranks" not in text
    assert "is met by this held-out sample (90.0%)" in text


def test_a_seed_whose_survivors_got_tests_is_not_called_fresh_or_held_out():
    from scripts.bench import mutation

    assert 23 in mutation.WRITTEN_AGAINST
    again = {**_result(23, 0, 1.0), "fresh": False}  # measured again after its survivors got tests
    rows = mutation.goals(again)
    assert rows[0][0].endswith("(seed 23, whose survivors had got tests: not a fair estimate)")
    text = " ".join(mutation._held_out_text(again) + mutation._verdict(again))
    assert "not a fair estimate" in text and "held out" not in text and "is met" not in text
    assert mutation._fresh(_result(21, 0, 0.9))  # a result written before `fresh` was recorded was measured fresh


def test_the_default_seeds_sample_keeps_its_held_out_ranks():
    from scripts.bench import mutation

    old = _result(20, 45, 0.679)
    rows = mutation.goals(old)
    assert rows[1][0] == "Mutation score of the held-out part of that sample (ranks 46-60: no test was written for them)"
    text = " ".join(mutation._held_out_text(old) + mutation._verdict(old))
    assert "first 45 mutants" in text and "the held-out part, 67.9%, says the suite as a whole is not there yet" in text
    legacy = _result(20, None, 0.679)  # written before --seed: the default seed's first held-out rank
    assert mutation._held_out_from(legacy) == mutation.HELD_OUT_FROM
