#!/usr/bin/env bash
# CI's test set-up: the project with its test extras installed into the `python3` on PATH
# (a Python that allows it: pyenv's, a venv's), and (where we are root with apt) a real OBS
# Studio for the end-to-end tests. Idempotent: fast when everything is there.
# On a machine of your own use ./setup (README): it makes .venv/ in the checkout instead.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e ".[test]"
if [ -f .ci/install-obs.sh ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  bash .ci/install-obs.sh
else
  echo "tests/setup.sh: not root or no apt-get: OBS end-to-end tests will skip" >&2
fi
