"""The filter's panel in OBS and what its settings mean for matting.

:data:`DEFAULTS` are the obs_data defaults, :func:`settings_from_obs` turns the filter's
obs_data into validated :class:`matting.settings.Settings` and the compositing path,
:func:`build_properties` fills the properties panel.
"""

from __future__ import annotations

from matting.errors import MattingError
from matting.settings import Settings

_D = Settings()
# OBS colours are 0xAABBGGRR.
DEFAULTS = {
    "background_type": "color",
    "background_image": "",
    "background_video": "",
    "background_fit": _D.background_fit,
    "blur_strength": float(_D.blur_strength),
    "background_color": 0xFF40B100,  # #00b140, matting's default green
    "model": "general",
    "model_path": "",
    "device": "auto",
    "compositing": "gpu",
    "timing": "sync",
    "smooth_alpha": float(_D.smooth_alpha),
    "smooth_beta": float(_D.smooth_beta),
    "roi_margin": float(_D.roi_margin),
    "min_area": float(_D.min_area),
    "keep_largest": bool(_D.keep_largest),
    "temporal_strength": float(_D.temporal_strength),
    "adaptive_rate": _D.adaptive_rate,
    "edge_detail": float(_D.edge_detail),
    # Opt-in in OBS: halo removal costs the worker its colour means and the shader a
    # second matte-sized texture (both paths do it; docs/OBS.md has the cost).
    "halo_removal": False,
    "light_wrap": 0.0,
    "known_background": bool(_D.known_background),
    "background_plate": _D.background_plate,
}


def colour_to_hex(abgr: int) -> str:
    """OBS colour int (0xAABBGGRR) → '#RRGGBB'."""
    return f"#{abgr & 0xFF:02x}{(abgr >> 8) & 0xFF:02x}{(abgr >> 16) & 0xFF:02x}"


def settings_from_obs(data) -> tuple[Settings, str]:
    """The filter's obs_data → (validated matting Settings, compositing path).
    Raises MattingError (SettingsError) with a message for the user."""
    btype = data.get_string("background_type") or "color"
    if btype in ("image", "video"):
        background = data.get_string(f"background_{btype}").strip()
        if not background:
            raise MattingError(f"background: choose a{'n image' if btype == 'image' else ' video'} file "
                               "(or pick a colour)")
    elif btype == "blur":
        background = "blur"
    elif btype == "transparent":
        background = "transparent"
    else:
        background = colour_to_hex(data.get_int("background_color"))
    model = data.get_string("model") or "general"
    if model == "custom":
        model = data.get_string("model_path").strip()
        if not model:
            raise MattingError("model: choose a custom .onnx file")
    settings = Settings(
        model=model,
        device=data.get_string("device") or "auto",
        background=background,
        smooth_alpha=data.get_double("smooth_alpha"),
        smooth_beta=data.get_double("smooth_beta"),
        roi_margin=data.get_double("roi_margin"),
        min_area=data.get_double("min_area"),
        keep_largest=data.get_bool("keep_largest"),
        temporal_strength=data.get_double("temporal_strength"),
        adaptive_rate=data.get_string("adaptive_rate") or _D.adaptive_rate,
        background_fit=data.get_string("background_fit") or "cover",
        blur_strength=data.get_double("blur_strength"),
        edge_detail=data.get_double("edge_detail"),
        halo_removal=data.get_bool("halo_removal"),
        light_wrap=data.get_double("light_wrap"),
        known_background=data.get_bool("known_background"),
        background_plate=data.get_string("background_plate").strip(),
    )
    # Every background and edge option has its shader: CPU compositing only when asked for.
    path = "cpu" if data.get_string("compositing") == "cpu" else "gpu"
    return settings, path


TIMINGS = ("sync", "latency")


def timing_from_obs(data) -> str:
    """"sync" (default: the picture waits for its matte) or "latency" (the newest picture
    with the newest matte, which may trail a movement)."""
    t = data.get_string("timing")
    return t if t in TIMINGS else "sync"


IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif *.tiff);;All files (*.*)"
VIDEO_FILTER = "Videos (*.mp4 *.mov *.mkv *.webm *.avi *.m4v);;All files (*.*)"


def _on_background_type(props, data) -> bool:
    t = data.get_string("background_type")
    props.set_visible("background_image", t == "image")
    props.set_visible("background_video", t == "video")
    props.set_visible("background_fit", t in ("image", "video"))
    props.set_visible("blur_strength", t == "blur")
    props.set_visible("background_color", t == "color")
    return True


def _on_model(props, data) -> bool:
    props.set_visible("model_path", data.get_string("model") == "custom")
    return True


def _on_capture(filt) -> None:
    filt.capture_background()


