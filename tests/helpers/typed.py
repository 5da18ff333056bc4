"""Strings as a user gives them: built at run time, the way a command line, a config file or a JSON
file hands them to lit-dl, never the interned object of a string literal in a test. Code that
compares such a string with `is` instead of `==` then fails in the tests as it would for the user."""

from __future__ import annotations

from typing import Any


def typed(text: str) -> str:
    """An equal string that is a new object (one character strings excepted: CPython keeps one of each)."""
    fresh = (text + "\0")[:-1]
    assert fresh == text and (fresh is not text or len(text) < 2)
    return fresh


def typed_args(args: Any) -> list[str]:
    """A command line's arguments, each a new string object as in sys.argv."""
    return [typed(str(a)) for a in args]


def typed_tree(value: Any) -> Any:
    """`value` as read back from a YAML or JSON file: every string in it (keys too) a new object."""
    if isinstance(value, str):
        return typed(value)
    if isinstance(value, dict):
        return {typed_tree(k): typed_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(typed_tree(v) for v in value)
    return value
