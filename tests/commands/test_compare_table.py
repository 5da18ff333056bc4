"""The pieces of `lit-dl compare`'s table without run directories: names, cells, sorting, widths,
the CSV and markdown text (tests/commands/test_compare.py runs the command on hand-written runs)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from lit_dl.commands import compare
from lit_dl.commands.compare import Column, Disputed
from lit_dl.errors import UserError
from tests.helpers.typed import typed, typed_tree  # names and formats as --sort, --status, --columns, --format give them


def run(config=None, results=None, best=None, path="runs/exp/version_0") -> SimpleNamespace:
    return SimpleNamespace(config=config or {}, results=results or {}, best=lambda metric, higher: best, path=Path(path))


def test_short_names_are_the_shortest_tails_no_other_key_ends_in():
    keys = ["model.init_args.optimizer.init_args.lr", "model.init_args.net.init_args.dropout", "data.init_args.dropout",
            "trainer.max_epochs", "seed_everything"]
    assert compare.short_names(keys, keys) == {"model.init_args.optimizer.init_args.lr": "lr", "model.init_args.net.init_args.dropout": "net.dropout",
                                               "data.init_args.dropout": "data.dropout", "trainer.max_epochs": "max_epochs",
                                               "seed_everything": "seed_everything"}
    assert compare.short_names(["a.b", "a.b"], ["a.b", "a.b"]) == {"a.b": "b"}  # the same key twice is one key


def test_differing_settings_leave_out_where_and_under_which_name_a_run_was_written():
    runs = [run({"lr": 0.1, "name": "a", "trainer.default_root_dir": "x", "depth": 2}), run({"lr": 0.2, "name": "b", "trainer.default_root_dir": "y",
                                                                                             "depth": 2, "extra": 1})]
    assert compare.differing_settings(runs) == ["lr", "extra"]


@pytest.mark.parametrize(("results", "status"), [({"status": "pruned"}, "pruned"), ({"val": {}}, "completed"), ({"test": {"a": 1}}, "completed"),
                                                 ({}, "unknown"), ({"status": ""}, "unknown")])
def test_a_runs_status(results, status):
    assert compare.run_status(run(results=results)) == status


def test_with_status_keeps_the_runs_asked_for_and_refuses_other_words():
    runs = [run(results={"status": "completed"}), run(results={"status": "failed"}), run()]
    assert compare.with_status(runs, None) is runs
    assert compare.with_status(runs, typed("failed, unknown")) == runs[1:]
    with pytest.raises(UserError) as raised:
        compare.with_status(runs, typed("done"))
    assert str(raised.value) == ("--status 'done' is not a run status; use one of running, completed, interrupted, failed, diverged, pruned "
                                 "(or several, separated by commas)")
    with pytest.raises(UserError, match="is not a run status"):
        compare.with_status(runs, typed(" , "))
    with pytest.raises(UserError) as raised:
        compare.with_status(runs, typed("pruned"))
    assert str(raised.value) == "none of the 3 runs has status pruned; drop --status to see them all"


@pytest.mark.parametrize(("value", "shown"), [
    ({"class_path": "lit_dl.nets.MLP", "init_args": {}}, "MLP"), ("torch.optim.AdamW", "AdamW"), ("relu", "relu"), ("Adam", "Adam"),
    ([{"class_path": "a.B"}, {"class_path": "c.d.E"}], "[B, E]"), ([1, 2], [1, 2]), (0.5, 0.5), ("runs/x.Y", "runs/x.Y"),
])
def test_a_setting_is_shown_short(value, shown):
    assert compare._setting(value) == shown


def test_rows_sort_best_first_for_metrics_ascending_otherwise_empty_cells_last():
    loss = Column("val/loss", "val/loss (best)", [0.3, None, 0.1, 0.2], False, True)
    acc = Column("test/acc", "test/acc", [0.8, 0.9, None, 0.7], True, True)
    lr = Column("lr", "lr", [0.1, 0.01, 1.0, None])
    names = Column("net", "net", ["MLP", "CNN", 3, True])
    columns = [Column("run", "run", ["a", "b", "c", "d"]), loss, acc, lr, names]
    assert compare.sort_rows(columns, typed("val/loss")) == [2, 3, 0, 1]
    assert compare.sort_rows(columns, typed("val/loss"), reverse=True) == [0, 3, 2, 1]
    assert compare.sort_rows(columns, typed("test/acc")) == [1, 0, 3, 2]
    assert compare.sort_rows(columns, typed("lr")) == [1, 0, 2, 3]
    assert compare.sort_rows(columns, typed("net")) == [2, 1, 0, 3]  # numbers before words; True is a word here
    with pytest.raises(UserError) as raised:
        compare.sort_rows(columns, typed("nope"))
    assert str(raised.value) == "cannot sort by 'nope'; choose one of run, val/loss (best), test/acc, lr, net"


def test_a_column_is_found_by_key_header_header_without_best_or_spaced_key():
    columns = [Column("val/loss", "val/loss (best)", []), Column("wall_time", "wall time", []), Column("model.lr", "lr", [])]
    assert [compare._find_column(columns, key).key for key in ("val/loss", "val/loss (best)", "wall_time", "wall time", "lr", "model.lr")] == [
        "val/loss", "val/loss", "wall_time", "wall_time", "model.lr", "model.lr"]
    assert compare._find_column(columns, "loss") is None


@pytest.mark.parametrize(("value", "column", "shown", "raw"), [
    (None, Column("x", "x", []), "-", ""), (0.123456, Column("val/acc", "val/acc", []), "0.1235", "0.123456"),
    (75.0, Column("wall_time", "wall time", []), "1m15s", "75.0"), (Disputed(0.4, "why"), Column("val/loss", "v", []), "0.4*", "0.4"),
    (3, Column("epochs", "epochs", []), "3", "3"), ("MLP", Column("net", "net", []), "MLP", "MLP"), (1234567.0, Column("m", "m", []), "1.235e+06", "1234567.0"),
])
def test_a_cell_is_short_in_a_table_and_whole_in_csv(value, column, shown, raw):
    assert compare.cell(value, column) == shown and compare.cell(value, column, raw=True) == raw


def test_markdown_right_aligns_numbers_and_escapes_bars_and_csv_names_settings_by_key():
    columns = [Column("run", "run", ["a", "b"]), Column("model.init_args.lr", "lr", [0.1, None]),
               Column("val/loss", "val/loss (best)", [0.5, 0.25], False, True), Column("epochs", "epochs", [3, 2]),
               Column("wall_time", "wall time", [12.5, 61.0]), Column("note", "note", ["x|y", "z"])]
    assert compare.render(columns, [1, 0], typed("markdown")) == (
        "| run | lr | val/loss (best) | epochs | wall time | note |\n"
        "|---|---|---:|---:|---:|---|\n"
        "| b | - | 0.25 | 2 | 1m01s | z |\n"
        "| a | 0.1 | 0.5 | 3 | 12.5s | x\\|y |\n")
    assert compare.render(columns, [0, 1], typed("csv")) == ("run,model.init_args.lr,val/loss (best),epochs,wall_time_s,note\n"
                                                      "a,0.1,0.5,3,12.5,x|y\nb,,0.25,2,61.0,z\n")


def test_narrow_tables_give_up_the_least_wanted_columns_first():
    rows = [0]
    run_column = Column("run", "run", ["exp/version_0"])
    status = Column("status", "status", ["completed"])
    monitor = Column("val/loss", "val/loss (best)", [0.5], False, True)
    setting = Column("lr", "lr", [0.1])
    test_acc = Column("test/acc", "test/acc", [0.9], True, True)
    other = Column("test/f1/cat", "test/f1/cat", [0.5], True, True)
    epochs = Column("epochs", "epochs", [3])
    columns = [run_column, status, monitor, setting, test_acc, other, epochs]
    assert compare.fit_width(columns, rows, None) == (columns, [])
    widths = [compare._cell_width(c, rows) + 3 for c in columns]
    assert widths == [16, 12, 12, 6, 11, 12, 9]
    assert compare.fit_width(columns, rows, sum(widths) - 1) == (columns, [])  # the widths plus a space between columns
    kept, left = compare.fit_width(columns, rows, sum(widths) - 2)
    assert left == [other]  # a per-class test metric goes first
    kept, left = compare.fit_width(columns, rows, 53)
    assert kept == [run_column, status, monitor, setting]
    kept, left = compare.fit_width(columns, rows, 5)
    assert kept == [run_column]  # the run column always stays
    assert [compare._priority(c, monitor) for c in columns] == [0, 0, 0, 1, 2, 4, 3]


@pytest.mark.parametrize(("left_out", "named"), [
    (1, "1 more column(s) not shown: m1; "),
    (3, "3 more column(s) not shown: m1, m2, m3; "),
    (4, "4 more column(s) not shown: m1, m2, m3, m4; "),
    (5, "5 more column(s) not shown: m1, m2, m3, m4, ...; "),
    (7, "7 more column(s) not shown: m1, m2, m3, m4, ...; "),
])
def test_columns_left_out_are_named_up_to_four_and_more_end_in_dots(left_out, named, capsys):
    columns = [Column("run", "run", ["exp/version_0"])] + [Column(f"m{i}", f"m{i} (best)", [0.5], False, True) for i in range(1, left_out + 1)]
    compare.print_table(columns, [0], width=15)  # room for the run column alone
    out = capsys.readouterr().out
    assert "m1" not in out.split("more column(s)")[0]  # only the run column is drawn
    assert named + "pick with --columns, all with --format csv" in " ".join(out.split())  # rich may break the line at spaces


def test_headers_break_after_slashes_underscores_and_dots_and_at_spaces():
    assert compare._header_pieces("val/loss (best)") == ["val/", "loss", "(best)"]
    assert compare._header_pieces("test/f1_macro") == ["test/", "f1_", "macro"]
    assert compare._wrapped_header("val/loss (best)", 9) == "val/loss\n(best)"
    assert compare._wrapped_header("test/f1_macro", 9) == "test/f1_\nmacro"
    assert compare._wrapped_header("epochs", 9) == "epochs"
    assert compare._wrapped_header("a b c", 3) == "a b\nc"
    assert compare._cell_width(Column("x", "a_much_longer_header", [1]), [0]) == 9  # the longest piece
    assert compare._cell_width(Column("x", "ab", [123456]), [0]) == 6


def test_runs_of_one_experiment_are_named_by_version_under_the_experiments_title():
    columns = [Column("run", "run", ["exp/version_0", "exp/version_1"]), Column("lr", "lr", [0.1, 0.2])]
    shorter = compare._shorter_run_names(columns)
    assert (shorter[0].values, shorter[0].caption, shorter[1]) == (["version_0", "version_1"], "exp", columns[1])
    mixed = [Column("run", "run", ["a/version_0", "b/version_0"])]
    assert compare._shorter_run_names(mixed) == mixed
    single = [Column("run", "run", ["version_0"])]
    assert compare._shorter_run_names(single) == single


def test_plot_labels_name_the_run_and_its_first_three_settings():
    columns = [Column("run", "run", ["exp/version_0", "exp/version_1"]), Column("status", "status", ["completed"] * 2),
               Column("lr", "lr", [0.1, 0.01]), Column("val/loss", "val/loss (best)", [0.5, 0.4], False, True),
               Column("depth", "depth", [2, 3]), Column("seed", "seed", [1, 2]), Column("width", "width", [8, 9]),
               Column("epochs", "epochs", [3, 3])]
    assert compare.plot_labels(columns) == ["version_0  lr=0.1, depth=2, seed=1", "version_1  lr=0.01, depth=3, seed=2"]
    assert compare.plot_labels(columns[:2]) == ["version_0", "version_1"]


def test_a_best_value_only_results_json_has_is_disputed_when_better():
    assert compare.best_recorded(run(results={"val": {"val/loss": 0.4}}, best=0.8), "val/loss", False) == 0.4
    disputed = compare.best_recorded(run(results={"val": {"val/loss": 0.4}}, best=0.8), "val/loss", False)
    assert isinstance(disputed, Disputed) and "results.json records val/loss 0.4, better than the best in its metrics.csv (0.8)" in disputed.note
    assert not isinstance(compare.best_recorded(run(results={"val": {"val/loss": 0.9}}, best=0.8), "val/loss", False), Disputed)
    assert not isinstance(compare.best_recorded(run(results={"val": {"val/acc": 0.9}}, best=0.95), "val/acc", True), Disputed)
    assert isinstance(compare.best_recorded(run(results={"val": {"val/acc": 0.99}}, best=0.95), "val/acc", True), Disputed)
    assert compare.best_recorded(run(results={"val": {"val/loss": 0.8 + 1e-9}}, best=0.8), "val/loss", False) == 0.8
    assert compare.best_recorded(run(results={"val": {"val/loss": "n/a"}}, best=0.8), "val/loss", False) == 0.8
    assert compare.best_recorded(run(results={"val": {"val/loss": 0.4}}, best=None), "val/loss", False) is None


def test_the_plot_goes_to_the_file_named_or_into_the_directory(tmp_path):
    assert compare._plot_file(tmp_path / "c.pdf", "val/loss", "step") == tmp_path / "c.pdf"
    assert compare._plot_file(tmp_path / "figures", "val/loss", "epoch") == tmp_path / "figures" / "val_loss_by_epoch.png"
    assert (tmp_path / "figures").is_dir()
    (tmp_path / "plain").write_text("")
    with pytest.raises(UserError, match="cannot write the plot into .*plain: it is a file; give a directory or a file name ending in .png"):
        compare._plot_file(tmp_path / "plain", "val/loss", "step")


def test_a_setting_column_by_its_tail_or_alias_and_an_ambiguous_name_is_refused():
    runs = [run({"model.init_args.optimizer.init_args.lr": 0.1, "seed_everything": 1, "data.init_args.lr": 2, "name": "x"}),
            run({"model.init_args.optimizer.init_args.lr": 0.2, "seed_everything": 2, "data.init_args.lr": 2})]
    column = compare.setting_column(runs, typed("optimizer.lr"))
    assert (column.key, column.header, column.values) == ("model.init_args.optimizer.init_args.lr", "optimizer.lr", [0.1, 0.2])
    assert compare.setting_column(runs, typed("optimizer.init_args.lr")).values == [0.1, 0.2]  # the key as the config spells it
    assert compare.setting_column(runs, typed("seed")).values == [1, 2] and compare.setting_column(runs, typed("name")) is None
    assert compare.setting_column(runs, typed("nothing")) is None
    with pytest.raises(UserError) as raised:
        compare.setting_column(runs, typed("lr"))
    assert str(raised.value) == "--columns: 'lr' could be model.init_args.optimizer.init_args.lr or data.init_args.lr; give more of the key"


def test_chosen_columns_keep_the_run_first_and_refuse_unknown_names():
    columns = [Column("run", "run", ["a"]), Column("val/loss", "val/loss (best)", [0.5], False, True), Column("epochs", "epochs", [3])]
    assert [c.key for c in compare.choose_columns(columns, typed_tree(["epochs", "val/loss", "epochs"]))] == ["run", "epochs", "val/loss"]
    with pytest.raises(UserError) as raised:
        compare.choose_columns(columns, typed_tree(["epoch"]))
    assert str(raised.value) == "--columns: no column 'epoch'; did you mean 'epochs'? choose from val/loss, epochs or any setting"
