"""Which onnxruntime this process really uses: its build and the native libraries loaded.

On Windows another OBS plugin may have loaded a different onnxruntime.dll (or
DirectML.dll) into OBS before us, and Windows then reuses that DLL: the Python package's
version alone does not tell. So the log names the native files actually mapped into
the process (Linux: /proc/self/maps; Windows: the module list; macOS: dyld's image list).
"""

from __future__ import annotations

import ctypes
import os
import sys

_WORDS = ("onnxruntime", "directml")


def loaded_libraries(words=_WORDS) -> list[str]:
    """Paths of native libraries loaded in this process whose file name contains one of
    `words` (case-insensitive), in load order, without duplicates."""
    paths = []
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
                for line in f:
                    parts = line.split(None, 5)
                    if len(parts) == 6 and parts[5].startswith("/"):
                        paths.append(parts[5].strip())
        except OSError:
            pass
    elif sys.platform == "win32":
        paths = _windows_modules()
    elif sys.platform == "darwin":
        dyld = ctypes.CDLL(None)
        dyld._dyld_image_count.restype = ctypes.c_uint32
        dyld._dyld_get_image_name.restype = ctypes.c_char_p
        dyld._dyld_get_image_name.argtypes = [ctypes.c_uint32]
        paths = [dyld._dyld_get_image_name(i).decode(errors="replace") for i in range(dyld._dyld_image_count())]
    seen, out = set(), []
    for p in paths:
        base = os.path.basename(p).lower()
        native = base.endswith((".so", ".dll", ".pyd", ".dylib")) or ".so." in base or "." not in base
        if p not in seen and native and any(w in base for w in words):
            seen.add(p)
            out.append(p)
    return out


def _windows_modules() -> list[str]:
    from ctypes import wintypes

    psapi, k32 = ctypes.WinDLL("psapi"), ctypes.WinDLL("kernel32")
    proc = k32.GetCurrentProcess()
    k32.GetCurrentProcess.restype = wintypes.HANDLE
    needed = wintypes.DWORD()
    mods = (wintypes.HMODULE * 2048)()
    if not psapi.EnumProcessModules(proc, mods, ctypes.sizeof(mods), ctypes.byref(needed)):
        return []
    out = []
    buf = ctypes.create_unicode_buffer(1024)
    for i in range(min(needed.value // ctypes.sizeof(wintypes.HMODULE), 2048)):
        if psapi.GetModuleFileNameExW(proc, mods[i], buf, 1024):
            out.append(buf.value)
    return out


def describe() -> str:
    """One log line: onnxruntime version, package folder, device, providers, native files."""
    import onnxruntime as ort

    libs = loaded_libraries()
    return (f"onnxruntime {ort.__version__} ({getattr(ort, 'get_device', lambda: '?')()}) from "
            f"{os.path.dirname(ort.__file__)}; providers {', '.join(ort.get_available_providers())}; "
            f"native libraries loaded: {', '.join(libs) if libs else 'none found'}")


def available_devices(providers=None) -> list[str]:
    """The panel's device values this onnxruntime build offers: "auto" and "cpu" always,
    then "cuda" / "dml" / "coreml" only where the build has that execution provider."""
    from matting.model import PROVIDERS

    if providers is None:
        try:
            import onnxruntime as ort

            providers = ort.get_available_providers()
        except Exception:  # noqa: BLE001 - no onnxruntime: the CPU is all there is
            providers = []
    return ["auto"] + [d for d, p in PROVIDERS.items() if d not in ("auto", "cpu") and p in providers] + ["cpu"]
