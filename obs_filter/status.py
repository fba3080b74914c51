"""What the panel says about a filter, and when the panel is redrawn.

``obs_source_update_properties`` rebuilds the whole properties panel: an open dropdown
closes, a shown tooltip goes (docs/OBS.md). So the panel is refreshed only when the
filter's *state* changes (:func:`state_key`: starting, waiting for the first matte,
running, paused, an error, a capture's countdown and outcome, the known background's
state), never because a number moved. Numbers are shown as of the panel's last build;
"Refresh the statistics below" rebuilds it on request.
"""

from __future__ import annotations

import time


def _known_word(filt) -> str:
    """The known background's state without its live percentage ("active", "learning")."""
    known = getattr(filt.worker, "known_status", "") or ""
    if not known or known == "known background: off":
        return ""
    return known.split("(")[0].strip()


def _capture(filt):
    return getattr(filt.worker, "capture", None)


def state_key(filt) -> tuple:
    """Changes exactly when the panel's words would change (not its numbers)."""
    msg = filt.message()
    if msg:
        return ("error", msg)
    cap = _capture(filt)
    cap_key = cap.state_key() if cap is not None else ()
    if not filt.active:
        return ("paused", cap_key)
    if filt.settings is None or filt.worker.pipeline is None:
        return ("starting", cap_key)
    if filt.worker.frames == 0 and filt.worker.total_frames == 0:
        return ("waiting", cap_key)
    # Giving way and the delay's choice are shown when the panel is built, but do not
    # rebuild it: under changing load they change often (the panel test counts rebuilds).
    return ("running", filt.path, _known_word(filt), cap_key)


def _shedding(filt) -> int:
    """1 = a matte for every frame; N = the filter gives way to OBS with one in N."""
    shedder = getattr(filt, "shedder", None)
    return shedder.level if shedder is not None else 1


def _fixed_delay(filt) -> int | None:
    """The synchronised picture delay in frames, once chosen (held until settings change)."""
    fixed = getattr(filt, "_fixed_delay", None)
    return filt.delay.frames if fixed is not None and fixed() else None


def _worker_cpu_ms(filt) -> float:
    """CPU time the worker's thread has used (ms), as it last read its own clock."""
    return getattr(filt.worker, "cpu_ms", 0.0)


def sample_cpu(filt) -> float | None:
    """The worker's CPU time as a share of one core, over the last second or more
    (sampled on every frame, so that a panel built now has a recent value)."""
    now, busy, frames = time.monotonic(), _worker_cpu_ms(filt), filt.worker.total_frames
    last = getattr(filt, "_cpu_sample", None)
    if last is None:
        filt._cpu_sample, filt._cpu_pct = (now, busy, frames), None
        return None
    if now - last[0] >= 1.0:
        # a window that starts after the first frame (the worker reads its clock after each
        # frame: before that, model loading would count as 0 %)
        if last[2] > 0 and frames > last[2]:
            filt._cpu_pct = 100.0 * (busy - last[1]) / (1e3 * (now - last[0]))
        filt._cpu_sample = (now, busy, frames)
    return getattr(filt, "_cpu_pct", None)


def panel_status(filt) -> tuple[str, str]:
    """(one line for the top of the panel, "info" / "warning" / "error")."""
    if filt is None:
        return "Not running", "info"
    msg = filt.message()
    if msg:
        return f"Error: {msg} (showing the background only, never the camera)", "error"
    cap = _capture(filt)
    cap_text, cap_level = cap.words() if cap is not None else ("", "info")
    if cap_text and cap.busy():
        return cap_text, cap_level
    if not filt.active:
        text = "Paused (the source is hidden)"
    elif filt.settings is None or filt.worker.pipeline is None:
        text = "Starting: loading the model…"
    elif filt.worker.frames == 0 and filt.worker.total_frames == 0:
        text = "Waiting for the first matte…"
    else:
        cpu = getattr(filt, "_cpu_pct", None)
        text = f"Running, {filt.worker.fps:.0f} fps" + (f", CPU {cpu:.0f} % of one core" if cpu is not None else "")
        known = _known_word(filt)
        if known:
            text += f" · static camera: {known.replace('known background: ', '')}"
        frames = _fixed_delay(filt)
        if frames is not None:
            text += f" · picture delayed {filt.delay_ms():.0f} ms = {frames} frame(s): set it as the mic's Sync Offset"
        if _shedding(filt) > 1:
            text += f" · giving way to OBS under load (a matte every {_shedding(filt)} frames)"
    if cap_text:  # the last capture's outcome, until the next capture or forget
        text += f" · {cap_text}"
        return text, cap_level
    return text, "info"


def details(filt) -> str:
    """The numbers line (model timings, fps, device, render time, path, delay, known
    background) as of now."""
    if filt is None:
        return "Not running"
    msg = filt.message()
    if msg:
        return f"Error: {msg} (showing the background only, never the camera)"
    w = filt.worker
    if filt.settings is None or w.frames == 0:
        if not filt.active:
            return "Paused (source hidden)"
        return "Starting: waiting for the first matte (the background is shown until then)"
    t = w.timings
    device = (w.provider or "?").replace("ExecutionProvider", "")
    state = "" if filt.active else " · paused"
    known = w.known_status
    if known and known != "known background: off":
        state += f" · {known}"
    return (f"inference {t.get('inference', 0):.1f} ms · total {t.get('total', 0):.1f} ms · "
            f"worker {w.fps:.1f} fps · device {device} · render {filt.render_ms:.2f} ms · "
            f"{filt.path.upper()} compositing{filt._timing_text()}{state}")
