"""`python -m lit_dl.cli.parse_check`: whether `lit-dl fit` parses each of several argument lists.

`lit-dl sweep` asks it once, before its first trial, whether the experiment's parser accepts every
parameter of the sweep file with each of its values (one process: the parser is built again for
each list, which costs a fraction of a second once Lightning is imported). Standard input holds
JSON `{"fit": [ARGS...], "variants": [{"key": K, "value": V, "flags": [ARGS...]}, ...]}`; the
answer, on standard output, is JSON: null when all parse, else the first variant that does not,
with `error`, the one line `lit-dl fit` would print.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys


def first_failure(fit: list[str], variants: list[dict]) -> dict | None:
    from lit_dl.cli import main

    for variant in variants:
        output = io.StringIO()
        try:
            with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
                main(["fit", *fit, *variant["flags"], "--print_config"])
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
        if code != 0:
            lines = [line for line in output.getvalue().splitlines() if line.strip()]
            errors = [line for line in lines if line.startswith("lit-dl: error:")]
            error = (errors or lines or [f"exit code {code}"])[-1].removeprefix("lit-dl: error: ")
            return {**variant, "error": error}
    return None


if __name__ == "__main__":
    request = json.load(sys.stdin)
    print(json.dumps(first_failure(request["fit"], request["variants"])))
