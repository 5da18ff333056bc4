"""`lit-dl compare --group`: runs that differ only by seed as one row each, Welch's test, bands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import scipy.stats
import yaml

from tests.helpers.images import png_pixels

# Hand-written run records: only the files compare reads, no checkpoints.
pytestmark = pytest.mark.broken_runs("hand-written run records hold only what compare reads")

LOSSES = {0.01: [0.30, 0.32, 0.31], 0.1: [0.40, 0.45, 0.38]}


def write_run(root: Path, version: int, max_lr: float, seed: int, val_loss: float) -> None:
    run = root / "exp" / f"version_{version}"
    run.mkdir(parents=True)
    config = {"seed_everything": seed, "model": {"init_args": {"scheduler": {"init_args": {"max_lr": max_lr}}}}, "name": "exp"}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    (run / "metrics.csv").write_text(f"epoch,step,val/loss\n0,10,{val_loss + 0.2}\n1,20,{val_loss}\n")
    (run / "results.json").write_text(json.dumps({"status": "completed", "epochs": 2, "test": {"test/acc": 1 - val_loss}}))


@pytest.fixture
def seeded_runs(tmp_path) -> Path:
    version = 0
    for max_lr, losses in LOSSES.items():
        for seed, loss in enumerate(losses):
            write_run(tmp_path, version, max_lr, seed, loss)
            version += 1
    return tmp_path / "exp"


def test_group_rows_hold_n_mean_std_and_the_t_interval(lit_dl, seeded_runs):
    code, out, err = lit_dl("compare", seeded_runs, "--group", "--format", "csv")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "group,settings,n,val/loss (best) mean ± std,95% CI,test/acc mean ± std,95% CI"
    first = lines[1].split(",")
    assert first[:3] == ["1", "max_lr=0.01", "3"] and lines[2].startswith("2,max_lr=0.1,3,")  # best mean first
    low, high = scipy.stats.t.interval(0.95, 2, loc=0.31, scale=scipy.stats.sem(LOSSES[0.01]))
    assert first[3] == "0.31 ± 0.01" and f"[{low:.4g}" in lines[1] and f"{high:.4g}]" in lines[1]


def test_vs_prints_welchs_p_value(lit_dl, seeded_runs):
    code, out, err = lit_dl("compare", seeded_runs, "--group", "--vs", "1", "max_lr=0.1")
    assert code == 0, err
    expected = scipy.stats.ttest_ind(LOSSES[0.01], LOSSES[0.1], equal_var=False).pvalue
    line = out.strip().splitlines()[-1]
    assert line.startswith("val/loss (best): group 1 (max_lr=0.01) 0.31 vs group 2 (max_lr=0.1) 0.41") and line.endswith(f"p = {expected:.3g}")


def test_vs_with_an_unknown_group_is_one_line(lit_dl, seeded_runs):
    code, out, err = lit_dl("compare", seeded_runs, "--group", "--vs", "1", "7")
    assert code == 2 and "--vs: no group '7'" in err and len(err.strip().splitlines()) == 1


def test_group_plot_draws_bands(lit_dl, seeded_runs, tmp_path):
    code, out, err = lit_dl("compare", seeded_runs, "--group", "--plot", tmp_path / "curves.png", "--x", "epoch")
    assert code == 0, err
    assert (tmp_path / "curves.png").stat().st_size > 10_000 and "learning curves:" in err
    assert png_pixels(tmp_path / "curves.png") == (1200, 800)  # 6 x 4 inches (a legend row a group) at 200 dpi


def test_group_plot_by_epoch_ticks_whole_epochs_and_table_is_the_default_format(lit_dl, seeded_runs, tmp_path, monkeypatch):
    import matplotlib.figure

    drawn = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda figure, *args, **kwargs: figure.canvas.draw() or drawn.append(
        [tick for ax in figure.axes for tick in ax.get_xticks()]))
    code, out, err = lit_dl("compare", seeded_runs, "--group", "--plot", tmp_path / "curves.png", "--x", "epoch")
    assert code == 0, err
    assert drawn and all(tick == int(tick) for tick in drawn[0])
    assert lit_dl("compare", seeded_runs, "--group", "--format", "table")[:2] == lit_dl("compare", seeded_runs, "--group")[:2]


def test_status_filter_knows_pruned(lit_dl, seeded_runs):
    results = seeded_runs / "version_0" / "results.json"
    results.write_text(json.dumps({"status": "pruned", "epochs": 1}))
    code, out, err = lit_dl("compare", seeded_runs, "--status", "pruned", "--format", "csv")
    assert code == 0, err
    assert out.strip().splitlines()[1].split(",")[:2] == ["exp/version_0", "pruned"]


def test_groups_come_best_mean_first_when_higher_is_better(lit_dl, seeded_runs):
    """--mode max: each run's highest val/loss (its first epoch's, loss + 0.2); max_lr=0.1's mean
    0.61 beats max_lr=0.01's 0.51."""
    code, out, err = lit_dl("compare", seeded_runs, "--group", "--mode", "max", "--format", "csv")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[1].startswith("1,max_lr=0.1,3,0.61 ± ") and lines[2].startswith("2,max_lr=0.01,3,0.51 ± ")


