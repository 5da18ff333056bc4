"""`lit-dl` as a launcher's (torchrun's) script, that records how each rank's process ended.

At the very end of the process (the first exit handler registered runs last) it writes
`rank<RANK>` under $EXIT_PROBE_DIR: the code lit-dl exited with and whether the process still
had a process group then. One left to the interpreter's finalization made about one CPU rank in
ten abort after a finished run, which no single run shows: the group's state says it every time.
"""

from __future__ import annotations

import atexit
import json
import os
from pathlib import Path

ended: dict[str, object] = {}


def _record() -> None:
    import torch.distributed

    ended["group_open"] = torch.distributed.is_initialized()
    Path(os.environ["EXIT_PROBE_DIR"], f"rank{os.environ['RANK']}").write_text(json.dumps(ended))


def read(directory: Path, world_size: int) -> list[dict[str, object]]:
    return [json.loads((directory / f"rank{rank}").read_text()) for rank in range(world_size)]


if __name__ == "__main__":
    atexit.register(_record)
    from lit_dl.cli import main

    try:
        main()
    except SystemExit as end:
        ended["code"] = end.code
        raise
    ended["code"] = 0
