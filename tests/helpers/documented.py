"""What the documentation tells a user to run: every command and YAML block of README.md, and the
run commands in the header comments of the experiment files.

A README block (or inline command) preceded by `<!-- not-run: REASON -->` cannot run on a test
machine (a GPU, sbatch, docker, this test suite itself); it is still checked as far as it can be.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

NOT_RUN = re.compile(r"<!--\s*not-run:\s*(.*?)\s*-->")
QUICKSTART = "experiments/quickstart.yaml"  # what flag fragments and YAML fragments are added to
FENCE = re.compile(r"^```(\w*)\s*$")
# Inline code a reader would copy into a shell or a config file.
# Flags (`--trainer...`, `--config ...`) are added to the quickstart's fit; `lit-dl fit` alone names the command.
INLINE = re.compile(
    r"(?:<!--\s*not-run:\s*(.*?)\s*-->\s*)?`((?:lit-dl|python scripts/)[^`]+|--(?:trainer\.|defaults\.|config )[^`]+|trainer: \{[^`]+)`"
)


@dataclass
class Snippet:
    where: str  # "README.md:52"
    kind: str  # "command", "yaml", "python" (run as a script), "transcript" (a `$ command` and its output) or "listing" (a run directory)
    text: str  # a command's words joined by spaces; a block's text
    not_run: str | None = None  # why it cannot run here

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.text)

    def __str__(self) -> str:
        return f"{self.where} {self.text.splitlines()[0][:60]}"


def commands_of_shell_block(text: str) -> list[str]:
    """One string per command: continuation lines joined, comments dropped, `a && b` split."""
    joined = re.sub(r"\\\n\s*", " ", text)
    commands = []
    for line in joined.splitlines():
        command: list[str] = []
        for word in [*shlex.split(line, comments=True), "&&"]:
            if word != "&&":
                command.append(word)
            elif command:
                commands.append(shlex.join(command))
                command = []
    return commands


def readme_snippets(readme: Path) -> list[Snippet]:
    lines = readme.read_text().splitlines()
    snippets: list[Snippet] = []
    prose = list(lines)  # the text outside fenced blocks, for inline code (which may span lines)
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
        prose[i : end + 1] = [""] * (end + 1 - i)
        before = next((line for line in reversed(lines[:i]) if line.strip()), "")
        marker = NOT_RUN.search(before)
        snippets += _block(f"{readme.name}:{i + 1}", opening.group(1), "\n".join(lines[i + 1 : end]), marker and marker.group(1))
        i = end + 1
    text = "\n".join(prose)
    for match in INLINE.finditer(text):
        code = " ".join(match.group(2).split())
        if re.fullmatch(r"lit-dl \w+", code) or re.fullmatch(r"--[\w.]+", code):
            continue  # the name of a command or of a flag, not something to run
        kind = "yaml" if code.startswith("trainer:") else "command"
        if code.startswith("--"):
            code = f"lit-dl fit --config {QUICKSTART} {code}"
        elif re.match(r"lit-dl (fit|validate|test|predict|lr-find) ", code) and "--config" not in code:
            # prose naming a command by its flags: of the quickstart, the README's running example
            command, rest = code.split(" ", 2)[1:]
            code = f"lit-dl {command} --config {QUICKSTART} {rest}"
        where = f"{readme.name}:{text.count(chr(10), 0, match.start()) + 1}"
        snippets.append(Snippet(where, kind, code, match.group(1)))
    return sorted(snippets, key=lambda snippet: int(snippet.where.rsplit(":", 1)[1]))


def _block(where: str, language: str, body: str, reason: str | None) -> list[Snippet]:
    if language in ("bash", "sh", "shell"):
        return [Snippet(where, "command", command, reason) for command in commands_of_shell_block(body)]
    if language in ("yaml", "yml"):
        return [Snippet(where, "yaml", body, reason)]
    if language == "python":
        return [Snippet(where, "python", body, reason)]
    if body.startswith("$ "):
        return [Snippet(where, "transcript", body, reason)]
    if body.splitlines()[0].rstrip().endswith("/"):
        return [Snippet(where, "listing", body, reason)]
    raise ValueError(f"{where}: a code block of unknown kind; give it a language (bash, yaml)")


def header_commands(experiment_files: list[Path], repo: Path) -> list[Snippet]:
    """`#   lit-dl ...` lines (with `\\` continuations) in the leading comments of YAML files."""
    snippets = []
    for path in experiment_files:
        header = []
        for line in path.read_text().splitlines():
            if not line.startswith("#"):
                break
            header.append(line[1:])
        text = re.sub(r"\\\n\s*", " ", "\n".join(header))
        for number, line in enumerate(text.splitlines(), 1):
            command = line.strip()
            if command.startswith("lit-dl "):
                where = f"{path.relative_to(repo)}:{number}"
                snippets.append(Snippet(where, "command", shlex.join(shlex.split(command, comments=True))))
    return snippets
