"""Turning the exceptions a user's mistake raises deep inside the stack into one clear line."""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
from collections.abc import Iterable

_NOT_ACCEPTED = re.compile(r"(?:Option|Key) '([^']+)' is not (?:accepted|expected)")
_SUBCOMMAND_KEY = re.compile(r"does not accept (?:option|key) '([^']+)'|Unrecognized arguments: --?(\S+)", re.I)
_CLASS_PATH = re.compile(r"Problem with given class_path '([^']+)'")
_PARSER_KEY = re.compile(r'Parser key "([^"]+)"')


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate a typo most likely meant, compared on the last dotted part too."""
    candidates = list(candidates)
    match = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if match:
        return match[0]
    tails = {c.rsplit(".", 1)[-1]: c for c in candidates}
    match = difflib.get_close_matches(name.rsplit(".", 1)[-1], list(tails), n=1, cutoff=0.6)
    return tails[match[0]] if match else None


def _init_params(class_path: str) -> list[str]:
    module_name, _, class_name = class_path.rpartition(".")
    try:
        target = getattr(importlib.import_module(module_name), class_name)
        return [p for p in inspect.signature(target).parameters if p not in ("self", "args", "kwargs")]
    except (ImportError, AttributeError, ValueError, TypeError):
        return []


def explain_parse_error(message: str, valid_keys: Iterable[str] = ()) -> str:
    """One line from jsonargparse's nested, multi-line message, with a did-you-mean."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    unknown = _SUBCOMMAND_KEY.search(message)
    if unknown:
        key = (unknown.group(1) or unknown.group(2)).lstrip("-")
        hint = closest(key, valid_keys)
        return f"unknown option '{key}'" + (f"; did you mean '{hint}'?" if hint else "; see --help for the valid options")
    rejected = _NOT_ACCEPTED.search(message)
    if rejected:
        classes = _CLASS_PATH.findall(message)
        owner = classes[-1] if classes else None
        key = rejected.group(1)
        where = f" by {owner}" if owner else ""
        hint = closest(key, _init_params(owner)) if owner else closest(key, valid_keys)
        return f"option '{key}' is not accepted{where}" + (f"; did you mean '{hint}'?" if hint else "")
    # Otherwise the innermost reason is the most specific: skip jsonargparse's framing lines.
    framing = ("Parser key", "Does not validate", "Subtypes:", "Errors:", "Given value", "- Expected a <class 'NoneType'>")
    reasons = [line.lstrip("- ") for line in lines if not line.startswith(framing)]
    keys = _PARSER_KEY.findall(message)
    reason = reasons[-1] if reasons else lines[-1] if lines else "invalid arguments"
    return (f"{'.'.join(keys)}: " if keys else "") + reason
