"""obs_filter/shedding.py: when the filter gives way, and how the synchronised delay is chosen."""

from __future__ import annotations

from obs_filter import shedding as S

IV = 1 / 30  # the frame interval, s


def run(sh, seconds, lagged=None, obs_ms=2.0, worker_ms=5.0, t0=0.0):
    """Feed ``seconds`` of frames; returns the time reached."""
    t = t0
    for _ in range(round(seconds / IV)):
        t += IV
        sh.update(t, IV, lagged() if callable(lagged) else lagged, obs_ms, worker_ms)
    return t


def test_a_missed_frame_raises_the_level_at_once_and_calm_lowers_it_step_by_step():
    sh = S.Shedder()
    t = run(sh, 2.0, lagged=0)
    assert sh.level == 1 and sh.changes == 0
    assert sh.update(t + IV, IV, 1, 2.0, 5.0) and sh.level == 2 and "missed" in sh.reason
    assert [sh.due(i) for i in range(4)] == [True, False, True, False]
    t = run(sh, S.CALM_FOR_S - 0.5, lagged=1, t0=t + IV)
    assert sh.level == 2  # not calm for long enough yet
    t = run(sh, 1.0, lagged=1, t0=t)
    assert sh.level == 1 and sh.changes == 2


def test_slow_obs_frames_or_a_slow_worker_raise_the_level_after_a_while():
    sh = S.Shedder()
    t = run(sh, S.RAISE_AFTER_S * 0.8, obs_ms=25.0)  # over half of the 33 ms budget
    assert sh.level == 1
    t = run(sh, S.RAISE_AFTER_S, obs_ms=25.0, t0=t)
    assert sh.level == 2 and "OBS took" in sh.reason
    sh = S.Shedder()
    t = run(sh, 2.0, worker_ms=50.0)  # the worker cannot keep up with every frame
    assert sh.level == 2 and "matte took" in sh.reason
    t = run(sh, 10.0, worker_ms=50.0, t0=t)  # it keeps up with every 2nd: stays there
    assert sh.level == 2
    t = run(sh, 10.0, worker_ms=30.0, t0=t)  # 30 ms: not calm enough for every frame
    assert sh.level == 2
    run(sh, 10.0, worker_ms=10.0, t0=t)
    assert sh.level == 1


def test_the_level_rises_a_step_at_a_time_and_is_bounded():
    sh = S.Shedder()
    n = [0]

    def lagging():
        n[0] += 1
        return n[0]
    run(sh, 0.5, lagged=lagging)
    assert sh.level == 1 + 1  # one step at once, the next after a pause (the first may suffice)
    run(sh, 5.0, lagged=lagging)
    assert sh.level == S.LEVELS[-1]


def test_unknown_numbers_never_raise_the_level():
    sh = S.Shedder()
    run(sh, 5.0, lagged=None, obs_ms=None, worker_ms=None)
    assert sh.level == 1


def test_delay_is_the_90th_percentile_of_the_first_latencies_and_held():
    d = S.DelayChooser()
    assert not any(d.observe(40) for _ in range(S.WARMUP_MATTES))  # a cold start is left out
    lat = [2] * 13 + [3, 9]  # one outlier does not set the delay
    assert not any(d.observe(x) for x in lat[:-1]) and d.frames is None
    assert d.observe(lat[-1]) and d.frames == 3
    assert not d.observe(20) and d.frames == 3  # held
    d.reset()
    assert d.frames is None
    for _ in range(S.WARMUP_MATTES + S.MEASURE_MATTES):
        d.observe(0)
    assert d.frames == S.MIN_DELAY
    d.reset()
    for _ in range(S.WARMUP_MATTES + S.MEASURE_MATTES):
        d.observe(500)
    assert d.frames == S.MAX_DELAY
