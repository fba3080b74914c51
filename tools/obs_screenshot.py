#!/usr/bin/env python3
"""A screenshot of the filter's properties panel in a real OBS window (for the docs).

Starts OBS (the tests' headless setup: Xvfb, a temporary HOME, the script preloaded)
with a window manager (openbox), a person image as the camera and the filter
"Background Replace" on it; waits for its first matte; opens the source's Filters
dialog through obs-websocket (OpenInputFiltersDialog); sizes it with xdotool; and saves
the dialog with ImageMagick's ``import``, cropped to the dialog and reduced to a
palette PNG, to docs/obs_panel.png (or --out).

    python3 tools/obs_screenshot.py [--out docs/obs_panel.png] [--advanced] [--settings JSON]

Needs: obs, Xvfb, openbox, xdotool, import (Debian: obs-studio xvfb openbox xdotool
imagemagick), the venv OBS loads the packages from ($OBS_BG_TEST_VENV or .venv-obs) and
obsws-python. It says what is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "obs"))

TOOLS = {"obs": "obs-studio", "Xvfb": "xvfb", "openbox": "openbox", "xdotool": "xdotool", "import": "imagemagick"}
W, H, FPS = 640, 360, 10
SCREEN = "1920x1440x24"  # the whole panel is taller than the tests' 1080-px screen
DIALOG_W, DIALOG_H = 1300, 1280
MAX_BYTES = 300_000
# the preview / panel splitter's handle (measured in OBS 29's dialog: at 46 % of its height),
# and where it goes (the preview shrinks to a strip, the panel shows whole)
SPLITTER_TO = 60  # where the preview / panel splitter goes (the preview shrinks to a strip)


def missing_tools() -> list[str]:
    return [f"{tool} (Debian package {pkg})" for tool, pkg in TOOLS.items() if shutil.which(tool) is None]


def xdotool(display: str, *args: str) -> str:
    out = subprocess.run(["xdotool", *args], env=dict(os.environ, DISPLAY=display), capture_output=True,
                         text=True, timeout=20)
    return out.stdout.strip()


def find_window(display: str, title: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ids = xdotool(display, "search", "--name", title).split()
        if ids:
            return ids[-1]
        time.sleep(0.3)
    raise RuntimeError(f"no window titled {title!r} appeared in {timeout:.0f} s")


def tall_obs(oh):
    """obs_harness.Obs on a SCREEN-sized Xvfb screen (the harness starts 1920x1080)."""

    class TallObs(oh.Obs):
        def start(self, timeout=60.0):
            real = subprocess.Popen

            def popen(cmd, *a, **kw):
                if cmd and cmd[0] == "Xvfb":
                    cmd = [SCREEN if c == "1920x1080x24" else c for c in cmd]
                return real(cmd, *a, **kw)

            subprocess.Popen = popen
            try:
                return super().start(timeout)
            finally:
                subprocess.Popen = real

    return TallObs


def grab(display: str, win: str, path: Path) -> None:
    xdotool(display, "mousemove", "--window", win, "5", str(DIALOG_H - 5))  # no hover highlight
    time.sleep(1.0)
    subprocess.run(["import", "-display", display, "-window", win, str(path)], check=True, timeout=60)


def find_grip(png: Path) -> tuple[int, int] | None:
    """(x, y) of the splitter's grip between the preview and the panel: a row of six
    small light dots ("⋯") with dark rows above and below it, in the right pane."""
    import cv2
    import numpy as np

    grey = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
    h, w = grey.shape
    x0, x1 = int(0.3 * w), w - 20
    on = grey[:, x0:x1] > 60
    found = None
    for y in range(10, h - 10):
        row = on[y]
        if not 6 <= row.sum() <= 30 or on[y - 3].any() or on[y + 4].any():
            continue
        edges = np.flatnonzero(np.diff(row.astype(np.int8)) == 1)
        if len(edges) == 6 and edges[-1] - edges[0] < 30:
            found = (x0 + int(edges.mean()), y)
    return found


def drag_splitter_up(display: str, win: str, probe: Path) -> bool:
    """Drag the splitter between the preview and the panel up, so the panel shows whole."""
    grab(display, win, probe)
    grip = find_grip(probe)
    if grip is None:
        print("the preview/panel splitter was not found: the preview stays big", file=sys.stderr)
        return False
    x, y = (str(v) for v in grip)
    # with pauses: Qt must see each step (a mouseup it missed drags the splitter along
    # with the next move of the pointer)
    xdotool(display, "mousemove", "--window", win, x, y, "sleep", "0.3", "mousedown", "1", "sleep", "0.3",
            "mousemove", "--window", win, x, str((grip[1] + SPLITTER_TO) // 2), "sleep", "0.3",
            "mousemove", "--window", win, x, str(SPLITTER_TO), "sleep", "0.3", "mouseup", "1", "sleep", "0.5")
    return True


def wait_running(obs, timeout: float) -> None:
    """Until the filter runs and its panel has the CPU share (a second after the first matte)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "panel-probe: status: Running" in obs.log_text():
            time.sleep(4.0)  # the CPU share needs a second or more of frames after the first
            return
        time.sleep(0.5)
    raise RuntimeError(f"the filter did not run within {timeout:.0f} s")


