"""Turning the exceptions a user's mistake raises deep inside the stack into one clear line.

Imports no Lightning: `lit_dl.cli.main` uses it before Lightning is loaded."""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterable
from typing import Any

from lit_dl.cli.table import COMMANDS
from lit_dl.errors import UserError, one_line

_NOT_ACCEPTED = re.compile(r"(?:Option|Key) '([^']+)' is not (?:accepted|expected)")
_SUBCOMMAND_KEY = re.compile(r"does not accept (?:option|key) '([^']+)'|Unrecognized arguments: --?(\S+)", re.I)
_CLASS_PATH = re.compile(r"Problem with given class_path '([^']+)'")
_PARSER_KEY = re.compile(r'Parser key "([^"]+)"')
_MISSING_FILE = re.compile(r"File does not exist: '([^']+)'")
_NO_ATTRIBUTE = re.compile(r"module '([\w.]+)' has no attribute '(\w+)'")
_NO_MODULE = re.compile(r"No module named '([\w.]+)'")
_CLASS_REPR = re.compile(r"<class '(?:[\w.]+\.)?(\w+)'>")
_EXPECTED = re.compile(r"Expected an? (.+?)(?:\. Got value: (.*))?$")
_LITERAL = re.compile(r"typing\.Literal\[(.*?)\]")
# Names from other frameworks that a typo check cannot connect to torch's.
_ALIASES = {"learning_rate": "lr", "lr_rate": "lr", "wd": "weight_decay", "l2": "weight_decay"}
_GOT_CLASS = re.compile(r"Got value: Namespace\(class_path='([^']+)'")
_REQUIRED = re.compile(r"the following arguments are required: ([\w, .]+)")
_SUBCOMMAND_PREFIX = re.compile(rf"^(?:{'|'.join(c.method for c in COMMANDS if c.trainer)})\.")
_GIVEN_VALUE = re.compile(r"^\s*Given value: (.*)$", re.M)


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate a typo most likely meant, compared on the last dotted part too."""
    candidates = list(candidates)
    by_lower = {c.lower(): c for c in candidates}
    if name.lower() in by_lower:  # only the case is wrong: `Adamw` means `AdamW`, not `Adam`
        return by_lower[name.lower()]
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


def _class_path_problem(message: str, where: str) -> str | None:
    """'unknown class ...; did you mean ...?' for a class_path that does not import."""
    paths = _CLASS_PATH.findall(message)
    missing = _NO_ATTRIBUTE.search(message) or _NO_MODULE.search(message)
    if not missing:
        return None
    prefix = f"{where}: " if where else ""
    if missing.re is _NO_ATTRIBUTE:
        module_name, attribute = missing.group(1), missing.group(2)
        failed = f"{module_name}.{attribute}"
        class_path = next((p for p in reversed(paths) if p == failed or p.startswith(failed + ".")), failed)
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            return None
        # The last part of a class path is a class; a part before it, a (sub)module.
        classes = [n for n in dir(module) if not n.startswith("_") and inspect.isclass(getattr(module, n, None))]
        modules = [m.name for m in pkgutil.iter_modules(getattr(module, "__path__", []))]
        first, second = (classes, modules) if class_path == failed else (modules, classes)
        hint = closest(attribute, first) or closest(attribute, second)
        fix = f"did you mean '{module_name}.{hint}'?" if hint else f"see the classes in {module_name}"
        return f"{prefix}unknown class path '{class_path}' ({module_name} has no '{attribute}'); {fix}"
    module_name = missing.group(1)
    class_path = next((p for p in reversed(paths) if p.startswith(module_name + ".")), module_name)
    return f"{prefix}unknown class path '{class_path}' (no module named '{module_name}'); check the spelling"


def _readable_type_error(reason: str, given: str | None) -> str:
    """`Expected a <class 'int'>. Got value: abc` -> `expected int, got 'abc'`."""
    reason = _LITERAL.sub(lambda m: "one of " + m.group(1), _CLASS_REPR.sub(r"\1", reason))
    match = _EXPECTED.match(reason)
    if not match:
        return reason
    value = match.group(2) if match.group(2) is not None else given
    return f"expected {match.group(1)}" + (f", got '{value}'" if value is not None else "")


def explain_parse_error(message: str, valid_keys: Iterable[str] = ()) -> str:
    """One line from jsonargparse's nested, multi-line message, with a did-you-mean."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    missing_file = _MISSING_FILE.search(message)
    if missing_file and 'Parser key "config"' in message:
        return f"config file not found: {missing_file.group(1)}; check the path given to --config"
    unknown = _SUBCOMMAND_KEY.search(message)
    if unknown:
        key = (unknown.group(1) or unknown.group(2)).lstrip("-")
        hint = closest(key, valid_keys)
        return f"unknown option '{key}'" + (f"; did you mean '{hint}'?" if hint else "; see --help for the valid options")
    rejected = _NOT_ACCEPTED.search(message)
    if rejected:
        classes = _CLASS_PATH.findall(message)
        # A callable's arguments (an optimizer's) are rejected with the class in its given value.
        given_class = _GOT_CLASS.search(message, rejected.end())
        owner = given_class.group(1) if given_class else classes[-1] if classes else None
        key = rejected.group(1)
        where = f" by {owner}" if owner else ""
        accepted = _init_params(owner) if owner else list(valid_keys)
        hint = _ALIASES.get(key) if _ALIASES.get(key) in accepted else closest(key, accepted)
        return f"option '{key}' is not accepted{where}" + (f"; did you mean '{hint}'?" if hint else "")
    # Otherwise the innermost reason is the most specific: skip jsonargparse's framing lines.
    keys = _PARSER_KEY.findall(message)
    where = ".".join(keys)
    class_problem = _class_path_problem(message, where)
    if class_problem:
        return class_problem
    required = _REQUIRED.search(message)
    if required:
        classes = _CLASS_PATH.findall(message)
        owner = f"{classes[-1]} " if classes else ""
        # A subcommand's own keys come prefixed with it (`fit.data`); its flags are not (`--data`).
        names = [_SUBCOMMAND_PREFIX.sub("", name.strip()) for name in required.group(1).split(",")]
        flags = ", ".join(f"--{where}.{name}" if where else f"--{name}" for name in names)
        return f"{where + ': ' if where else ''}{owner}needs {', '.join(names)}; give {flags}"
    framing = ("Parser key", "Does not validate", "Subtypes:", "Errors:", "Given value", "- Expected a <class 'NoneType'>", "Problem with given class_path")
    # "Not of type Tensor: new(): ..." is torch's answer to a word where a number (or tensor) goes.
    reasons = [line.lstrip("- ") for line in lines if not line.startswith(framing) and not line.lstrip("- ").startswith("Not of type")]
    reason = reasons[-1] if reasons else lines[-1] if lines else "invalid arguments"
    given = _GIVEN_VALUE.search(message)
    alternatives = [line for line in reasons if _EXPECTED.match(line)]
    if len(alternatives) > 1 and len(alternatives) == len(reasons):  # a Union: name every accepted form
        reason = "Expected a " + _merge_alternatives(alternatives)
    reason = _readable_type_error(reason, given.group(1).split(". Got value:")[0] if given else None)
    return (f"{where}: " if where else "") + reason


