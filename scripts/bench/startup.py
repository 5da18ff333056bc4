"""Start-up: `lit-dl --help` and `lit-dl fit --print_config` against `import lightning`, and which
heavy optional modules the CLI imports beyond what `import lightning` does."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from scripts.bench.common import ENV, REPO, log, median, met, run_once, table

EXTRA_S_GOAL = 0.5
HEAVY_OPTIONAL = ("wandb", "torchvision", "matplotlib", "rich")
IMPORTED_PROBE = """
import json, sys
if sys.argv[2:] == ["import lightning"]:
    import lightning
else:
    from lit_dl.cli import main
    try:
        main(sys.argv[2:])
    except SystemExit:
        pass
open(sys.argv[1], "w").write(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def run(options: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    lit_dl = shutil.which("lit-dl") or "lit-dl"
    quickstart = str(REPO / "experiments" / "quickstart.yaml")
    commands = {
        "import torch": [sys.executable, "-c", "import torch"],
        "import lightning": [sys.executable, "-c", "import lightning"],
        "lit-dl --help": [lit_dl, "--help"],
        "lit-dl fit --print_config": [lit_dl, "fit", "--config", quickstart, "--print_config"],
    }
    log(f"startup: {', '.join(commands)}")
    for command in commands.values():
        run_once(command)  # warm-up: the files are in the page cache for every timed run
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(options.startup_runs):  # rounds: a slow spell of the machine hits all alike
        for name, command in commands.items():
            samples[name].append(run_once(command))
    seconds = {name: median(times) for name, times in samples.items()}
    probes = {"import lightning": ["import lightning"], "lit-dl --help": ["--help"],
              "lit-dl fit --print_config": ["fit", "--config", quickstart, "--print_config"]}
    imported = {}
    for name, args in probes.items():
        out = workdir / "imported.json"
        probe = IMPORTED_PROBE.format(heavy=HEAVY_OPTIONAL)
        subprocess.run([sys.executable, "-c", probe, str(out), *args], cwd=REPO, env=ENV, capture_output=True, check=True)
        imported[name] = json.loads(out.read_text())
    return {
        "runs": options.startup_runs,
        "median_s": seconds,
        "extra_s": {name: seconds[name] - seconds["import lightning"] for name in ("lit-dl --help", "lit-dl fit --print_config")},
        "heavy_imported": imported,
        "heavy_imported_by_lit_dl": sorted(
            {m for name in probes if name != "import lightning" for m in imported[name]} - set(imported["import lightning"])
        ),
    }


def goals(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = [
        (f"Start-up: `{name}` over `import lightning`", f"<= {EXTRA_S_GOAL:.1f} s",
         f"{extra:+.2f} s ({result['median_s'][name]:.2f} vs {result['median_s']['import lightning']:.2f} s)", met(extra <= EXTRA_S_GOAL))
        for name, extra in result["extra_s"].items()
    ]
    extra, by_lightning = result["heavy_imported_by_lit_dl"], result["heavy_imported"]["import lightning"]
    rows.append((
        "Lazy imports: " + ", ".join(HEAVY_OPTIONAL), "`--help` / `--print_config` import none beyond what `import lightning` does",
        f"beyond `import lightning`: {', '.join(extra) or 'none'}; `import lightning` itself imports {', '.join(by_lightning) or 'none'}",
        met(not extra),
    ))
    return rows


def markdown(result: dict[str, Any]) -> list[str]:
    base = result["median_s"]["import lightning"]
    return [
        "## Start-up",
        "",
        f"Wall time of the command, median of {result['runs']} rounds after a warm-up run.",
        "",
        *table(["command", "seconds", "over `import lightning`", "optional modules imported"], [
            [f"`{name}`", f"{s:.2f}", f"{s - base:+.2f}", ", ".join(result["heavy_imported"].get(name, [])) or
             ("none" if name in result["heavy_imported"] else "")]
            for name, s in result["median_s"].items()
        ]),
    ]