def shrink(png: Path) -> None:
    """A palette PNG (a screenshot of a dialog has few colours), under MAX_BYTES."""
    for colours in (256, 128, 64):
        subprocess.run(["convert", str(png), "-strip", "-colors", str(colours), f"PNG8:{png}"], check=True,
                       timeout=60)
        if png.stat().st_size <= MAX_BYTES:
            return
    raise RuntimeError(f"{png} is {png.stat().st_size} bytes (> {MAX_BYTES})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "obs_panel.png")
    ap.add_argument("--advanced", action="store_true", help="unfold the Advanced group")
    ap.add_argument("--settings", default="{}", help="the filter's settings (JSON)")
    ap.add_argument("--timeout", type=float, default=240.0, help="seconds to wait for the first matte")
    args = ap.parse_args(argv)

    missing = missing_tools()
    if missing:
        print("missing: " + ", ".join(missing) + "\n(apt-get install --no-install-recommends obs-studio xvfb "
              "openbox xdotool imagemagick)", file=sys.stderr)
        return 2
    import obs_harness as oh

    why = oh.missing_requirements()
    if why:
        print(f"cannot start OBS: {why}", file=sys.stderr)
        return 2
    import cv2
    import person_clip

    settings = json.loads(args.settings)
    if args.advanced:
        settings["show_advanced"] = True
    with tempfile.TemporaryDirectory(prefix="obs-screenshot-") as tmp:
        tmp = Path(tmp)
        image = tmp / "person.png"
        cv2.imwrite(str(image), person_clip.person_image(W, H)[:, :, ::-1])
        (tmp / "home").mkdir()
        probe = ROOT / "tests" / "obs" / "panel_probe.py"
        with tall_obs(oh)(tmp / "home", image, W, H, FPS, extra_scripts=[probe],
                    env={"OBS_BG_PANEL_PROBE_FILTER": "Background Replace"},
                    filters=[(oh.FILTER_KIND, "Background Replace", settings)]) as obs:
            wm = subprocess.Popen(["openbox"], env=dict(os.environ, DISPLAY=obs.display),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_running(obs, args.timeout)
                obs.ws.send("OpenInputFiltersDialog", {"inputName": "photo"})
                win = find_window(obs.display, "Filters for")
                xdotool(obs.display, "windowmove", win, "0", "0")
                xdotool(obs.display, "windowsize", win, str(DIALOG_W), str(DIALOG_H))
                time.sleep(2.0)  # the dialog lays itself out
                drag_splitter_up(obs.display, win, tmp / "probe.png")
                args.out.parent.mkdir(parents=True, exist_ok=True)
                grab(obs.display, win, args.out)
                shrink(args.out)
            finally:
                # the window manager first: it reparents windows, and Obs.close looks for
                # OBS's main window among the root's children
                wm.terminate()
                wm.wait(timeout=10)
                obs.close()
    print(f"{args.out}: {args.out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
