"""What a written image file says about itself, read without an imaging library."""

from __future__ import annotations

import struct
from pathlib import Path


def png_pixels(path: Path) -> tuple[int, int]:
    """A PNG's width and height in pixels, from its header chunk (IHDR, always the first)."""
    data = Path(path).read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height
