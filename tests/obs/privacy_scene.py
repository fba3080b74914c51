"""A camera picture whose room is known pixel by pixel, and how much of it a screenshot shows.

Used by tests/obs/test_obs_privacy.py and tools/obs_first_matte.py. The picture is the
astronaut (cut out with this project's own matte, person_clip) standing in the generated
room, which is given a fine random texture: a blur, a colour or another picture then
matches the room's pixels only by chance, so a screenshot pixel that equals the room's
pixel is the room itself. The *known background* is the room farther than
:data:`MARGIN` pixels from the person (the matte's soft edge may show a few pixels of
the room next to the person: that is the edge, not the room).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

import person_clip

MARGIN = 24  # px around the person left out of the known background (at 640x360)
TOL = 6  # levels: a pixel within TOL of the room's on every channel shows the room
BLUE = 0xFFFF0000  # OBS colours are 0xAABBGGRR


@dataclass
class Scene:
    frame: np.ndarray  # RGB h×w: what the camera shows
    known_bg: np.ndarray  # bool: surely room
    person: np.ndarray  # bool: surely person (eroded)


def camera(w: int, h: int, seed: int = 0) -> Scene:
    """The person in the textured room at w×h (the person's height is the frame's)."""
    rng = np.random.default_rng(seed)
    room = person_clip.room(w, h).astype(np.int16)
    noise = rng.integers(-45, 46, (h // 3 + 1, w // 3 + 1, 3)).astype(np.int16)
    room = (room + np.repeat(np.repeat(noise, 3, 0), 3, 1)[:h, :w]).clip(0, 255).astype(np.uint8)
    cut, alpha = person_clip._cutout(h)
    x = (w - h) // 2
    frame = person_clip.compose(room, cut, alpha, x, 0)
    where = np.zeros((h, w), np.uint8)
    where[:, x:x + h] = (alpha > 0.02).astype(np.uint8)
    m = max(3, round(MARGIN * w / 640))
    near = cv2.dilate(where, np.ones((2 * m + 1, 2 * m + 1), np.uint8)).astype(bool)
    core = np.zeros((h, w), np.uint8)
    core[:, x:x + h] = (alpha > 0.98).astype(np.uint8)
    core = cv2.erode(core, np.ones((2 * m + 1, 2 * m + 1), np.uint8)).astype(bool)
    return Scene(frame, ~near, core)


def shows(shot: np.ndarray, picture: np.ndarray) -> np.ndarray:
    """Pixels of an RGBA screenshot that show `picture` (RGB): opaque and within TOL."""
    d = np.abs(shot[:, :, :3].astype(np.int16) - picture.astype(np.int16)).max(axis=2)
    return (d <= TOL) & (shot[:, :, 3] >= 128)


def room_share(shot: np.ndarray, scene: Scene) -> float:
    """Share of the known background where the screenshot shows the room's own pixels."""
    if shot.shape[:2] != scene.frame.shape[:2]:
        raise ValueError(f"screenshot {shot.shape[:2]} for a scene of {scene.frame.shape[:2]}")
    return float(shows(shot, scene.frame)[scene.known_bg].mean())


def person_share(shot: np.ndarray, scene: Scene) -> float:
    """Share of the person's core that the screenshot shows as it is."""
    return float(shows(shot, scene.frame)[scene.person].mean())


def is_composite(shot: np.ndarray, scene: Scene, background_rgb=None) -> bool:
    """A matte at work: the person shown, the room not, and (if given) the background
    colour behind. Before the first matte the filter shows either the raw frame (room
    shown) or the background alone (person not shown): neither passes."""
    if shot.shape[:2] != scene.frame.shape[:2]:
        return False
    if person_share(shot, scene) < 0.9 or room_share(shot, scene) > 0.01:
        return False
    if background_rgb is None:
        return True
    d = np.abs(shot[:, :, :3].astype(np.int16) - np.array(background_rgb, np.int16)).max(axis=2)
    return float((d[scene.known_bg] <= TOL).mean()) >= 0.95
