#!/usr/bin/env bash
# Test set-up: the project with its test extras, and (where we are root with apt) a real
# OBS Studio for the end-to-end tests. Idempotent: fast when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e ".[test]"
if [ -f .ci/install-obs.sh ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  bash .ci/install-obs.sh
else
  echo "tests/setup.sh: not root or no apt-get: OBS end-to-end tests will skip" >&2
fi
