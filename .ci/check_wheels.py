"""CI check: the runtime pins resolve to binary wheels on the platforms streamers use.

For Windows x64 and macOS (arm64, x86_64), Python 3.10, 3.11 and 3.12 (what OBS 29–32
accepts there), runs ``pip install --dry-run --only-binary=:all: --platform …
--python-version …`` on pyproject.toml's runtime dependencies with that platform's markers
applied (onnxruntime-directml on Windows). A pin with no wheel for one of them fails CI
here instead of in a streamer's "Install packages". Prints one line per target; exit 1 if
any fails. Needs the package index (pip's usual configuration).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from runtime_requirements import requirements_for  # noqa: E402

PYTHONS = ("3.10", "3.11", "3.12")
# pip widens a macOS tag to the older macOS versions (and universal2) itself.
TARGETS = {"windows-x64": ("win32", ["win_amd64"]),
           "macos-arm64": ("darwin", ["macosx_14_0_arm64"]),
           "macos-x86_64": ("darwin", ["macosx_13_0_x86_64"])}


def check(name: str, platform: str, tags: list[str], pyver: str) -> tuple[bool, str]:
    reqs = requirements_for(platform, pyver)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--disable-pip-version-check",
               "--ignore-installed", "--only-binary=:all:", "--python-version", pyver, "--implementation", "cp",
               "--target", tmp, "--report", f"{tmp}/report.json"]
        for t in tags:
            cmd += ["--platform", t]
        r = subprocess.run(cmd + reqs, capture_output=True, text=True)
        if r.returncode != 0:
            err = [ln for ln in r.stderr.splitlines() if ln.startswith("ERROR:")] or r.stderr.strip().splitlines()[-1:]
            return False, (err[0] if err else f"pip exit {r.returncode}")
        report = json.loads(Path(f"{tmp}/report.json").read_text())
    got = sorted(f"{i['metadata']['name']} {i['metadata']['version']}" for i in report["install"])
    return True, ", ".join(got)


def main() -> int:
    failed = 0
    for name, (platform, tags) in TARGETS.items():
        for pyver in PYTHONS:
            ok, detail = check(name, platform, tags, pyver)
            failed += not ok
            print(f"wheels {name} python {pyver}: {'ok' if ok else 'FAILED'} ({detail})", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
