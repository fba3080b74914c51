"""Install the filter's runtime packages from inside OBS (the "Install packages" button).

Pure standard library (no numpy: it runs exactly when the packages are missing), so it is
unit-tested without OBS. What it does, in order, on a background thread:

1. finds the Python interpreter OBS itself runs (not ``sys.executable``, which is OBS):
   ``sys.base_prefix`` is the Python folder OBS was pointed at (Windows, macOS) or the
   distribution's Python (Linux); the interpreter there must report the same major.minor
   and 64 bits;
2. checks that OBS can use this version (Windows/macOS: 3.10–3.12, the range of OBS
   29–32 that this project supports; Linux: whatever the distribution's OBS links);
3. creates ``.venv`` beside the script with that interpreter;
4. ``pip install``\\s the runtime pins of pyproject.toml (pip applies the markers:
   onnxruntime-directml on Windows), streaming pip's lines as progress.

Every failure ends as ONE line saying what to do (:class:`InstallError`). pip reads its
usual environment variables (``PIP_INDEX_URL``, ``PIP_FIND_LINKS``, ``PIP_NO_INDEX``…), which
is how the tests install offline from a local wheel folder; nothing here names an index.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import threading
import time

# Windows and macOS OBS load a python.org Python at run time and accept, counting down from
# a maximum, 3.10 (OBS 29.0), up to 3.11 (30.0), up to 3.12 (30.1–32.x); never 3.13
# (libobs obs-scripting-python-import.c). requires-python is >= 3.10.
SUPPORTED_MINORS = {"win32": (10, 12), "darwin": (10, 12)}
PIP_TIMEOUT_S = 1800  # a slow line still finishes; a hung pip does not hang the thread forever
PRECOMPILE_TIMEOUT_S = 900  # numba compiling every kernel: 20-40 s on 2 cores


class InstallError(Exception):
    """A failure the user can act on; ``str()`` is one line naming what to do."""


# -- requirements -----------------------------------------------------------------------
def read_requirements(pyproject: str | os.PathLike) -> list[str]:
    """The ``[project] dependencies`` of pyproject.toml, markers included (pip applies them).

    tomllib where the Python has it (3.11+); OBS on Windows may run 3.10, so a small
    reader of the one array we need is the fallback."""
    with open(pyproject, encoding="utf-8") as f:
        text = f.read()
    try:
        import tomllib
    except ImportError:
        m = re.search(r"^dependencies\s*=\s*\[(.*?)^\]", text, re.S | re.M)
        if not m:
            raise ValueError(f"{pyproject}: no [project] dependencies") from None
        return re.findall(r'^\s*"([^"]+)"\s*,?\s*(?:#.*)?$', m.group(1), re.M)
    return list(tomllib.loads(text)["project"]["dependencies"])


_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:>=\s*([0-9][0-9.]*))?\s*(?:;\s*(.*))?$")
_MARKER = re.compile(r"""^\s*(sys_platform|platform_system|os_name)\s*(==|!=)\s*['"]([^'"]*)['"]\s*$""")
# Distribution name → the module it is imported as.
IMPORT_NAMES = {"opencv-python-headless": "cv2", "onnxruntime-directml": "onnxruntime", "onnxruntime-gpu": "onnxruntime"}


def marker_applies(marker: str | None, platform: str = sys.platform) -> bool:
    """Evaluate the simple markers this project uses (``sys_platform == 'win32'`` and the
    like, joined by ``and``) for `platform`. Anything else raises ValueError."""
    if not marker:
        return True
    env = {"sys_platform": platform, "os_name": "nt" if platform == "win32" else "posix",
           "platform_system": {"win32": "Windows", "darwin": "Darwin"}.get(platform, "Linux")}
    for part in re.split(r"\s+and\s+", marker.strip()):
        m = _MARKER.match(part)
        if not m:
            raise ValueError(f"unsupported requirement marker: {marker!r}")
        var, op, value = m.groups()
        if (env[var] == value) != (op == "=="):
            return False
    return True


def _version_tuple(text: str) -> tuple:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def missing_packages(requirements: list[str], platform: str = sys.platform) -> list[str]:
    """Requirements (for this platform) not satisfied in this interpreter: absent, older
    than the pin, or failing to import. Each entry reads like ``numba>=0.58 (not installed)``."""
    from importlib import metadata

    missing = []
    for line in requirements:
        m = _REQ.match(line)
        if not m:
            raise ValueError(f"unsupported requirement: {line!r}")
        name, minimum, marker = m.groups()
        if not marker_applies(marker, platform):
            continue
        want = f"{name}>={minimum}" if minimum else name
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(f"{want} (not installed)")
            continue
        if minimum and _version_tuple(have) < _version_tuple(minimum):
            missing.append(f"{want} (found {have})")
    return missing


# -- the interpreter ---------------------------------------------------------------------
_PYLIB = re.compile(r"^(lib)?python3\d*(\.\d+)?(\.so(\.[\d.]+)?|\.dll|\.dylib)$", re.I)


def python_prefixes(base_prefix: str = sys.base_prefix) -> list[str]:
    """Folders that may hold the python executable of the Python this process runs, best
    first: where its library is loaded from (libpython3.X.so, python3X.dll,
    Python.framework/Versions/3.X/Python) and two levels up, then ``sys.base_prefix``.

    The loaded library comes first because an embedded Python's ``sys.prefix`` is guessed
    from PATH on Linux (seen: OBS with /usr's libpython 3.11.2 reporting a pyenv 3.11.7
    prefix, because that python3 was first on PATH)."""
    from .ortinfo import loaded_libraries

    out = []
    for lib in loaded_libraries(("python",)):
        base = os.path.basename(lib)
        if not (_PYLIB.match(base) or (base == "Python" and "Python.framework" in lib)):
            continue
        d = os.path.dirname(lib)
        for _ in range(3):
            if d not in out:
                out.append(d)
            d = os.path.dirname(d)
    if base_prefix not in out:
        out.append(base_prefix)
    return out


def interpreter_candidates(prefixes, platform: str = sys.platform, version: tuple = sys.version_info[:2]) -> list[str]:
    """Where the python executable can be under `prefixes`, best first."""
    major, minor = version[:2]
    if platform == "win32":
        names = ["python.exe"]
    else:
        names = [os.path.join("bin", f"python{major}.{minor}"), os.path.join("bin", f"python{major}")]
    return [os.path.join(p, n) for p in prefixes for n in names]


_PROBE = "import sys, struct; print('%d.%d.%d' % sys.version_info[:3], struct.calcsize('P') * 8)"


def probe_interpreter(path: str) -> tuple[tuple, int]:
    """(version tuple, pointer bits) reported by running `path`; OSError if it cannot run."""
    out = subprocess.run([path, "-c", _PROBE], capture_output=True, text=True, timeout=60,
                         **_no_window()).stdout.split()
    if len(out) != 2:
        raise OSError(f"{path} did not run as Python")
    return _version_tuple(out[0]), int(out[1])


def find_interpreter(prefixes=None, platform: str = sys.platform, version: tuple = sys.version_info[:3],
                     bits: int = struct.calcsize("P") * 8, probe=probe_interpreter) -> str:
    """The python executable of the Python OBS runs, checked; raises InstallError.
    The same major.minor and 64 bits are required; the same micro version is preferred."""
    major, minor = version[:2]
    want = f"{major}.{minor}"
    if bits != 64:
        raise InstallError(f"OBS runs a {bits}-bit Python {want}: install the 64-bit Python {want} "
                           "and choose it in Tools → Scripts → Python Settings")
    lo_hi = SUPPORTED_MINORS.get(platform)
    if major != 3 or (lo_hi and not lo_hi[0] <= minor <= lo_hi[1]) or (not lo_hi and minor < 10):
        rng = f"3.{lo_hi[0]}–3.{lo_hi[1]}" if lo_hi else "3.10 or newer"
        raise InstallError(f"OBS runs Python {want}, which this filter cannot use: install Python {rng} "
                           "(64-bit; see the README's table for your OBS version) and choose it in "
                           "Tools → Scripts → Python Settings")
    if prefixes is None:
        prefixes = python_prefixes()
    seen, good = [], []
    for cand in dict.fromkeys(interpreter_candidates(prefixes, platform, (major, minor))):
        if not os.path.isfile(cand):
            continue
        try:
            cver, cbits = probe(cand)
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            seen.append(f"{cand}: {exc}")
            continue
        if cver[:2] == (major, minor) and cbits == 64:
            if tuple(cver) == tuple(version[:3]):
                return cand
            good.append(cand)
        else:
            seen.append(f"{cand} is Python {'.'.join(map(str, cver))} {cbits}-bit")
    if good:
        return good[0]
    where = "; ".join(seen) if seen else f"no python executable in {', '.join(prefixes)}"
    raise InstallError(f"cannot find the Python {want} that OBS runs ({where}): reinstall Python {want} "
                       "64-bit, choose its folder in Tools → Scripts → Python Settings and restart OBS")


# -- venv + pip --------------------------------------------------------------------------
def venv_python(venv: str, platform: str = sys.platform) -> str:
    return os.path.join(venv, "Scripts", "python.exe") if platform == "win32" else os.path.join(venv, "bin", "python")


def _no_window() -> dict:
    """Keep Windows from flashing a console window for each child process."""
    return {"creationflags": 0x08000000} if sys.platform == "win32" else {}


NETWORK_SIGNS = ("Failed to establish a new connection", "NewConnectionError", "Temporary failure in name resolution",
                 "Name or service not known", "Network is unreachable", "No route to host", "getaddrinfo failed",
                 "ProxyError", "ConnectTimeoutError", "Read timed out", "Could not fetch URL",
                 "SSLError", "CERTIFICATE_VERIFY_FAILED")


def explain_pip_failure(rc: int, lines: list[str]) -> str:
    """One line for a pip run that failed, from its output."""
    text = "\n".join(lines)
    if any(s in text for s in NETWORK_SIGNS):
        return ("no network: pip could not reach the package index — connect to the internet (or set "
                "PIP_INDEX_URL / a proxy) and click Install packages again")
    if "No space left on device" in text:
        return "the disk is full: free some space and click Install packages again"
    m = [ln for ln in lines if ln.startswith("ERROR:")]
    if m and ("Could not find a version" in m[0] or "No matching distribution" in text):
        return (f"pip found no package for this Python ({m[0][7:].strip()[:160]}): use a Python version "
                "from the README's table")
    detail = m[0][7:].strip()[:200] if m else (lines[-1].strip()[:200] if lines else f"exit code {rc}")
    return f"pip failed ({detail}): see the script log; fix it and click Install packages again"


def run_logged(cmd: list[str], progress, timeout: float = PIP_TIMEOUT_S, cwd: str | None = None) -> tuple[int, list[str]]:
    """Run `cmd`, passing each output line to `progress`; (exit code, lines)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8", PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_NO_INPUT="1")
    env.pop("PYTHONHOME", None)  # OBS may set them for itself; the child is a normal Python
    env.pop("PYTHONPATH", None)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd,
                            text=True, encoding="utf-8", errors="replace", env=env, **_no_window())
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    lines = []
    try:
        for line in proc.stdout:
            line = line.rstrip()
            if line:
                lines.append(line)
                progress(line)
        rc = proc.wait()
    finally:
        timer.cancel()
    return rc, lines


