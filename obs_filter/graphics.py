"""The GPU side of one filter: frames between the GPU and numpy inside ``video_render``.

Render the filter's target into a texrender (one per slot of the frame ring, so earlier
frames stay on the GPU), scale it, read it back through a ring of staging surfaces,
upload numpy arrays as textures, draw with OBS's default effect or with the mask-blend
effect below. Every call runs on OBS's graphics thread.

Readback never waits (the way libobs/obs-video.c reads OBS's own output): staging is a
copy the GPU does later, mapping waits for it, so a surface is mapped only on a frame
after the one that staged it, and the texture staged is one rendered on an earlier frame
too (a software renderer copies on the CPU when staging and would first wait for the
render to finish).

Nothing rendered in a frame is sampled in the same frame, and no texture is overwritten
soon after a draw sampled it: measured in OBS with software GL (llvmpipe), either made
the render thread wait for the rasteriser, 10-15 ms a frame at 720p. So the small frame
for the worker is rendered straight from the source (not scaled from the captured
frame), the current frame is drawn straight from the source with the matte blended over
it (:meth:`Graphics.draw_source`, :meth:`Graphics.draw_over`), and each upload creates
a new texture. OBS's own effect filters avoid the same wait by drawing a still source
directly (``OBS_ALLOW_DIRECT_RENDERING``).
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, byref, c_char_p, c_float, c_uint8, c_uint32

import numpy as np

from .libobs import (GS_BLEND_INVSRCALPHA, GS_BLEND_ONE, GS_BLEND_OP_ADD, GS_BLEND_OP_REVERSE_SUBTRACT,
                     GS_BLEND_SRCALPHA, GS_BLEND_ZERO, GS_CLEAR_COLOR, GS_CS_SRGB, GS_R8, GS_RGBA, GS_ZS_NONE,
                     OBS_EFFECT_DEFAULT, OBS_SOURCE_ASYNC, OBS_SOURCE_CUSTOM_DRAW, FilterSource, lib)

class _Vec4:
    """A 16-byte aligned ``struct vec4`` (libobs copies it with aligned SSE loads)."""

    def __init__(self):
        self._buf = ctypes.create_string_buffer(32)
        addr = ctypes.addressof(self._buf)
        self.addr = (addr + 15) & ~15
        self.values = (c_float * 4).from_address(self.addr)

    def set(self, x, y, z, w):
        self.values[:] = (x, y, z, w)
        return self.addr


# The GPU compositing path: α from an 8-bit mask (bilinear, like the CPU path's upsample),
# out = α·image + (1−α)·background, in straight alpha like any OBS texture. The background
# is sampled bilinearly: a frame-sized picture exactly, a smaller one (a video frame at
# the matte's size, the blur at 1/8) upsampled as the CPU path's OpenCV resize does.
#
# The edge options (the *Edge techniques) read one more matte-sized RGBA texture, ``edge``:
# its rgb is the halo correction ``F − I`` (the estimated foreground colour minus the
# frame, at the matte's size) stored as ``(F − I)/2 + 128``, so the full-size foreground is
# ``F = I + up(F_small − I_small)``, used inside the soft edge only (α < 1, as the CPU
# kernel does); its a is the light-wrap gain k, and the picture moves by k toward ``wrap``,
# the new background blurred (small, upsampled here): ``out += k·(wrap − out)``.
BLEND_EFFECT = b"""
uniform float4x4 ViewProj;
uniform texture2d image;
uniform texture2d mask;
uniform texture2d bg;
uniform texture2d edge;
uniform texture2d wrap;
uniform float4 bg_color;

sampler_state point_clamp { Filter = Point; AddressU = Clamp; AddressV = Clamp; };
sampler_state linear_clamp { Filter = Linear; AddressU = Clamp; AddressV = Clamp; };

struct VertData { float4 pos : POSITION; float2 uv : TEXCOORD0; };

VertData VSDefault(VertData v)
{
    VertData o;
    o.pos = mul(float4(v.pos.xyz, 1.0), ViewProj);
    o.uv = v.uv;
    return o;
}

// F - I inside the soft edge (0 where the matte is 1: the frame's own colour there)
float3 HaloShift(float4 e, float a)
{
    return step(a, 0.9995) * (e.rgb - 0.5019608) * 2.0;
}

float4 PSColor(VertData v) : TARGET
{
    float4 c = image.Sample(point_clamp, v.uv);
    float a = mask.Sample(linear_clamp, v.uv).r;
    return float4(lerp(bg_color.rgb, c.rgb, a), lerp(1.0, c.a, a));
}

