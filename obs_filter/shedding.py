"""The filter gives way before OBS does: load shedding and the synchronised delay.

:class:`Shedder` decides how many of OBS's frames the filter reads back and hands to the
worker: every frame (level 1), or every 2nd, 3rd, 4th. It watches OBS's own numbers
(frames the render thread missed, its average frame time, both from libobs) and the
worker's time per frame against the frame interval; when OBS is short of time it raises
the level at once, and lowers it one step after a calm spell. Reading back less is what
frees the render thread (staging waits for a software renderer: 5-60 ms a frame measured
under load at 720p) and the cores (the worker runs the model on fewer frames).

:class:`DelayChooser` fixes the synchronised timing's picture delay: a whole number of
frames, chosen from the matte latency measured over the first mattes (after a few left
out: a cold start is slower) after a start,
a settings change or a resolution change, then held. Shedding never moves it: a frame
without its own matte is drawn with the nearest earlier one.
"""

from __future__ import annotations

import math

LEVELS = (1, 2, 3, 4)
RAISE_AFTER_S = 0.5  # pressure seen this long (a lagged frame counts at once) raises the level
RAISE_GAP_S = 1.0  # a further step waits this long: the last one must have had time to help
CALM_FOR_S = 5.0  # no pressure for this long lowers the level one step
BUSY_SHARE = 0.5  # OBS's average frame time above this share of the interval: short of time
CALM_SHARE = 0.3  # and below this share: time to spare


class Shedder:
    """The level of shedding (read back every ``level``-th frame); :meth:`update` once a
    frame with what was measured, :meth:`due` says whether a frame is read back."""

    def __init__(self):
        self.level = 1
        self.changes = 0  # level changes so far
        self.reason = ""  # why the level was last raised (for the status line)
        self._pressure_since = None
        self._calm_since = None
        self._lagged = None  # OBS's lagged-frame counter last seen
        self._raised = None  # when the level was last raised

    def due(self, seq: int) -> bool:
        return seq % self.level == 0

    def update(self, now: float, interval_s: float, lagged: int | None, obs_frame_ms: float | None,
               worker_ms: float | None) -> bool:
        """One frame's numbers: OBS's lagged-frame counter (cumulative), its average frame
        time, the worker's ms per frame (None: unknown). True if the level changed."""
        new_lag = lagged is not None and self._lagged is not None and lagged > self._lagged
        if lagged is not None:
            self._lagged = lagged
        budget = 1e3 * interval_s
        why = ""
        if new_lag:
            why = "OBS missed a frame"
        elif obs_frame_ms is not None and obs_frame_ms > BUSY_SHARE * budget:
            why = f"OBS took {obs_frame_ms:.0f} ms a frame"
        elif worker_ms is not None and worker_ms > budget * self.level:
            why = f"the matte took {worker_ms:.0f} ms"
        calm = (not why and (obs_frame_ms is None or obs_frame_ms < CALM_SHARE * budget)
                and (worker_ms is None or worker_ms < 0.75 * budget * (self.level - 1)))
        if why:
            self._calm_since = None
            if self._pressure_since is None:
                self._pressure_since = now
            rested = self._raised is None or now - self._raised >= RAISE_GAP_S
            if (new_lag or now - self._pressure_since >= RAISE_AFTER_S) and rested and self.level < LEVELS[-1]:
                self.level += 1
                self.changes += 1
                self.reason = why
                self._raised = now
                self._pressure_since = None  # the next step needs its own evidence
                return True
            return False
        self._pressure_since = None
        if not calm:
            self._calm_since = None
            return False
        if self._calm_since is None:
            self._calm_since = now
        if self.level > 1 and now - self._calm_since >= CALM_FOR_S:
            self.level -= 1
            self.changes += 1
            self._calm_since = now
            return True
        return False


WARMUP_MATTES = 5  # the first mattes after a start are not measured (a cold cache, a model loading)
MEASURE_MATTES = 15  # mattes whose latency chooses the delay
MIN_DELAY = 1  # frames: the frame is read back on a later frame than it is drawn
MAX_DELAY = 30  # = FrameRing.MAX_FRAMES: frames kept on the GPU


class DelayChooser:
    """The synchronised picture delay in frames: None while measuring, then held."""

    def __init__(self):
        self.frames = None
        self._latencies = []
        self._seen = 0

    def reset(self) -> None:
        self.frames, self._latencies, self._seen = None, [], 0

    def observe(self, latency: int) -> bool:
        """A new matte arrived ``latency`` frames after its frame. True when this fixes
        the delay (the 90th percentile of the latencies measured, whole frames)."""
        if self.frames is not None:
            return False
        self._seen += 1
        if self._seen <= WARMUP_MATTES:
            return False
        self._latencies.append(max(0, int(latency)))
        if len(self._latencies) < MEASURE_MATTES:
            return False
        lat = sorted(self._latencies)
        p90 = lat[min(len(lat) - 1, math.ceil(0.9 * len(lat)) - 1)]
        self.frames = min(MAX_DELAY, max(MIN_DELAY, p90))
        return True