def create_venv(python: str, venv: str, progress) -> str:
    """``.venv`` made with `python` (kept if it already is one of the right version)."""
    vpy = venv_python(venv)
    if os.path.isfile(vpy):
        try:
            if probe_interpreter(vpy)[0][:2] == probe_interpreter(python)[0][:2]:
                return vpy
        except (OSError, subprocess.SubprocessError, ValueError):
            pass
        raise InstallError(f"{venv} exists but is not a venv of this Python: delete that folder and click "
                           "Install packages again")
    progress(f"creating {venv} with {python}")
    rc, lines = run_logged([python, "-m", "venv", venv], progress, timeout=600)
    if rc != 0 or not os.path.isfile(vpy):
        text = "\n".join(lines)
        if "ensurepip" in text or "python3-venv" in text:
            raise InstallError("this Python cannot create a venv (ensurepip is missing): install your "
                               "distribution's python3-venv package and click Install packages again")
        raise InstallError(f"creating {venv} failed ({(lines[-1] if lines else f'exit {rc}')[:200]})")
    return vpy


def pip_install(vpy: str, requirements: list[str], progress) -> None:
    rc, lines = run_logged([vpy, "-m", "pip", "install", "--progress-bar", "off", *requirements], progress)
    if rc != 0:
        raise InstallError(explain_pip_failure(rc, lines))


