"""Print the runtime requirements from pyproject.toml, one per line, for a target platform.

    python3 tools/runtime_requirements.py --platform linux|win32|darwin

Environment markers are evaluated for that platform (so Windows gets
onnxruntime-directml, the others onnxruntime) and dropped from the output. Used by
tests/obs/versions.sh and tests/wheels_check.py; reads the pins through the installer's
own reader (obs_filter/installer.py), so the button and CI install the same thing.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _installer():
    # By file path: obs_filter/__init__ may import OBS-only modules.
    spec = importlib.util.spec_from_file_location("_obs_bg_installer", ROOT / "obs_filter" / "installer.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def requirements_for(platform: str, python_version: str | None = None) -> list[str]:
    """Requirement strings (no markers) that apply on `platform` (sys.platform value)."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    env = default_environment()
    env.update(sys_platform=platform, platform_system={"win32": "Windows", "darwin": "Darwin"}.get(platform, "Linux"),
               os_name="nt" if platform == "win32" else "posix")
    if python_version:
        env.update(python_version=python_version, python_full_version=python_version + ".0")
    out = []
    for line in _installer().read_requirements(ROOT / "pyproject.toml"):
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(env):
            req.marker = None
            out.append(str(req))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--platform", default="linux", choices=("linux", "win32", "darwin"))
    ap.add_argument("--python-version", default=None, help="e.g. 3.12 (for python_version markers)")
    args = ap.parse_args()
    print("\n".join(requirements_for(args.platform, args.python_version)))


if __name__ == "__main__":
    main()
