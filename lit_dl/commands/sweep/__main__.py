"""`python -m lit_dl.commands.sweep SWEEP_DIR`: one worker of a sweep (lit_dl.commands.sweep.worker),
as `lit-dl sweep --workers N` and each task of a `--slurm` job array start it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lit_dl.commands.sweep import worker


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lit_dl.commands.sweep", description=__doc__.splitlines()[0])
    parser.add_argument("record", help="The sweep record (<root>/<name>/sweep_<k>).")
    parser.add_argument("--seed_offset", type=int, default=0, help="Added to the sampler's seed: each worker samples its own values.")
    parser.add_argument("--label", default="", help="Put before each line this worker prints.")
    parser.add_argument("--launcher", default="", help="A command each fit runs under (srun).")
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    try:
        worker.work(Path(args.record), args.seed_offset, f"{args.label}: " if args.label else "", args.launcher.split(), argv[split + 1 :])
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
