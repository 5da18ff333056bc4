from __future__ import annotations

import pytest

from helpers.recipes import write_example_npz


@pytest.fixture(scope="session")
def example_npz(tmp_path_factory) -> str:
    return write_example_npz(tmp_path_factory.mktemp("arrays") / "example_arrays.npz")
