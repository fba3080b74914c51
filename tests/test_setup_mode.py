"""obs_filter/setup_mode.py without OBS: what the panel says, when, and what the click does."""

from __future__ import annotations

import sys
import threading
import types

from obs_filter import setup_mode


def fake_ol():
    st = types.SimpleNamespace(lock=threading.RLock())
    lines = []
    return types.SimpleNamespace(store=lambda: st, log=lambda level, msg: lines.append(msg), LOG_INFO=300,
                                 LOG_WARNING=200, lines=lines)


class FakeJob:
    def __init__(self, script_dir):
        self.script_dir, self.venv = script_dir, script_dir + "/.venv"
        self.state, self.line, self.error, self.starts = "idle", "", None, 0

    def start(self):
        self.starts += 1
        self.state = "running"
        return True


def make(tmp_path, activate=lambda: None, missing=("numpy>=1.24 (not installed)",)):
    ol = fake_ol()
    ol.store().install_job = FakeJob(str(tmp_path))
    s = setup_mode.Setup(ol, str(tmp_path), list(missing), activate=activate, add_paths=lambda: None)
    return ol, s


def test_panel_says_what_is_missing_then_progress_then_failure(tmp_path):
    ol, s = make(tmp_path)
    text, err = s.status()
    assert err and text.startswith("Missing packages: numpy>=1.24 (not installed)") and "Install packages" in text
    assert s.job.starts == 0  # nothing before the click
    assert s.click() and s.job.starts == 1
    s.job.line = "Collecting numpy"
    assert s.status() == ("Installing packages… Collecting numpy", False)
    s.job.state, s.job.error = "failed", "no network: pip could not reach the package index — connect …"
    assert s.status() == ("Install failed: no network: pip could not reach the package index — connect …", True)
    s.job.state = "done"
    assert s.status() == ("Packages installed; loading them…", False)


def test_done_loads_in_place(tmp_path, monkeypatch):
    calls = []
    ol, s = make(tmp_path, activate=lambda: calls.append("activate"))
    monkeypatch.setattr(setup_mode, "missing", lambda d: [])
    monkeypatch.setattr(setup_mode, "conflicting_imports", lambda venv: [])
    s.job.state = "done"
    ol.store().install_setup._done(s.job)
    assert calls == ["activate"] and s.result == "loaded"
    assert ol.lines[-1] == "install: packages loaded, the filter is active"


def test_done_after_unload_loads_nothing(tmp_path):
    calls = []
    ol, s = make(tmp_path, activate=lambda: calls.append("activate"))
    s.closed = True
    s.job.state = "done"
    s._done(s.job)
    assert calls == [] and s.result is None


def test_a_failing_load_says_reload_and_a_foreign_numpy_says_restart(tmp_path, monkeypatch):
    def boom():
        raise ImportError("libfoo.so: cannot open shared object file")

    ol, s = make(tmp_path, activate=boom)
    monkeypatch.setattr(setup_mode, "missing", lambda d: [])
    real_conflicts = setup_mode.conflicting_imports
    monkeypatch.setattr(setup_mode, "conflicting_imports", lambda venv: [])
    s.job.state = "done"
    s._done(s.job)
    assert s.result.startswith("Packages installed, but loading them failed (ImportError: libfoo.so")
    assert "reload the script" in s.result and s.status() == (s.result, True)
    # numpy already imported by another script, from elsewhere: a restart is the only way.
    monkeypatch.setattr(setup_mode, "conflicting_imports", real_conflicts)
    monkeypatch.setitem(sys.modules, "numpy", types.SimpleNamespace(__file__="/elsewhere/numpy/__init__.py"))
    ol, s = make(tmp_path)
    s.job.state = "done"
    s._done(s.job)
    assert s.result.startswith("Packages installed, but another script already loaded numpy from /elsewhere/numpy")
    assert s.result.endswith("restart OBS to use them.")


def test_conflicting_imports_ignores_the_venv_and_absent_modules(tmp_path, monkeypatch):
    venv = tmp_path / ".venv"
    monkeypatch.setitem(sys.modules, "numpy", types.SimpleNamespace(__file__=str(venv / "lib/numpy/__init__.py")))
    for name in ("cv2", "numba", "llvmlite", "onnxruntime"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert setup_mode.conflicting_imports(str(venv)) == []