def precompile(vpy: str, script_dir: str, progress) -> None:
    """Compile the matting kernels into numba's cache with the new venv's interpreter
    (obs_filter/warmup.py), so the filter's first matte does not wait 20-40 s for them.
    A failure only costs that wait later: reported, never an install failure."""
    if not os.path.isfile(os.path.join(script_dir, "obs_filter", "warmup.py")):
        return
    progress("compiling the matting kernels (once; the first matte then comes within seconds)")
    try:
        rc, lines = run_logged([vpy, "-m", "obs_filter.warmup"], progress, timeout=PRECOMPILE_TIMEOUT_S,
                               cwd=script_dir)
    except OSError as exc:
        rc, lines = -1, [str(exc)]
    if rc != 0:
        progress(f"compiling the kernels failed ({(lines[-1] if lines else f'exit {rc}')[:200]}); "
                 "they compile when the filter first runs")


# -- the background job --------------------------------------------------------------------
class Installer:
    """One install job at a time, on a daemon thread. The UI polls :attr:`state`,
    :attr:`line` and :attr:`error`; ``on_done(installer)`` runs on the thread at the end."""

    def __init__(self, script_dir: str, log=print, on_done=None, find=find_interpreter):
        self.script_dir = script_dir
        self.venv = os.path.join(script_dir, ".venv")
        self.log = log
        self.on_done = on_done
        self.find = find
        self.state = "idle"  # idle | running | done | failed
        self.line = ""
        self.error = None
        self.thread = None
        self._lock = threading.Lock()

    def start(self) -> bool:
        """Start the job (False if one is running)."""
        with self._lock:
            if self.state == "running":
                return False
            self.state, self.error, self.line = "running", None, "starting"
            self.thread = threading.Thread(target=self._run, name="obs_bg_replace:install", daemon=True)
            self.thread.start()
            return True

    def _progress(self, line: str) -> None:
        self.line = line[:200]
        self.log(f"install: {line}")

    def _run(self) -> None:
        t0 = time.monotonic()
        try:
            reqs = read_requirements(os.path.join(self.script_dir, "pyproject.toml"))
            python = self.find()
            self._progress(f"using {python} (Python {sys.version.split()[0]})")
            vpy = create_venv(python, self.venv, self._progress)
            self._progress("pip install " + " ".join(reqs))
            pip_install(vpy, reqs, self._progress)
            precompile(vpy, self.script_dir, self._progress)
            self.line = f"packages installed in {time.monotonic() - t0:.0f} s"
            self.state = "done"
            self.log(f"install: {self.line}")
        except InstallError as exc:
            self.error, self.state = str(exc), "failed"
            self.log(f"install failed: {exc}")
        except Exception as exc:  # noqa: BLE001 - a bug: still one line, never a dead thread
            self.error, self.state = f"install failed unexpectedly: {type(exc).__name__}: {exc}", "failed"
            self.log(self.error)
        if self.on_done is not None:
            try:
                self.on_done(self)
            except Exception as exc:  # noqa: BLE001
                self.log(f"after the install: {type(exc).__name__}: {exc}")