float4 PSImage(VertData v) : TARGET
{
    float4 c = image.Sample(point_clamp, v.uv);
    float4 b = bg.Sample(linear_clamp, v.uv);
    float a = mask.Sample(linear_clamp, v.uv).r;
    return float4(lerp(b.rgb, c.rgb, a), lerp(b.a, c.a, a));
}

float4 PSColorEdge(VertData v) : TARGET
{
    float4 c = image.Sample(point_clamp, v.uv);
    float a = mask.Sample(linear_clamp, v.uv).r;
    float4 e = edge.Sample(linear_clamp, v.uv);
    float3 f = saturate(c.rgb + HaloShift(e, a));
    float3 o = lerp(bg_color.rgb, f, a);
    return float4(lerp(o, bg_color.rgb, e.a), lerp(1.0, c.a, a));
}

float4 PSImageEdge(VertData v) : TARGET
{
    float4 c = image.Sample(point_clamp, v.uv);
    float4 b = bg.Sample(linear_clamp, v.uv);
    float a = mask.Sample(linear_clamp, v.uv).r;
    float4 e = edge.Sample(linear_clamp, v.uv);
    float3 f = saturate(c.rgb + HaloShift(e, a));
    float3 o = lerp(b.rgb, f, a);
    return float4(lerp(o, wrap.Sample(linear_clamp, v.uv).rgb, e.a), lerp(b.a, c.a, a));
}

float4 PSTransparent(VertData v) : TARGET
{
    float4 c = image.Sample(point_clamp, v.uv);
    float a = mask.Sample(linear_clamp, v.uv).r;
    return float4(c.rgb, a);
}

// The background over a frame already drawn, by a blend state that keeps a of it:
// (B.rgb, a) with colour factors (1 - a, a) gives a*I + (1 - a)*B.
float4 PSOverColor(VertData v) : TARGET
{
    return float4(bg_color.rgb, mask.Sample(linear_clamp, v.uv).r);
}

float4 PSOverImage(VertData v) : TARGET
{
    return float4(bg.Sample(linear_clamp, v.uv).rgb, mask.Sample(linear_clamp, v.uv).r);
}

// With light wrap, premultiplied for colour factors (1, s): out = C + s*I with
// s = (1 - k)*a and C = (1 - k)*(1 - a)*B + k*W, i.e. lerp(a*I + (1 - a)*B, W, k).
float4 PSOverColorEdge(VertData v) : TARGET
{
    float a = mask.Sample(linear_clamp, v.uv).r;
    float k = edge.Sample(linear_clamp, v.uv).a;
    return float4((1.0 - k) * (1.0 - a) * bg_color.rgb + k * bg_color.rgb, (1.0 - k) * a);
}

float4 PSOverImageEdge(VertData v) : TARGET
{
    float a = mask.Sample(linear_clamp, v.uv).r;
    float k = edge.Sample(linear_clamp, v.uv).a;
    float3 b = bg.Sample(linear_clamp, v.uv).rgb;
    return float4((1.0 - k) * (1.0 - a) * b + k * wrap.Sample(linear_clamp, v.uv).rgb, (1.0 - k) * a);
}

// Halo removal over a frame already drawn: the term (1 - k)*a*(F - I), its positive part
// added and its negative part subtracted (two passes: a blend cannot add a signed value).
float3 HaloTerm(VertData v)
{
    float a = mask.Sample(linear_clamp, v.uv).r;
    float4 e = edge.Sample(linear_clamp, v.uv);
    return (1.0 - e.a) * a * HaloShift(e, a);
}

float4 PSHaloAdd(VertData v) : TARGET
{
    return float4(max(HaloTerm(v), 0.0), 0.0);
}

float4 PSHaloSub(VertData v) : TARGET
{
    return float4(max(-HaloTerm(v), 0.0), 0.0);
}

