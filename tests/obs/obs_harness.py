"""A real, headless OBS Studio for end-to-end tests.

Debian's OBS under Xvfb with software OpenGL, its config in a temporary HOME (profile,
scene collection with the script preloaded, obs-websocket on a free port), driven with
obsws-python. :meth:`Obs.close` ends OBS the way a user does (WM_DELETE_WINDOW on the
main window, through Xlib via ctypes), so libobs runs its shutdown and leak check.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "obs_bg_replace.py"
PROBE = Path(__file__).resolve().parent / "props_probe.py"  # builds the filter's properties in OBS
# The venv OBS loads the packages from (a root of tests/obs/versions.sh sets its own).
VENV = Path(os.environ.get("OBS_BG_TEST_VENV") or ROOT / ".venv-obs")
FILTER_KIND = "obs_bg_replace_filter"


def missing_requirements() -> str | None:
    """Why OBS cannot run here (None if it can)."""
    for tool in ("obs", "Xvfb"):
        if shutil.which(tool) is None:
            return f"{tool} not found (run .ci/install-obs.sh)"
    if not (VENV / "pyvenv.cfg").is_file():
        return f"{VENV} missing (run .ci/install-obs.sh)"
    try:
        import obsws_python  # noqa: F401
    except ImportError:
        return "obsws-python not installed (pip install -e '.[test]')"
    return None


def load_factor() -> float:
    """How many times slower than on an idle machine work runs now: runnable tasks per
    CPU (the 1-minute load average), at least 1, at most 10."""
    try:
        return min(10.0, max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1)))
    except OSError:
        return 1.0


class Deadline:
    """A timeout that counts seconds at the speed the machine gives: while the machine is
    loaded 3× (other OBS instances, a build beside the tests), a wall second counts a third,
    so a busy machine makes a test slower, not failing. ``OBS_BG_TIMEOUT_SCALE`` multiplies
    every budget (a slow machine). Use: ``d = Deadline(60)`` then ``while not d.expired(): …``."""

    def __init__(self, seconds: float):
        self.seconds = float(seconds) * float(os.environ.get("OBS_BG_TIMEOUT_SCALE") or 1)
        self.start = self._last = time.monotonic()
        self.used = 0.0

    def expired(self) -> bool:
        now = time.monotonic()
        self.used += (now - self._last) / load_factor()
        self._last = now
        return self.used >= self.seconds

    def remaining(self) -> float:
        """Wall seconds left at the present load (at least 0.1)."""
        return max(0.1, (self.seconds - self.used) * load_factor())

    def __str__(self) -> str:
        wall = time.monotonic() - self.start
        return f"{self.seconds:.0f} s at the machine's speed ({wall:.0f} s wall, load {os.getloadavg()[0]:.1f})"


def clean_env(**extra) -> dict:
    """The environment for OBS and every other program a test starts: the caller's, without
    what would make them use the Python the tests run in (an activated venv's VIRTUAL_ENV and
    PATH entry, PYTHONHOME, PYTHONPATH and friends: OBS's embedded Python finds its prefix
    from the first `python3` on PATH, and from inside a venv it loaded that venv's packages).
    ``extra``: variables to set (a value None removes one)."""
    env = {k: v for k, v in os.environ.items()
           if k not in _PYTHON_VARS and not k.startswith(("PYTHON", "CONDA_"))}
    venvs = {os.environ.get("VIRTUAL_ENV"), os.environ.get("CONDA_PREFIX")} - {None, ""}
    path = []
    for d in os.environ.get("PATH", "").split(os.pathsep):
        parent = os.path.dirname(os.path.abspath(d)) if d else ""
        if not d or parent in venvs or os.path.isfile(os.path.join(parent, "pyvenv.cfg")):
            continue  # a venv's bin/ (activated or not): its python3 would be OBS's prefix
        path.append(d)
    env["PATH"] = os.pathsep.join(path) or "/usr/local/bin:/usr/bin:/bin"
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


_PYTHON_VARS = {"VIRTUAL_ENV", "VIRTUAL_ENV_PROMPT", "__PYVENV_LAUNCHER__", "PYENV_VERSION"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(home: Path, scene_json: dict, width: int, height: int, fps: int, port: int) -> None:
    cfg = home / ".config" / "obs-studio"
    (cfg / "basic" / "profiles" / "e2e").mkdir(parents=True, exist_ok=True)
    (cfg / "basic" / "scenes").mkdir(parents=True, exist_ok=True)
    ini = ("[General]\nFirstRun=true\nLastVersion=486539264\n\n"
           "[Basic]\nProfile=e2e\nProfileDir=e2e\nSceneCollection=e2e\nSceneCollectionFile=e2e\n\n"
           "[BasicWindow]\nPreviewEnabled=false\n\n"
           f"[OBSWebSocket]\nFirstLoad=false\nServerEnabled=true\nServerPort={port}\n"
           "AuthRequired=false\nAlertsEnabled=false\n")
    # OBS 31+ keeps the user's part in user.ini, migrated from global.ini when absent (a
    # user.ini written here made OBS 32 stop at an "Error" box before its log started).
    (cfg / "global.ini").write_text(ini)
    # obs-websocket 5.3+ (OBS 30+) reads its settings from here instead of global.ini.
    ws = cfg / "plugin_config" / "obs-websocket"
    ws.mkdir(parents=True, exist_ok=True)
    (ws / "config.json").write_text(json.dumps({"alerts_enabled": False, "auth_required": False, "first_load": False,
                                                "server_enabled": True, "server_password": "",
                                                "server_port": port}))
    (cfg / "basic" / "profiles" / "e2e" / "basic.ini").write_text(
        "[General]\nName=e2e\n\n"
        f"[Video]\nBaseCX={width}\nBaseCY={height}\nOutputCX={width}\nOutputCY={height}\n"
        f"FPSType=1\nFPSInt={fps}\n")
    (cfg / "basic" / "scenes" / "e2e.json").write_text(json.dumps(scene_json, indent=1))


def media_source(name: str, path: Path) -> dict:
    """A media source playing ``path`` in a loop (for ``Obs(source=...)``)."""
    return {"id": "ffmpeg_source", "versioned_id": "ffmpeg_source", "name": name,
            "settings": {"local_file": str(path), "is_local_file": True, "looping": True,
                         "restart_on_activate": True, "close_when_inactive": False, "hw_decode": False},
            "filters": []}


def scene_collection(image: Path, with_script: bool = True, source: dict | None = None, extra_sources=(),
                     scripts=None, extra_scripts=(), filters=()) -> dict:
    """One scene with one source named "photo" (the image, or ``source``; with `filters`:
    (kind, name, settings) stored on it); the script preloaded.

    ``extra_sources``: more source dicts (``{"id", "name", "settings"}``; a group is
    ``{"id": "group", "name", "settings": {"items": [{"name": …}]}}``), each also placed
    in the scene unless it has ``"in_scene": False`` (sources inside a group).
    ``scripts``: the scripts to preload (paths) instead of the filter's and the probe;
    ``extra_scripts``: more helper scripts to preload after those.
    """
    if scripts is None:
        scripts = [SCRIPT, PROBE] if with_script else []
    source = dict(source or {"id": "image_source", "versioned_id": "image_source",
                             "settings": {"file": str(image)}, "filters": []}, name="photo")
    source["filters"] = list(source.get("filters", [])) + [
        {"id": k, "versioned_id": k, "name": n, "enabled": True, "settings": st} for k, n, st in filters]
    sources = [source]
    items = [{"name": "photo", "id": 1, "visible": True}]
    for extra in extra_sources:
        extra = dict(extra)
        in_scene = extra.pop("in_scene", True)
        sources.append({"versioned_id": extra["id"], "filters": [], **extra})
        if in_scene:
            items.append({"name": extra["name"], "id": len(items) + 1, "visible": True})
    sources.append({"id": "scene", "versioned_id": "scene", "name": "Scene",
                    "settings": {"id_counter": len(items), "items": items}})
    tools = [{"path": str(p), "settings": {}} for p in [*scripts, *extra_scripts]]
    return {
        "name": "e2e",
        "current_scene": "Scene",
        "current_program_scene": "Scene",
        "scene_order": [{"name": "Scene"}],
        "sources": sources,
        "modules": {"scripts-tool": tools},
    }


class _XClientMessage(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                ("format", ctypes.c_int), ("data", ctypes.c_long * 5), ("pad", ctypes.c_long * 12)]


def close_main_window(display: str) -> bool:
    """Send WM_DELETE_WINDOW to every top-level window titled "OBS …" (what the window
    manager does when the user clicks ×). True if one was found."""
    x11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XDefaultRootWindow.restype = ctypes.c_ulong
    x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XQueryTree.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_ulong),
                               ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.POINTER(ctypes.c_ulong)),
                               ctypes.POINTER(ctypes.c_uint)]
    x11.XFetchName.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_char_p)]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    x11.XFlush.argtypes = [ctypes.c_void_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    x11.XFree.argtypes = [ctypes.c_void_p]
    dpy = x11.XOpenDisplay(display.encode())
    if not dpy:
        return False
    try:
        root = x11.XDefaultRootWindow(dpy)
        protocols = x11.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
        delete = x11.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
        r, p, children, n = ctypes.c_ulong(), ctypes.c_ulong(), ctypes.POINTER(ctypes.c_ulong)(), ctypes.c_uint()
        if not x11.XQueryTree(dpy, root, ctypes.byref(r), ctypes.byref(p), ctypes.byref(children), ctypes.byref(n)):
            return False
        found = False
        for i in range(n.value):
            w = children[i]
            name = ctypes.c_char_p()
            if x11.XFetchName(dpy, w, ctypes.byref(name)) and name.value:
                title = name.value.decode(errors="replace")
                x11.XFree(name)
                if title.startswith("OBS "):
                    ev = _XClientMessage(type=33, send_event=1, display=dpy, window=w,
                                         message_type=protocols, format=32)
                    ev.data[0], ev.data[1] = delete, 0
                    x11.XSendEvent(dpy, w, 0, 0, ctypes.byref(ev))
                    found = True
        if children:
            x11.XFree(children)
        x11.XFlush(dpy)
        return found
    finally:
        x11.XCloseDisplay(dpy)


class Obs:
    """Xvfb + OBS in a temp HOME. Use as a context manager: processes always end."""

    def __init__(self, home: Path, image: Path, width=1280, height=720, fps=10, with_script=True, env=None,
                 source: dict | None = None, extra_sources=(), scripts=None, extra_scripts=(), filters=()):
        """`env`: extra environment for OBS (a value None removes the variable); the rest as
        for `scene_collection`."""
        self.home, self.width, self.height = Path(home), width, height
        self.port = _free_port()
        write_config(self.home, scene_collection(image, with_script, source, extra_sources, scripts, extra_scripts,
                                                 filters), width, height, fps, self.port)
        self.extra_env = env or {}
        self.xvfb = self.proc = self.ws = None
        self.display = None
        self.returncode = None

    # lifecycle
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.kill()  # __exit__ does not run when __enter__ raises
            raise
        return self

    def __exit__(self, *exc):
        self.kill()

    def start(self, timeout=60.0):
        r, w = os.pipe()
        self.xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
                                     env=clean_env(), pass_fds=(w,), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(w)
        with os.fdopen(r) as f:
            num = f.readline().strip()
        if not num:
            raise RuntimeError("Xvfb did not start")
        self.display = f":{num}"
        env = clean_env(**{"HOME": str(self.home), "DISPLAY": self.display, "LIBGL_ALWAYS_SOFTWARE": "1",
                           "QT_QPA_PLATFORM": "xcb", "OBS_BG_REPLACE_PYTHONPATH": str(VENV), "WAYLAND_DISPLAY": None,
                           **self.extra_env})
        self.stdout = open(self.home / "obs-stdout.txt", "wb")
        # --multi: with another OBS running (parallel test runs) OBS would otherwise wait
        # forever at its "already running" dialog. stdbuf: OBS's stdout (a copy of its
        # log) line by line, readable while it runs; the log file is written in blocks.
        line_buffered = ["stdbuf", "-oL"] if shutil.which("stdbuf") else []
        self.proc = subprocess.Popen([*line_buffered, "obs", "--disable-missing-files-check", "--disable-updater",
                                      "--multi"], env=env,
                                     cwd=self.home, stdout=self.stdout, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.ws = self._connect(timeout)
        return self

    def _connect(self, timeout):
        import obsws_python

        deadline = Deadline(timeout)
        last = None
        while not deadline.expired():
            if self.proc.poll() is not None:
                raise RuntimeError(f"OBS exited early with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                client = obsws_python.ReqClient(host="127.0.0.1", port=self.port, password="", timeout=30)
            except (OSError, Exception) as exc:  # noqa: BLE001 - retry until OBS listens
                last = exc
                time.sleep(0.3)
                continue
            # obs-websocket 5.3+ (OBS 30+) listens before OBS has loaded the scene collection
            # and answers requests with code 207 "not ready" until it has.
            while not deadline.expired():
                try:
                    client.get_scene_list()
                    return client
                except Exception as exc:  # noqa: BLE001 - OBSSDKRequestError 207
                    last = exc
                    if getattr(exc, "code", None) != 207 or self.proc.poll() is not None:
                        raise
                    time.sleep(0.3)
        raise RuntimeError(f"obs-websocket did not answer in {deadline} ({last})")

    def close(self, timeout=30.0) -> int:
        """Clean shutdown (as the user's ×); returns OBS's exit code."""
        if self.ws is not None:
            try:
                self.ws.base_client.ws.close()
            except Exception:  # noqa: BLE001
                pass
            self.ws = None
            # Let obs-websocket finish the closed session before OBS unloads it: a client
            # that disconnects just as OBS exits can crash OBS 30.x in obs-websocket's
            # module unload (seen once in CI, after this filter had unloaded cleanly;
            # upstream: obs-studio #9861, obs-websocket #1180).
            time.sleep(1.0)
        deadline = Deadline(timeout)
        while self.proc.poll() is None and not deadline.expired():
            close_main_window(self.display)
            try:
                self.proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            raise RuntimeError(f"OBS did not exit within {deadline} of WM_DELETE_WINDOW")
        self.returncode = self.proc.returncode
        return self.returncode

    def kill(self):
        """End whatever still runs (after a failure); idempotent."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        if self.xvfb is not None and self.xvfb.poll() is None:
            self.xvfb.terminate()
            try:
                self.xvfb.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.xvfb.kill()
                self.xvfb.wait(timeout=5)
        if getattr(self, "stdout", None) is not None:
            self.stdout.close()

    # observations
    def rss_mb(self) -> float:
        """OBS's resident memory now (MB), from /proc."""
        for line in (Path("/proc") / str(self.proc.pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS for OBS")

    def live_log(self) -> str:
        """What OBS has logged so far (its stdout, line-buffered; the log file lags)."""
        return (self.home / "obs-stdout.txt").read_text(errors="replace")

    def log_text(self) -> str:
        logs = sorted((self.home / ".config" / "obs-studio" / "logs").glob("*.txt"))
        return logs[-1].read_text(errors="replace") if logs else ""

    def screenshot(self, source: str, width: int | None = None, height: int | None = None,
                   native: bool = False) -> np.ndarray:
        """RGBA uint8 screenshot of a source (its filters applied): at width×height (the
        canvas size by default), or at the source's own size with ``native``."""
        import cv2

        req = {"sourceName": source, "imageFormat": "png"}
        if not native:
            req.update(imageWidth=width or self.width, imageHeight=height or self.height)
        resp = self.ws.send("GetSourceScreenshot", req)
        png = base64.b64decode(resp.image_data.split(",", 1)[1])
        bgra = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
        if bgra.ndim == 2:
            bgra = cv2.cvtColor(bgra, cv2.COLOR_GRAY2BGRA)
        elif bgra.shape[2] == 3:
            bgra = cv2.cvtColor(bgra, cv2.COLOR_BGR2BGRA)
        return cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGBA)


def baseline_leaks(home: Path, image: Path, width: int, height: int, fps: int) -> tuple[int, int | None]:
    """(exit code, leak count) of a short OBS run without the script: the leaks OBS
    reports by itself, to compare a run with the filter against."""
    with Obs(home, image, width, height, fps, with_script=False) as base:
        time.sleep(1.0)
        rc = base.close()
        return rc, leak_count(base.log_text())


def leak_count(log: str) -> int | None:
    m = re.findall(r"Number of memory leaks: (\d+)", log)
    return int(m[-1]) if m else None


def python_tracebacks(log: str) -> list[str]:
    lines = log.splitlines()
    return ["\n".join(lines[i:i + 12]) for i, line in enumerate(lines) if "Traceback (most recent call last)" in line]
