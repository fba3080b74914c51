"""The "Install packages" installer (obs_filter/installer.py), without OBS: real pip,
real venvs, a wheel made here, and a closed local port standing in for "no network"."""

from __future__ import annotations

import builtins
import os
import socket
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from obs_filter import installer as inst

ROOT = Path(__file__).resolve().parents[1]


def test_requirements_from_pyproject_with_and_without_tomllib(monkeypatch):
    reqs = inst.read_requirements(ROOT / "pyproject.toml")
    assert "numpy>=1.24" in reqs and any(r.startswith("onnxruntime-directml") for r in reqs)
    real_import = builtins.__import__

    def no_tomllib(name, *a, **k):  # Python 3.10, as OBS 29 on Windows runs it
        if name == "tomllib":
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_tomllib)
    assert inst.read_requirements(ROOT / "pyproject.toml") == reqs


def test_markers_pick_the_platforms_onnxruntime():
    reqs = inst.read_requirements(ROOT / "pyproject.toml")
    for platform, ort in (("win32", "onnxruntime-directml"), ("linux", "onnxruntime"), ("darwin", "onnxruntime")):
        names = [r.split(">=")[0] for r in reqs if inst.marker_applies(r.partition(";")[2], platform)]
        assert ort in names and len([n for n in names if n.startswith("onnxruntime")]) == 1, (platform, names)
    with pytest.raises(ValueError):
        inst.marker_applies("python_version < '3.12'")


def test_missing_packages_names_absent_and_old():
    have = f"pytest>={pytest.__version__.split('.')[0]}"
    got = inst.missing_packages([have, "pytest>=999", "surely-not-installed-xyz>=1.0",
                                 "only-on-windows-xyz>=1; sys_platform == 'win32'"], platform="linux")
    assert got == [f"pytest>=999 (found {pytest.__version__})", "surely-not-installed-xyz>=1.0 (not installed)"]


def test_find_interpreter_is_the_running_python():
    py = inst.find_interpreter()
    assert inst.probe_interpreter(py) == (tuple(sys.version_info[:3]), struct.calcsize("P") * 8)