technique Color { pass { vertex_shader = VSDefault(v); pixel_shader = PSColor(v); } }
technique ColorEdge { pass { vertex_shader = VSDefault(v); pixel_shader = PSColorEdge(v); } }
technique OverColor { pass { vertex_shader = VSDefault(v); pixel_shader = PSOverColor(v); } }
technique OverColorEdge { pass { vertex_shader = VSDefault(v); pixel_shader = PSOverColorEdge(v); } }
technique OverImage { pass { vertex_shader = VSDefault(v); pixel_shader = PSOverImage(v); } }
technique OverImageEdge { pass { vertex_shader = VSDefault(v); pixel_shader = PSOverImageEdge(v); } }
technique HaloAdd { pass { vertex_shader = VSDefault(v); pixel_shader = PSHaloAdd(v); } }
technique HaloSub { pass { vertex_shader = VSDefault(v); pixel_shader = PSHaloSub(v); } }
technique Image { pass { vertex_shader = VSDefault(v); pixel_shader = PSImage(v); } }
technique ImageEdge { pass { vertex_shader = VSDefault(v); pixel_shader = PSImageEdge(v); } }
technique Transparent { pass { vertex_shader = VSDefault(v); pixel_shader = PSTransparent(v); } }
"""


class Graphics:
    """GPU objects of one filter instance. Every method runs on the graphics thread
    (inside video_render) except :meth:`destroy`, which enters the graphics context."""

    def __init__(self):
        self.lib = lib()
        self._texrenders = {}  # purpose → texrender
        self.readback = ReadbackRing(self.lib)
        self._textures = {}  # name → texture (uploads: purpose + turn)
        self._turns = {}  # purpose → uploads so far
        self._effect = None
        self._params = {}
        self._clear = _Vec4()
        self._colour = _Vec4()

    # resources
    def _texrender(self, purpose):
        tr = self._texrenders.get(purpose)
        if tr is None:
            tr = self.lib.gs_texrender_create(GS_RGBA, GS_ZS_NONE)
            self._texrenders[purpose] = tr
        return tr

    def effect(self):
        if self._effect is None:
            err = c_char_p()
            eff = self.lib.gs_effect_create(BLEND_EFFECT, b"obs_bg_replace_blend.effect", byref(err))
            if not eff:
                msg = err.value.decode(errors="replace") if err.value else "unknown error"
                raise RuntimeError(f"the blend shader does not compile: {msg}")
            self._effect = eff
            for name in (b"image", b"mask", b"bg", b"edge", b"wrap", b"bg_color"):
                self._params[name] = self.lib.gs_effect_get_param_by_name(eff, name)
        return self._effect

    def destroy(self, enter: bool = True) -> None:
        """Free every GPU object (idempotent)."""
        if not (self._texrenders or self.readback.surfaces or self._textures or self._effect):
            return
        if enter:
            self.lib.obs_enter_graphics()
        try:
            for tr in self._texrenders.values():
                self.lib.gs_texrender_destroy(tr)
            self.readback.destroy()
            for tex in self._textures.values():
                self.lib.gs_texture_destroy(tex)
            if self._effect:
                self.lib.gs_effect_destroy(self._effect)
        finally:
            if enter:
                self.lib.obs_leave_graphics()
        self._texrenders, self._textures = {}, {}
        self._effect, self._params = None, {}

    def obs_timing(self):
        """OBS's render thread: (frames it missed so far, its average frame time in ms,
        the frame interval in s)."""
        lb = self.lib
        return (int(lb.obs_get_lagged_frames()), lb.obs_get_average_frame_time_ns() / 1e6,
                lb.obs_get_frame_interval_ns() / 1e9)

    # frames
    def drop_slots(self, prefix: str, keep: int) -> None:
        """Free the texrenders ``prefix<i>`` for i ≥ keep (the frame ring shrank)."""
        for name in [n for n in self._texrenders if n.startswith(prefix) and int(n[len(prefix):]) >= keep]:
            self.lib.gs_texrender_destroy(self._texrenders.pop(name))

    def capture(self, filter_source: FilterSource, width: int, height: int, slot: int = 0):
        """Render the filter's target at its own size into the texture of frame-ring slot
        ``slot`` (or None). It stays valid until that slot is captured again."""
        return self._render_to(f"frame{slot}", width, height, width, height,
                               lambda: self.draw_source(filter_source))

    def capture_scaled(self, filter_source: FilterSource, width: int, height: int, out_w: int, out_h: int,
                       slot: int = 0):
        """Render the filter's target (width×height) straight at out_w×out_h (the GPU
        scales while drawing) into slot ``slot`` of the small ring, or None."""
        return self._render_to(f"small{slot}", width, height, out_w, out_h,
                               lambda: self.draw_source(filter_source))

    def draw_source(self, filter_source: FilterSource) -> bool:
        """Draw the filter's target as it is, straight into the current render target
        (the current frame without sampling a texture rendered in this frame). False if
        there is no target."""
        lb = self.lib
        target = lb.obs_filter_get_target(filter_source.ptr)
        parent = lb.obs_filter_get_parent(filter_source.ptr)
        if not target or not parent:
            return False
        # The same choice obs_source_process_filter_begin makes; the wrong one renders
        # blank and floods the log with "invalid param".
        flags = lb.obs_source_get_output_flags(target)
        if target == parent and not flags & (OBS_SOURCE_CUSTOM_DRAW | OBS_SOURCE_ASYNC):
            lb.obs_source_default_render(target)
        else:
            lb.obs_source_video_render(target)
        return True

    def _render_to(self, name: str, width: int, height: int, out_w: int, out_h: int, render):
        """Run ``render()`` (drawing in width×height coordinates; False if it had nothing
        to draw) into the texrender ``name`` of out_w×out_h, cleared, without blending;
        its texture, or None."""
        lb = self.lib
        tr = self._texrender(name)
        lb.gs_texrender_reset(tr)
        if not lb.gs_texrender_begin_with_color_space(tr, out_w, out_h, GS_CS_SRGB):
            return None
        try:
            lb.gs_clear(GS_CLEAR_COLOR, self._clear.set(0, 0, 0, 0), 0.0, 0)
            lb.gs_ortho(0.0, float(width), 0.0, float(height), -100.0, 100.0)
            lb.gs_blend_state_push()
            lb.gs_blend_function(GS_BLEND_ONE, GS_BLEND_ZERO)
            drawn = render()
            lb.gs_blend_state_pop()
        finally:
            lb.gs_texrender_end(tr)
        return lb.gs_texrender_get_texture(tr) if drawn else None

    def stage(self, texture, width: int, height: int, tag) -> None:
        """Start copying an RGBA texture (rendered on an earlier frame) for
        :meth:`read_staged` on a later frame."""
        self.readback.stage(texture, width, height, tag)

    def read_staged(self):
        """(tag, uint8 h×w×4 array) of the oldest copy staged on an earlier frame, or None."""
        return self.readback.read()

    def next_frame(self) -> None:
        """A new OBS frame begins: copies staged so far may be mapped now."""
        self.readback.next_frame()

    def readback_clear(self) -> None:
        """Forget the copies not read yet."""
        self.readback.clear()

    def upload(self, purpose: str, array: np.ndarray, keep: int = 3):
        """A new texture holding ``array`` (uint8 HxW → R8, HxWx4 → RGBA). Each upload
        creates its texture with the data (new storage: nothing to wait for), and the
        texture of ``keep`` uploads ago is freed. Rewriting one dynamic texture made a
        software renderer wait 2-6 ms a frame for the draws still reading it."""
        h, w = array.shape[:2]
        fmt = GS_R8 if array.ndim == 2 else GS_RGBA
        turn = self._turns.get(purpose, -1) + 1
        self._turns[purpose] = turn
        name = f"{purpose}{turn % max(1, keep)}"
        old = self._textures.pop(name, None)
        if old is not None:
            self.lib.gs_texture_destroy(old)
        a = np.ascontiguousarray(array)
        levels = (ctypes.c_void_p * 1)(a.ctypes.data)
        tex = self.lib.gs_texture_create(w, h, fmt, 1, ctypes.addressof(levels), 0)
        if tex:
            self._textures[name] = tex
        return tex

    def draw(self, texture, width: int, height: int) -> None:
        """Draw a texture with OBS's default effect (a plain copy of its sRGB values)."""
        lb = self.lib
        eff = lb.obs_get_base_effect(OBS_EFFECT_DEFAULT)
        lb.gs_effect_set_texture(lb.gs_effect_get_param_by_name(eff, b"image"), texture)
        previous = lb.gs_framebuffer_srgb_enabled()
        lb.gs_enable_framebuffer_srgb(False)
        try:
            while lb.gs_effect_loop(eff, b"Draw"):
                lb.gs_draw_sprite(texture, 0, width, height)
        finally:
            lb.gs_enable_framebuffer_srgb(previous)

    def draw_blend(self, image, mask, width: int, height: int, colour=None, background=None, edge=None,
                   wrap=None) -> None:
        """Blend ``image`` over a colour (r, g, b in 0..1), a background texture, or
        nothing (transparent: the mask becomes the alpha), using the R8 ``mask``; with
        ``edge`` (the matte-sized halo / light-wrap texture, see BLEND_EFFECT) and ``wrap``
        (the blurred background; a colour is its own) the edge options too."""
        lb = self.lib
        eff = self.effect()
        p = self._params
        lb.gs_effect_set_texture(p[b"image"], image)
        lb.gs_effect_set_texture(p[b"mask"], mask)
        if background is not None:
            lb.gs_effect_set_texture(p[b"bg"], background)
            tech = b"Image"
        elif colour is not None:
            lb.gs_effect_set_vec4(p[b"bg_color"], self._colour.set(*colour, 1.0))
            tech = b"Color"
        else:
            tech = b"Transparent"
        if edge is not None and tech != b"Transparent":
            lb.gs_effect_set_texture(p[b"edge"], edge)
            if background is not None:
                lb.gs_effect_set_texture(p[b"wrap"], wrap or background)
            tech += b"Edge"
        # Blend the sRGB-encoded values (as the CPU path does), never linearised: the same
        # picture on SDR and HDR canvases, and the same as the CPU path.
        previous = lb.gs_framebuffer_srgb_enabled()
        lb.gs_enable_framebuffer_srgb(False)
        try:
            while lb.gs_effect_loop(eff, tech):
                lb.gs_draw_sprite(image, 0, width, height)
        finally:
            lb.gs_enable_framebuffer_srgb(previous)

    def draw_over(self, mask, width: int, height: int, colour=None, background=None, edge=None, wrap=None,
                  halo: bool = False) -> None:
        """Blend a colour (r, g, b in 0..1) or a background texture over what was just
        drawn (:meth:`draw_source`), by the R8 ``mask``: out = a·drawn + (1 − a)·bg,
        the drawn alpha kept. The same sRGB-value blend as :meth:`draw_blend`, with the
        same edge options (``halo``: ``edge`` holds a halo correction: two more passes)."""
        lb = self.lib
        eff = self.effect()
        p = self._params
        lb.gs_effect_set_texture(p[b"mask"], mask)
        if background is not None:
            lb.gs_effect_set_texture(p[b"bg"], background)
            tech = b"OverImage"
        else:
            lb.gs_effect_set_vec4(p[b"bg_color"], self._colour.set(*(colour or (0.0, 0.0, 0.0)), 1.0))
            tech = b"OverColor"
        if edge is not None:
            lb.gs_effect_set_texture(p[b"edge"], edge)
            if background is not None:
                lb.gs_effect_set_texture(p[b"wrap"], wrap or background)
            passes = [(tech + b"Edge", GS_BLEND_ONE, GS_BLEND_SRCALPHA, GS_BLEND_OP_ADD)]
            if halo:
                passes += [(b"HaloAdd", GS_BLEND_ONE, GS_BLEND_ONE, GS_BLEND_OP_ADD),
                           (b"HaloSub", GS_BLEND_ONE, GS_BLEND_ONE, GS_BLEND_OP_REVERSE_SUBTRACT)]
        else:
            passes = [(tech, GS_BLEND_INVSRCALPHA, GS_BLEND_SRCALPHA, GS_BLEND_OP_ADD)]
        previous = lb.gs_framebuffer_srgb_enabled()
        lb.gs_enable_framebuffer_srgb(False)
        lb.gs_blend_state_push()
        try:
            for name, src, dst, op in passes:
                lb.gs_blend_function_separate(src, dst, GS_BLEND_ZERO, GS_BLEND_ONE)  # the drawn alpha stays
                lb.gs_blend_op(op)
                while lb.gs_effect_loop(eff, name):
                    lb.gs_draw_sprite(mask, 0, width, height)
        finally:
            lb.gs_blend_op(GS_BLEND_OP_ADD)
            lb.gs_blend_state_pop()
            lb.gs_enable_framebuffer_srgb(previous)


