#!/usr/bin/env bash
# Install what the real-OBS end-to-end tests need, idempotently:
#  - Debian's OBS Studio (its Python scripting embeds the system Python 3.11) and a
#    virtual X server with software OpenGL, so OBS runs headless without a GPU;
#  - .venv-obs: a venv made with the SAME Python OBS embeds (/usr/bin/python3), holding
#    the filter's runtime packages. OBS finds it through OBS_BG_REPLACE_PYTHONPATH.
# The test side (obsws-python, pytest) comes from the project's `test` extra.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(obs-studio obs-plugins xvfb x11-utils libgl1-mesa-dri libglx-mesa0 libegl-mesa0 python3-venv)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "install-obs: apt-get install ${missing[*]}"
    sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)  # ./setup --obs as a user
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        >/dev/null
fi

VENV=.venv-obs
# Not the caller's venv, if one is active: OBS embeds the system Python.
unset VIRTUAL_ENV PYTHONHOME PYTHONPATH
SYS_VER=$(/usr/bin/python3 -c 'import sys; print(sys.version_info[:2])')
if [ ! -x "$VENV/bin/python" ] || [ "$("$VENV/bin/python" -c 'import sys; print(sys.version_info[:2])')" != "$SYS_VER" ]; then
    rm -rf "$VENV"
    /usr/bin/python3 -m venv "$VENV"
fi
# Runtime deps only (the script imports `matting` from the checkout beside it).
if ! "$VENV/bin/python" -c 'import numpy, numba, onnxruntime, cv2' 2>/dev/null; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        "numpy>=1.24" "numba>=0.58" "onnxruntime>=1.17" "opencv-python-headless>=4.8"
fi
# The runtime wheels for this Python, for the install-button test (tests/obs/test_obs_install.py
# installs from them offline, as the button would from the index). Outside the repo.
# Only where we may write there (root); elsewhere that test skips.
WHEELS=/var/cache/obs-bg-wheels
if ! compgen -G "$WHEELS/numpy-*.whl" >/dev/null && { [ -w "$(dirname "$WHEELS")" ] || [ -w "$WHEELS" ]; }; then
    mkdir -p "$WHEELS"
    # shellcheck disable=SC2046
    "$VENV/bin/python" -m pip download -q --disable-pip-version-check --only-binary=:all: -d "$WHEELS" \
        $("$VENV/bin/python" tools/runtime_requirements.py --platform linux)
fi
echo "install-obs: $(obs --version 2>/dev/null | head -1); venv $("$VENV/bin/python" -V)"
