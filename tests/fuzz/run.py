"""Run the fuzz targets for longer than CI does: again and again, each round with a
fresh seed, until the time is up or something is found.

    python3 tests/fuzz/run.py --minutes 30                 # all targets
    python3 tests/fuzz/run.py --minutes 10 -k files        # some (pytest -k)
    python3 tests/fuzz/run.py --minutes 5 --examples 2000  # examples per target and round

A finding stops the run; pytest prints the falsifying example and an
@reproduce_failure(...) line. Fix it, then add it to tests/test_robustness.py.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--examples", type=int, default=500, help="per target and round (CI: 40)")
    ap.add_argument("-k", default="", help="only targets matching this pytest -k expression")
    args = ap.parse_args(argv)
    deadline = time.monotonic() + 60 * args.minutes
    env = dict(os.environ, OBS_BG_FUZZ_EXAMPLES=str(args.examples))
    rounds = 0
    while time.monotonic() < deadline:
        seed = random.randrange(2**32)
        cmd = [sys.executable, "-m", "pytest", str(HERE), "-q", "-p", "no:cacheprovider", "-x",
               f"--hypothesis-seed={seed}"] + (["-k", args.k] if args.k else [])
        rounds += 1
        print(f"round {rounds}: seed {seed}, {args.examples} examples per target", flush=True)
        rc = subprocess.call(cmd, env=env, cwd=HERE.parents[1])
        if rc != 0:
            print(f"finding (pytest exit {rc}) in round {rounds}, seed {seed}", flush=True)
            return 1
    print(f"no findings in {rounds} round(s), {args.minutes:g} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