class ReadbackRing:
    """Staging surfaces used in turn (at least two per size): :meth:`stage` copies into a
    free one, :meth:`read` maps one staged on an earlier frame (:meth:`next_frame` marks
    the frame boundary). Mapping a surface staged in the same frame would wait for the GPU;
    this never does."""

    def __init__(self, lb, size: int = 2):
        self.lib = lb
        self.size = size
        self.surfaces = {}  # (w, h) → [surface, …]
        self._pending = []  # (surface, w, h, tag, frame staged), oldest first
        self._frame = 0
        self._size = None  # the size staged last
        self._last = None  # the surface staged last

    def next_frame(self) -> None:
        self._frame += 1

    def stage(self, texture, width: int, height: int, tag) -> None:
        self._size = (width, height)
        self._free_other_sizes()
        ring = self.surfaces.setdefault((width, height), [])
        busy = {id(p[0]) for p in self._pending}
        if self._last is not None:
            busy.add(id(self._last))  # surfaces take turns, as OBS's own copy surfaces do
        free = [s for s in ring if id(s) not in busy]
        if free:
            surf = free[0]
        elif len(ring) < self.size:
            surf = self.lib.gs_stagesurface_create(width, height, GS_RGBA)
            if not surf:
                return
            ring.append(surf)
        else:  # every surface holds an unread copy: the oldest is dropped for this one
            oldest = next(i for i, p in enumerate(self._pending) if p[1:3] == (width, height))
            surf = self._pending.pop(oldest)[0]
        self.lib.gs_stage_texture(surf, texture)
        self._last = surf
        self._pending.append((surf, width, height, tag, self._frame))

    def read(self):
        if not self._pending or self._pending[0][4] >= self._frame:
            return None  # nothing staged on an earlier frame
        surf, width, height, tag, _ = self._pending.pop(0)
        try:
            return self._map(surf, width, height, tag)
        finally:
            self._free_other_sizes()

    def _free_other_sizes(self) -> None:
        """One size at a time: surfaces of an old size go once their copies are read."""
        for size in [k for k in self.surfaces if k != self._size and not any(p[1:3] == k for p in self._pending)]:
            for surf in self.surfaces.pop(size):
                self.lib.gs_stagesurface_destroy(surf)
                if surf is self._last:
                    self._last = None

    def _map(self, surf, width, height, tag):
        lb = self.lib
        ptr, linesize = POINTER(c_uint8)(), c_uint32()
        if not lb.gs_stagesurface_map(surf, byref(ptr), byref(linesize)):
            return None
        try:
            pitch = int(linesize.value)  # rows may be padded
            buf = (c_uint8 * (pitch * height)).from_address(ctypes.addressof(ptr.contents))
            rows = np.frombuffer(buf, np.uint8).reshape(height, pitch)
            return tag, rows[:, : width * 4].reshape(height, width, 4).copy()
        finally:
            lb.gs_stagesurface_unmap(surf)

    def clear(self) -> None:
        """Forget the copies not read yet (their frames are no longer wanted)."""
        self._pending = []

    def destroy(self) -> None:
        for ring in self.surfaces.values():
            for surf in ring:
                self.lib.gs_stagesurface_destroy(surf)
        self.surfaces, self._pending, self._last = {}, [], None


