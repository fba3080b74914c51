"""Shared fixtures: where ../shared is, and a pipeline factory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _clean_environment() -> None:
    """The tests, and every program they start, do not inherit the caller's Python set-up:
    no activated venv (VIRTUAL_ENV, its bin/ on PATH), no PYTHONHOME / PYTHONPATH. A test
    that means a Python runs sys.executable (the one running the tests) or names one; OBS
    gets its venv through OBS_BG_REPLACE_PYTHONPATH (tests/obs/obs_harness.py)."""
    venv = os.environ.pop("VIRTUAL_ENV", None)
    for k in ("VIRTUAL_ENV_PROMPT", "PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "__PYVENV_LAUNCHER__"):
        os.environ.pop(k, None)
    if venv:
        bin_dir = os.path.join(venv, "bin")
        os.environ["PATH"] = os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep)
                                             if os.path.abspath(d) != os.path.abspath(bin_dir))


_clean_environment()
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
