"""Shared fixtures: where ../shared is, and a pipeline factory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("OBS_BG_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or a clean skip where it is absent."""
    if not DATA.is_dir():
        pytest.skip(f"development data not found at {DATA} (set OBS_BG_SHARED)")
    return DATA


@pytest.fixture(scope="session")
def astronaut_bgr():
    from skimage import data

    return data.astronaut()[:, :, ::-1].copy()
