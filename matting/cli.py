"""Command line: ``python -m matting run|demo|eval|bench|generate|tune``.

Errors the user can fix print one line (``error: …``) and exit with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

from .errors import InputError, MattingError
from .settings import Settings

log = logging.getLogger("matting")


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per :class:`Settings` field (``--temporal-strength 0.5``, ``--no-roi``)."""
    group = parser.add_argument_group("pipeline settings")
    defaults = Settings()
    for f in dataclasses.fields(Settings):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                               help=f"(default: {default})")
        else:
            group.add_argument(flag, type=type(default), default=None, metavar=f.name.upper(),
                               help=f"(default: {default})")


def settings_from_args(args: argparse.Namespace, **overrides) -> Settings:
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(Settings)
             if getattr(args, f.name, None) is not None}
    given.update(overrides)
    return Settings(**given)


def _progress(iterable, total, enabled):
    if not enabled:
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, total=total, unit="frame", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    from .io import VIDEO_SUFFIXES, FrameSource, VideoSink, check_image_name, write_image
    from .pipeline import Pipeline

    source = FrameSource(args.input)
    settings = settings_from_args(args)
    transparent = settings.background == "transparent"
    if args.output:
        output = Path(args.output)
    else:
        suffix = "" if source.kind == "folder" else (".png" if source.kind == "image" else ".mp4")
        output = Path(f"{source.path.stem}_bg{suffix}")
    to_video = output.suffix.lower() in VIDEO_SUFFIXES
    if source.kind == "image" and (to_video or not output.suffix):
        raise InputError(f"an image input needs an image output name, got {output}")
    if source.kind == "image":
        check_image_name(output)
    if to_video and transparent:
        raise InputError("a transparent background needs PNG output: give -o a folder or a .png name")
    if source.kind != "image" and not to_video and output.suffix:
        raise InputError(f"{source.count or 'many'} frames need a video (.mp4) or a folder as output, got {output}")
    alpha_dir = Path(args.alpha_out) if args.alpha_out else None

    pipeline = Pipeline(settings)
    sink = VideoSink(output, source.fps) if to_video else None
    times = []
    progress = _progress(source, source.count, source.count != 1)
    try:
        for name, frame in progress:
            if args.independent:
                pipeline.reset()
            comp, alpha = pipeline.process(frame)
            times.append(pipeline.timings["total"])
            if sink:
                sink.write(comp)
            elif source.kind == "image":
                write_image(output if output.suffix.lower() == ".png" or not transparent
                            else output.with_suffix(".png"), comp)
            else:
                write_image(output / f"{name}.png", comp)
            if alpha_dir:
                write_image(alpha_dir / f"{name}.png", alpha)
    finally:
        if hasattr(progress, "close"):
            progress.close()  # ends the bar's line, so an error message starts its own
        if sink:
            sink.close()
    print(f"{len(times)} frame(s) → {output}  (median {np.median(times):.1f} ms/frame, {pipeline.provider})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import cv2

    from . import demo
    from .io import VideoSink, write_image
    from .pipeline import Pipeline

    out_dir = Path(args.output)
    frames = demo.clip(args.frames)
    bg_path = out_dir / "demo_background.png"
    write_image(bg_path, demo.backdrop())
    pipeline = Pipeline(settings_from_args(args, background=str(bg_path)))
    sink = VideoSink(out_dir / "demo.mp4", 30.0)
    times, mid = [], len(frames) // 2
    try:
        for i, frame in enumerate(_progress(frames, len(frames), True)):
            comp, alpha = pipeline.process(frame)
            times.append(pipeline.timings["total"])
            sink.write(comp)
            if i == mid:
                side = np.hstack([frame, cv2.cvtColor(alpha, cv2.COLOR_GRAY2BGR), comp])
                write_image(out_dir / "side_by_side.png", cv2.resize(side, None, fx=0.5, fy=0.5,
                                                                      interpolation=cv2.INTER_AREA))
    finally:
        sink.close()
    _before_after(frames[mid], bg_path, out_dir / "before_after.png")
    warm = times[5:] or times
    print(f"demo: {len(frames)} frames {frames[0].shape[1]}x{frames[0].shape[0]} on {pipeline.provider}, "
          f"median {np.median(warm):.1f} ms/frame after warm-up\n"
          f"  video:        {out_dir / 'demo.mp4'}\n  side by side: {out_dir / 'side_by_side.png'}\n"
          f"  before/after: {out_dir / 'before_after.png'}  (plain upsampling | edge refinement + halo removal)")
    return 0


def _before_after(frame: np.ndarray, background: Path, path: Path) -> None:
    """Crop around the person's head: the plain pipeline (bilinear upsampling, original
    colours in the soft edge) beside edge refinement + halo removal, enlarged 2×."""
    import cv2

    from .io import write_image
    from .pipeline import Pipeline

    tiles = []
    for changes in ({"edge_detail": 0.0, "halo_removal": False}, {}):
        p = Pipeline(background=str(background), **changes)
        for _ in range(3):  # let tracking settle on the still frame
            comp, alpha = p.process(frame)
        tiles.append(comp)
    ys, xs = np.nonzero(alpha >= 128)
    cy, cx = int(ys.min()) + 90, int(np.median(xs))
    y0, x0 = max(0, cy - 120), max(0, cx - 160)
    crops = [cv2.resize(t[y0:y0 + 240, x0:x0 + 320], None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
             for t in tiles]
    write_image(path, np.hstack([crops[0], np.full((crops[0].shape[0], 8, 3), 255, np.uint8), crops[1]]))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m matting", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log details")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="replace the background of a video, an image or a folder of images")
    run.add_argument("input", help="video file, image, or folder of images (processed as one sequence)")
    run.add_argument("-o", "--output", help="video (.mp4), image, or folder for PNG frames")
    run.add_argument("--alpha-out", metavar="DIR", help="also write each frame's matte as a PNG here")
    run.add_argument("--independent", action="store_true",
                     help="treat each image on its own (no tracking or temporal state between them)")
    add_settings_arguments(run)
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="run on an embedded clip (no files needed)")
    demo.add_argument("-o", "--output", default="demo_out", help="folder for the results (default: demo_out)")
    demo.add_argument("--frames", type=int, default=90, help="clip length (default: 90)")
    add_settings_arguments(demo)
    demo.set_defaults(func=cmd_demo)

    for name in ("evaluate", "bench", "generate", "people", "tune", "plate_demo"):
        try:
            module = __import__(f"matting.lab.{name}", fromlist=["register"])
        except ImportError:
            continue
        module.register(sub)
    return parser


@contextlib.contextmanager
def _quiet_native_stderr(enabled: bool):
    """Native libraries (libpng, OpenCV, ONNX Runtime) print their own diagnostics on
    file descriptor 2, e.g. "libpng error: Not enough image data" before our message.
    The user should see one ``error:`` line: fd 2 goes to the null device while
    Python's ``sys.stderr`` keeps the real one (--verbose keeps everything)."""
    try:
        fd = sys.stderr.fileno() if enabled else -1
    except (AttributeError, OSError, ValueError):  # stderr is not a real file (tests)
        fd = -1
    if fd < 0:
        yield
        return
    sys.stderr.flush()
    saved, devnull, old = os.dup(fd), os.open(os.devnull, os.O_WRONLY), sys.stderr
    sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding=old.encoding, errors="backslashreplace")
    os.dup2(devnull, fd)
    try:
        yield
    finally:
        sys.stderr.close()
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)
        sys.stderr = old


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with _quiet_native_stderr(not args.verbose):
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                            format="%(levelname)s: %(message)s")
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        return args.func(args)
    except MattingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the file system refused (permissions, disk full, a file where a folder goes)
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
