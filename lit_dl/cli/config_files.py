"""The experiment files a command is given: there at all, UTF-8 YAML mappings of sections that
give no key twice, and a YAML syntax error named by file and line. Imports no Lightning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lit_dl.cli.table import COMMANDS
from lit_dl.errors import UserError

# Config sections that must be mappings when a file gives them (model and data may also be a
# bare class path).
MAPPING_SECTIONS = ("trainer", "checkpoint", "defaults")
# The commands that build an experiment (LightningCLI's names).
EXPERIMENT_COMMANDS = tuple(command.method for command in COMMANDS if command.trainer)


def config_paths(argv: list[str]) -> list[str]:
    """The files given to `--config` / `-c` on the command line."""
    paths = [value for flag, value in zip(argv, argv[1:]) if flag in ("--config", "-c")]
    return paths + [arg.partition("=")[2] for arg in argv if arg.startswith("--config=")]


def check_experiment_given(argv: list[str]) -> None:
    """`lit-dl fit` (validate, test, predict, lr-find) with neither --config nor --model/--data:
    jsonargparse would ask for `fit.model`, a flag that does not exist."""
    command = argv[0] if argv else None
    if command not in EXPERIMENT_COMMANDS or config_paths(argv):
        return
    if any(arg in ("-h", "--help") or arg.startswith(("--print_config", "--model", "--data")) for arg in argv[1:]):
        return
    checkpoint = " --ckpt_path best" if command in ("validate", "test", "predict") else ""
    raise UserError(
        f"lit-dl {command.replace('_', '-')} needs an experiment file; pass --config experiments/quickstart.yaml{checkpoint} "
        "(or your own experiment file)"
    )


def check_config_file(path: str) -> None:
    """A `--config` file must be UTF-8 text holding a YAML mapping of sections."""
    import yaml

    try:
        raw = Path(path).read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        if Path(path).is_dir():
            raise UserError(f"--config {path} is a folder; pass a YAML file such as experiments/quickstart.yaml") from None
        return  # jsonargparse names the missing file
    except OSError as error:
        raise UserError(f"cannot read config file {path}: {error.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UserError(
            f"config file {path} is not UTF-8 text (byte {raw[error.start]:#04x} at position {error.start}); "
            "save it as UTF-8 (or pass a YAML file, not a binary one)"
        ) from None
    try:
        content = yaml.safe_load(text)
        repeated = repeated_key(yaml.compose(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return  # check_yaml_file names the line
    if repeated:
        key, line, first = repeated
        where = f"on line {line}" if line == first else f"at lines {first} and {line}"
        raise UserError(f"config file {path} gives '{key}' twice, {where} (YAML would keep only the last); keep one of them")
    shape = "a mapping of sections such as 'trainer:', 'model:' and 'data:'"
    if content is None:
        raise UserError(f"config file {path} is empty; it must hold {shape}")
    if not isinstance(content, dict):
        kind = "a list" if isinstance(content, list) else f"the single value {str(content)[:40]!r}"
        raise UserError(f"config file {path} holds {kind}; it must hold {shape}")
    for section in MAPPING_SECTIONS:
        value = content.get(section)
        if value is not None and not isinstance(value, dict):
            raise UserError(f"'{section}' in config file {path} is a {type(value).__name__}; it must be a mapping of its options")


def repeated_key(node: Any, where: str = "") -> tuple[str, int, int] | None:
    """The first key given twice in one mapping of a composed YAML document, as (dotted key, its
    line, the line of its first use); PyYAML itself silently keeps the last value."""
    import yaml

    if isinstance(node, yaml.SequenceNode):
        return next(filter(None, (repeated_key(item, where) for item in node.value)), None)
    if not isinstance(node, yaml.MappingNode):
        return None
    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value)
        dotted = f"{where}.{key}" if where else key
        if key in lines and key != "<<":  # `<<` merges, and may come more than once
            return dotted, key_node.start_mark.line + 1, lines[key]
        lines[key] = key_node.start_mark.line + 1
        found = repeated_key(value_node, dotted)
        if found:
            return found
    return None


def check_yaml_file(path: str) -> None:
    """Raise a UserError naming the file, line and problem if `path` is a file of broken YAML."""
    import yaml

    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError):
        return  # not a readable file: jsonargparse reports it (or reads the value as inline YAML)
    try:
        yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = error.problem or error.context or "invalid YAML"
        opened = error.context_mark
        if error.context and opened and mark and opened.line != mark.line:
            problem += f" ({error.context} opened at line {opened.line + 1})"
        raise UserError(f"YAML syntax error in {path}{where}: {problem}; fix the file") from None
    except yaml.YAMLError as error:
        raise UserError(f"YAML syntax error in {path}: {error}; fix the file") from None
