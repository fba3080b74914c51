"""Fuzz targets (tests/fuzz): hostile inputs for the library and the command line.

Each target runs ``OBS_BG_FUZZ_EXAMPLES`` examples (default 40: the CI budget);
``python3 tests/fuzz/run.py --minutes 30`` runs them again and again with fresh seeds.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/fuzz/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.fuzz)
