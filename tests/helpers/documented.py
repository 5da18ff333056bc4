"""What the documentation tells a user to run: every command and YAML block of README.md, and the
run commands in the header comments of the experiment files.

A README block (or inline command) preceded by `<!-- not-run: REASON -->` cannot run on a test
machine (a GPU, sbatch, docker, this test suite itself); it is still checked as far as it can be.

Inline flags with a value in the prose (`--columns status,lr,test/acc`) are "fragments": they run
with the lit-dl command that has that flag, the one the section was just showing when it has it.
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

# An inline `--flag value` (or `--flag=value`) that INLINE leaves: a fragment of some command.
# One listing alternatives (`last|best`) or eliding (`...`) is a template, not something to run.
FRAGMENT = re.compile(r"(?:<!--\s*not-run:\s*(.*?)\s*-->\s*)?`(--[\w.+-]+(?:=|\s+)[^`]+)`")
TEMPLATE = re.compile(r"\||\.\.\.")


@dataclass
class Snippet:
    where: str  # "README.md:52"
    kind: str  # "command", "yaml", "python" (run as a script), "transcript" (a `$ command` and its output) or "listing" (a run directory)
    text: str  # a command's words joined by spaces; a block's text
    not_run: str | None = None  # why it cannot run here
    context: str | None = None  # a fragment's: the last `lit-dl` command before it in its section

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
    snippets += _fragments(readme.name, text, snippets)
    return sorted(snippets, key=lambda snippet: int(snippet.where.rsplit(":", 1)[1]))


def _fragments(name: str, prose: str, snippets: list[Snippet]) -> list[Snippet]:
    """The flag fragments of the prose, each with the `lit-dl` command its section showed last."""
    taken = {match.start(2) for match in INLINE.finditer(prose)}
    headings = [number for number, line in enumerate(prose.splitlines(), 1) if line.startswith("#")]
    line_of = lambda snippet: int(snippet.where.rsplit(":", 1)[1])  # noqa: E731
    commands = sorted((s for s in snippets if s.kind == "command" and s.text.startswith("lit-dl ")), key=line_of)
    found = []
    for match in FRAGMENT.finditer(prose):
        code = " ".join(match.group(2).split())
        if match.start(2) in taken or TEMPLATE.search(code):
            continue
        line = prose.count("\n", 0, match.start()) + 1
        section = max((h for h in headings if h <= line), default=0)
        before = [s for s in commands if section <= line_of(s) <= line]
        found.append(Snippet(f"{name}:{line}", "fragment", code, match.group(1), before[-1].text if before else None))
    return found


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
