"""obs_filter/ortinfo.py names the onnxruntime build and native files really loaded."""

import os

import onnxruntime as ort

from obs_filter import ortinfo


def test_describe_names_the_loaded_native_library():
    line = ortinfo.describe()
    pkg = os.path.dirname(ort.__file__)
    assert line.startswith(f"onnxruntime {ort.__version__} (") and pkg in line
    assert "CPUExecutionProvider" in line
    libs = ortinfo.loaded_libraries()
    # The Python binding's extension module is mapped from the package we imported.
    assert any(p.startswith(pkg) and "onnxruntime_pybind11_state" in p for p in libs), libs
    assert all("onnxruntime" in os.path.basename(p).lower() or "directml" in os.path.basename(p).lower()
               for p in libs)