class FrameRing:
    """The last few source frames on the GPU, one texrender slot each, so a frame can be
    drawn again when its matte arrives (sync mode). Bounded by :data:`MAX_FRAMES` and
    :data:`MAX_BYTES`; it grows to what the measured matte latency needs and starts
    small again after a reset (new size or path)."""

    # The previous frame is staged for readback while this one is captured, and a slot is
    # overwritten only well after it was last drawn from (a software renderer waits for
    # queued draws that read a texture before it renders into it).
    MIN_FRAMES = 3
    SLACK = 3  # frames kept beyond the newest matte's frame
    MAX_FRAMES = 30
    MAX_BYTES = 256 << 20

    def __init__(self):
        self.size_key = None  # (w, h, path) the frames belong to
        self.limit = self.MIN_FRAMES
        self._slots = {}  # slot → (seq, texture or None)

    def reset(self, gfx, key) -> None:
        gfx.drop_slots("frame", 0)
        self.size_key = key
        self.limit = self.MIN_FRAMES
        self._slots = {}

    def want(self, frames: int) -> None:
        """Keep at least ``frames`` frames (within the bounds)."""
        if self.size_key is None:
            return
        w, h = self.size_key[:2]
        cap = max(self.MIN_FRAMES, min(self.MAX_FRAMES, self.MAX_BYTES // max(1, 4 * w * h)))
        self.limit = max(self.limit, min(int(frames), cap))

    def capture(self, gfx, source, seq: int, w: int, h: int):
        """Capture frame ``seq`` into a free slot (a new one, or the oldest frame's)."""
        if len(self._slots) < self.limit:
            slot = len(self._slots)
        else:
            slot = min(self._slots, key=lambda k: self._slots[k][0])
        tex = gfx.capture(source, w, h, slot)
        self._slots[slot] = (seq, tex or None)
        return tex

    def texture(self, seq: int):
        for s, tex in self._slots.values():
            if s == seq:
                return tex
        return None

    def __len__(self) -> int:
        return len(self._slots)