def test_vs_with_a_group_of_one_run_says_welch_needs_two(lit_dl, seeded_runs):
    write_run(seeded_runs.parent, 6, 1.0, 0, 0.5)  # one seed of max_lr=1.0
    code, out, err = lit_dl("compare", seeded_runs, "--group", "--vs", "1", "max_lr=1")
    assert code == 2 and err.strip() == ("lit-dl: error: --vs: group 3 (max_lr=1) has 1 run(s) with val/loss; Welch's t-test needs two or "
                                         "more in each (more seeds: lit-dl sweep --seeds K)")


def test_the_monitor_named_by_metric_keeps_its_direction_in_groups_and_mode_min_outranks_it(lit_dl, seeded_runs):
    # Faked: the runs' checkpoint says mode max for val/loss (a hand-made record; no recipe does this).
    for config_file in seeded_runs.glob("version_*/config.yaml"):
        config = yaml.safe_load(config_file.read_text())
        config_file.write_text(yaml.safe_dump({**config, "checkpoint": {"monitor": "val/loss", "mode": "max"}}))
    named = lit_dl("compare", seeded_runs, "--group", "--metric", "val/loss", "--format", "csv")
    assert named == lit_dl("compare", seeded_runs, "--group", "--format", "csv")
    assert named[1].splitlines()[1].startswith("1,max_lr=0.1,3,0.61 ± ")  # the highest val/loss, as the checkpoint's mode says
    # --mode min outranks the checkpoint's mode: each run's lowest val/loss, the lowest mean first.
    code, out, err = lit_dl("compare", seeded_runs, "--group", "--mode", "min", "--format", "csv")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[1].startswith("1,max_lr=0.01,3,0.31 ± ") and lines[2].startswith("2,max_lr=0.1,3,0.41 ± ")


def test_group_bands_skip_a_group_that_never_logged_the_metric_and_none_logged_is_one_line(seeded_runs, tmp_path):
    from lit_dl.commands import compare

    runs = [compare.load_run(path) for path in compare.find_runs([str(seeded_runs)])]
    (seeded_runs / "version_0" / "metrics.csv").write_text("epoch,step,val/acc\n0,10,0.5\n")
    groups = compare.build_groups([compare.load_run(runs[0].path), *runs[1:]], "val/acc", True)
    written = compare.plot_group_curves(groups, tmp_path / "acc.png", "val/acc", "epoch")  # only max_lr=0.01's first run logged it
    assert written == tmp_path / "acc.png" and png_pixels(written) == (1200, 800)
    with pytest.raises(compare.UserError, match="^no run logged 'val/f1'; pick a metric with --metric$"):
        compare.plot_group_curves(groups, tmp_path / "f1.png", "val/f1", "epoch")
    assert not (tmp_path / "f1.png").exists()
