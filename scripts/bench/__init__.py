"""lit-dl's benchmark, one module per section; `python -m scripts.bench` runs them all.

Each section module has `run(options, workdir) -> dict` (its figures), `goals(result) -> rows`
(goal, target, measured, verdict) and `markdown(result) -> lines`. `run.py` calls them in turn and
writes `benchmarks/results.json` and `benchmarks/README.md`. Sections import nothing from each
other but `common` (and `cifar_files`), and nothing from `tests/`.
"""
