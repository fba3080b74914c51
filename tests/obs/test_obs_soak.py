"""The long-session soak, CI length (pytest -m obs): tools/obs_soak.py for 2 minutes.

The 10-minute run is done by hand (docs/OBS.md has its table and command) and judges
all the soak's criteria. Here: the filter on a moving 1280×720@30 clip in real OBS for 2
minutes sampled every 30 s, asserting the criteria that do not depend on timing: resident
memory after warm-up grows ≤ 20 MB, the worker reports in every interval (no stall), OBS
renders in every interval (no hang), clean exit, no traceback, no more leaks than OBS
without the script. The skipped-frame share and the worker's frame time are printed, not
asserted: on a 2-core software renderer they follow the load and the clip's motion from
one 30-s window to the next (seen: 30 % → 56 % skipped when another job started), and
timings are not test assertions in this project.
"""

from __future__ import annotations

import math
import sys

import pytest

from obs_harness import ROOT

pytestmark = pytest.mark.obs


def test_soak_two_minutes(obs_available, tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "tools"))
    import obs_soak

    lines = []
    res = obs_soak.run_soak(2.0, interval=30.0, baseline=20.0, workdir=tmp_path, out=lines.append,
                             drift=math.inf, skip_growth=math.inf)
    with capsys.disabled():
        print("\n" + "\n".join(lines) + "\n" + obs_soak.summary(res))
    assert res.ok, obs_soak.summary(res)
