"""The run directory: where a run lives and what it writes, one owner per file.

Imports nothing else of lit_dl but `lit_dl.errors`, so that `compare` and `sweep` start fast.
"""