def test_prefixes_start_where_the_python_library_is_loaded_from():
    # A python linked against libpython (Debian's /usr/bin/python3 is not): the folder of
    # the loaded library comes before sys.base_prefix.
    code = ("import sys; sys.path.insert(0, %r); from obs_filter import installer as i; "
            "print(i.python_prefixes()[0]); print(i.find_interpreter())" % str(ROOT))
    for py in ("/usr/bin/python3", sys.executable):
        out = subprocess.run([py, "-c", code], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        first, found = out.stdout.split()
        assert os.path.isdir(first)
        ver = subprocess.run([found, "-c", "import sys; print(sys.version)"], capture_output=True, text=True).stdout
        me = subprocess.run([py, "-c", "import sys; print(sys.version)"], capture_output=True, text=True).stdout
        assert ver == me, (py, found)


@pytest.mark.parametrize("kwargs, words", [
    (dict(bits=32), ["32-bit", "64-bit"]),
    (dict(platform="win32", version=(3, 13, 1)), ["3.13", "3.10–3.12", "Python Settings"]),
    (dict(platform="darwin", version=(3, 9, 6)), ["3.9", "3.10–3.12"]),
    (dict(prefixes=["/nonexistent"]), ["cannot find the Python", "/nonexistent"]),
])
def test_find_interpreter_says_what_to_do(kwargs, words):
    with pytest.raises(inst.InstallError) as e:
        inst.find_interpreter(**kwargs)
    msg = str(e.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_find_interpreter_rejects_a_different_python():
    # The folder holds a python of another version than OBS runs: refuse, say which.
    with pytest.raises(inst.InstallError, match=r"is Python 3\.9\.1 64-bit"):
        inst.find_interpreter(prefixes=[sys.base_prefix], version=sys.version_info[:3],
                              probe=lambda p: ((3, 9, 1), 64))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: connections are refused


def test_pip_without_network_gives_one_clear_line(tmp_path):
    env = dict(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=f"http://127.0.0.1:{_closed_port()}/simple",
               PIP_FIND_LINKS="", PIP_EXTRA_INDEX_URL="", PIP_RETRIES="1", PIP_TIMEOUT="2")  # pip says "Retrying … refused" before giving up
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        rc, lines = inst.run_logged([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(tmp_path),
                                     "numpy"], lambda _l: None, timeout=120)
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    assert rc != 0
    msg = inst.explain_pip_failure(rc, lines)
    assert msg.startswith("no network:") and "Install packages again" in msg, (msg, lines[-3:])


def test_pip_failure_without_network_signs_names_pip_error():
    msg = inst.explain_pip_failure(1, ["Collecting x", "ERROR: Could not find a version that satisfies the "
                                       "requirement numba>=0.58 (from versions: none)"])
    assert msg.startswith("pip found no package for this Python") and "numba" in msg
    assert inst.explain_pip_failure(2, []).startswith("pip failed (exit code 2)")


def make_wheel(folder: Path, name="obs_bg_dummy", version="1.0") -> Path:
    """A minimal pure-Python wheel, made by hand (no build backend, no network)."""
    whl = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    files = {f"{name}.py": "VALUE = 42\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    with zipfile.ZipFile(whl, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
        z.writestr(f"{info}/RECORD", "".join(f"{p},,\n" for p in files) + f"{info}/RECORD,,\n")
    return whl


def test_installer_creates_venv_and_installs_offline_from_a_wheel_folder(tmp_path, monkeypatch):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels)
    script_dir = tmp_path / "checkout"
    script_dir.mkdir()
    (script_dir / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = [\n    "obs-bg-dummy>=1.0",\n'
        '    "not-for-this-platform-xyz>=1; sys_platform == \'nonexistent\'",\n]\n')
    for k, v in dict(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels)).items():
        monkeypatch.setenv(k, v)
    lines, done = [], []
    job = inst.Installer(str(script_dir), log=lines.append, on_done=done.append)
    assert job.state == "idle" and not (script_dir / ".venv").exists()  # nothing before the click
    assert job.start() and not job.start()  # one job at a time
    job.thread.join(300)
    assert job.state == "done", (job.error, lines[-5:])
    assert done == [job] and job.error is None
    vpy = inst.venv_python(str(script_dir / ".venv"))
    out = subprocess.run([vpy, "-c", "import obs_bg_dummy, sys; print(obs_bg_dummy.VALUE, sys.version_info[:2])"],
                         capture_output=True, text=True).stdout
    assert out.strip() == f"42 {tuple(sys.version_info[:2])}"
    assert any("creating" in ln for ln in lines) and any("Successfully installed obs-bg-dummy" in ln for ln in lines)
    # A second click reuses the venv.
    t0 = time.monotonic()
    job.start()
    job.thread.join(120)
    assert job.state == "done" and not any("creating" in ln for ln in lines[len(lines) // 2 + 1:])
    assert time.monotonic() - t0 < 120


def test_installer_precompiles_the_kernels_with_the_venvs_python(tmp_path, monkeypatch):
    """After pip, obs_filter/warmup.py of the checkout runs in the new venv (filling numba's
    cache); its failure is reported but the install is still done."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels)
    script_dir = tmp_path / "checkout"
    (script_dir / "obs_filter").mkdir(parents=True)
    (script_dir / "obs_filter" / "__init__.py").write_text("")
    marker = tmp_path / "ran.txt"
    (script_dir / "obs_filter" / "warmup.py").write_text(
        "import sys, obs_bg_dummy\n"
        f"open({str(marker)!r}, 'w').write(sys.prefix)\n"
        "print('matting kernels compiled in 0.1 s')\n")
    (script_dir / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["obs-bg-dummy>=1.0"]\n')
    for k, v in dict(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels)).items():
        monkeypatch.setenv(k, v)
    lines = []
    job = inst.Installer(str(script_dir), log=lines.append)
    job.start()
    job.thread.join(300)
    assert job.state == "done", (job.error, lines[-5:])
    assert os.path.samefile(marker.read_text(), script_dir / ".venv")  # the venv's interpreter ran it
    assert any("kernels compiled" in ln for ln in lines)
    (script_dir / "obs_filter" / "warmup.py").write_text("raise SystemExit('numba broke')\n")
    job.start()
    job.thread.join(300)
    assert job.state == "done" and any("compiling the kernels failed (numba broke)" in ln for ln in lines)


def test_installer_reports_a_failure_as_state_and_line(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["obs-bg-absent>=1"]\n')
    for k, v in dict(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(tmp_path)).items():
        monkeypatch.setenv(k, v)
    lines = []
    job = inst.Installer(str(tmp_path), log=lines.append)
    job.start()
    job.thread.join(300)
    assert job.state == "failed" and job.error.startswith("pip found no package"), job.error
    assert lines[-1] == f"install failed: {job.error}"