def _merge_alternatives(reasons: list[str]) -> str:
    literals: list[str] = []
    others: list[str] = []
    for reason in reasons:
        expected = _EXPECTED.match(reason).group(1)
        literal = _LITERAL.fullmatch(expected)
        if literal:
            literals += [v.strip() for v in literal.group(1).split(",") if v.strip() not in literals]
        else:
            others.append(_CLASS_REPR.sub(r"\1", expected))
    parts = ([f"typing.Literal[{', '.join(literals)}]"] if literals else []) + others
    return " or ".join(parts)


def check_devices(accelerator: object, devices: object) -> None:
    """Raise a UserError when `--trainer.devices` asks for more devices than the machine has.

    Lightning would fail with "No supported gpu backend found!" or, on CPU, start one process
    per requested device however few cores there are.
    """
    import os

    import torch

    kind = str(accelerator or "auto").lower()
    if kind not in ("auto", "cpu", "gpu", "cuda"):
        return  # tpu, mps, custom accelerators: Lightning checks them
    gpus = torch.cuda.device_count()
    if kind == "auto":
        kind = "cuda" if gpus else "cpu"
    if kind == "cpu":
        available, unit, fix = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, "CPU cores", "--trainer.devices 1"
    else:
        available, unit, fix = gpus, "GPUs", "--trainer.accelerator cpu" if not gpus else f"--trainer.devices {gpus}"
    wanted = _device_count(devices)
    if wanted is None:
        return
    if wanted < 1:
        raise UserError(f"--trainer.devices {devices} is not valid; use a count of at least 1, -1 or 'auto' for all of them, or a list of indices")
    indices = devices if isinstance(devices, (list, tuple)) else []
    if wanted > available or any(int(i) >= available for i in indices):
        asked = f"devices {list(indices)}" if indices else f"{wanted} devices"
        raise UserError(f"--trainer.devices asks for {asked} but this machine has {available} {unit}; use {fix} (or 'auto')")


def _device_count(devices: object) -> int | None:
    """How many devices `--trainer.devices` names; None for 'auto' and -1 (all of them)."""
    if isinstance(devices, (list, tuple)):
        return len(devices)
    text = str(devices).strip()
    if text in ("auto", "-1", "None", ""):
        return None
    if "," in text:
        return len([part for part in text.split(",") if part.strip()])
    try:
        return int(text)
    except ValueError:
        return None


def option_names(parser: Any, argv: list[str], subcommands: Iterable[str]) -> list[str]:
    """Every dotted option of the subcommand being parsed, for did-you-mean hints."""
    from lit_dl import internals

    subcommand = next((a for a in argv if a in set(subcommands)), None)
    target = internals.subcommand_parsers(parser).get(subcommand, parser) if subcommand else parser
    return internals.option_names(target)


# -- a value torch or Lightning reject while a fit is set up ------------------------------------
def raised_by_torch_or_lightning(error: BaseException) -> bool:
    """Whether the innermost frame of the error is in torch or Lightning: a check of theirs."""
    import os
    from pathlib import Path

    import lightning
    import torch

    packages = [str(Path(module.__file__).resolve().parent) for module in (torch, lightning)]
    traceback = error.__traceback__
    innermost = None
    while traceback is not None:
        innermost, traceback = traceback.tb_frame, traceback.tb_next
    where = str(Path(innermost.f_code.co_filename).resolve()) if innermost is not None else ""
    return any(where.startswith(package + os.sep) for package in packages)


def setup_problem(error: BaseException) -> str:
    """`<section>: <first sentence of the message>`, the section found from where it was raised."""
    import os
    import traceback as tb

    files = [frame.filename for frame in tb.extract_tb(error.__traceback__)]
    if any(name.endswith("lr_scheduler.py") for name in files):
        where = "model.init_args.scheduler"
    elif any(f"{os.sep}optim{os.sep}" in name for name in files):
        where = "model.init_args.optimizer"
    else:
        where = "trainer"
    first = re.split(r"(?<=[.!?])\s+(?=[A-Z])", one_line(error).strip())[0]
    return f"{where}: {first}"