def build_properties(props, filt) -> None:
    """Fill a libobs.Properties (or a fake) with the filter's controls."""
    p = props.add_list("background_type", "Background", [("Image", "image"), ("Video (loops)", "video"),
                                                         ("Blur of the real background", "blur"),
                                                         ("Solid colour", "color"),
                                                         ("Transparent (stack over other sources)",
                                                          "transparent")])
    props.on_modified(p, _on_background_type)
    props.add_path("background_image", "Background image", IMAGE_FILTER)
    props.add_path("background_video", "Background video", VIDEO_FILTER)
    props.add_list("background_fit", "Fit", [("Cover (crop to fill)", "cover"), ("Contain (letterbox)", "contain"),
                                             ("Stretch", "stretch")])
    props.add_float("blur_strength", "Blur strength", 0.0, 1.0, 0.01)
    props.add_color("background_color", "Background colour")
    p = props.add_list("model", "Model", [("General (256×256, close-ups)", "general"),
                                          ("Landscape (144×256, faster)", "landscape"),
                                          ("Custom .onnx file", "custom")])
    props.on_modified(p, _on_model)
    props.set_tooltip(props.add_path("model_path", "Custom model", "ONNX model (*.onnx);;All files (*.*)"),
                      "Any ONNX model with one RGB image input (values 0–1, NCHW or NHWC; a dynamic size runs at "
                      "256 px on the short side) and a person matte output: 1 channel (probability, or logits → "
                      "sigmoid) or 2 channels (background, person; logits → softmax). RVM-style recurrent models "
                      "(src, r1i…r4i, downsample_ratio → pha, r1o…r4o) keep their state from frame to frame and "
                      "always see the whole frame (no ROI crop). Details: models/MODEL_CARD.md")
    props.add_list("device", "Inference device", [("Auto (best available)", "auto"), ("DirectML (Windows)", "dml"),
                                                  ("CUDA (NVIDIA)", "cuda"), ("CoreML (macOS)", "coreml"),
                                                  ("CPU", "cpu")])
    props.add_list("compositing", "Compositing", [("GPU shader (fast)", "gpu"), ("CPU (reference)", "cpu")])
    p = props.add_list("timing", "Timing", [("Synchronised: the picture waits for its matte", "sync"),
                                            ("Lowest latency: the matte may trail movement", "latency")])
    props.set_tooltip(p, "Synchronised delays the picture by the matte's latency (shown below; give the audio "
                         "the same Sync Offset). Lowest latency shows the newest picture with the newest matte, "
                         "which shows a ghost of the old room along the edge when you move.")
    p = props.add_float("smooth_alpha", "Tracking smoothing α (1 = none)", 0.01, 1.0, 0.01)
    props.set_tooltip(p, "Weight of the newest person box; lower = steadier crop, slower to follow")
    p = props.add_float("smooth_beta", "Tracking trend β", 0.0, 1.0, 0.01)
    props.set_tooltip(p, "How quickly the crop learns the person's motion")
    props.add_float("roi_margin", "ROI margin (fraction of the person box)", 0.0, 1.0, 0.01)
    props.add_float("min_area", "Minimum blob area (fraction of the frame)", 0.0, 0.1, 0.001)
    props.add_bool("keep_largest", "Keep the largest person only")
    p = props.add_float("temporal_strength", "Temporal strength (0 = off)", 0.0, 0.95, 0.01)
    props.set_tooltip(p, "How much still pixels follow the previous frames (less flicker)")
    p = props.add_list("adaptive_rate", "Adaptive rate", [("Balanced", "balanced"), ("Saver (less CPU)", "saver"),
                                                          ("Off (model on every frame)", "off")])
    props.set_tooltip(p, "Skip the model while nothing moves at your outline; it runs at once when you move")
    p = props.add_float("edge_detail", "Edge detail (0 = soft)", 0.0, 1.0, 0.01)
    props.set_tooltip(p, "How closely the matte's edge follows the picture's edges (hair, shoulders)")
    p = props.add_bool("halo_removal", "Halo removal")
    props.set_tooltip(p, "Removes the old room's colour from the soft edge")
    p = props.add_float("light_wrap", "Light wrap", 0.0, 1.0, 0.01)
    props.set_tooltip(p, "Spills a little of the new background onto the edge")
    p = props.add_button("capture_background", "Capture background (step out of the picture first)",
                         _on_capture, getattr(filt, "key", None))
    props.set_tooltip(p, "Averages about a second of the empty room into a plate: around you the matte is then "
                         "solved from the colours (hair-level edges). For a camera that does not move. "
                         "Costs CPU while it is active (about 3x the matte's time at 720p, 4x at 1080p, on 2 cores): "
                         "watch the worker fps in the status line.")
    p = props.add_bool("known_background", "Static camera: learn the room")
    props.set_tooltip(p, "Learns the room from what is seen behind you over time (no capture needed); "
                         "switches itself off when the camera or the light changes. Costs CPU once active "
                         "(see Capture background)")
    p = props.add_path("background_plate", "Background plate (saved by Capture)", IMAGE_FILTER)
    props.set_tooltip(p, "Picture of the empty room from this camera; Capture background fills it in")
    text = filt.stats_text() if filt is not None else "Not running"
    props.add_info("stats", text, error=text.startswith("Error"))
