"""Real-OBS fixtures: skip cleanly where OBS is not installed, unless CI requires it."""

from __future__ import annotations

import os

import pytest

from obs_harness import missing_requirements  # tests/obs is on sys.path (pytest rootdir import)


@pytest.fixture(scope="session")
def obs_available():
    why = missing_requirements()
    if why:
        if os.environ.get("OBS_BG_REQUIRE_OBS") == "1":
            pytest.fail(f"OBS_BG_REQUIRE_OBS=1 but the real-OBS test cannot run: {why}")
        pytest.skip(f"real OBS not available: {why}")
    return True
