"""The GPU side of one filter: frames between the GPU and numpy inside ``video_render``.

Render the filter's target into a texrender, scale it, stage and map it (readback),
upload numpy arrays as textures, draw with OBS's default effect or with the mask-blend
effect below. Every call runs on OBS's graphics thread.
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, byref, c_char_p, c_float, c_uint8, c_uint32

import numpy as np

from .libobs import (GS_BLEND_ONE, GS_BLEND_ZERO, GS_CLEAR_COLOR, GS_DYNAMIC, GS_R8, GS_RGBA, GS_ZS_NONE,
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
# out = α·image + (1−α)·background, in straight alpha like any OBS texture.
BLEND_EFFECT = b"""
uniform float4x4 ViewProj;
uniform texture2d image;
uniform texture2d mask;
uniform texture2d bg;
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

float4 PSColor(VertData v) : TARGET
{
    float4 c = image.Sample(point_clamp, v.uv);
    float a = mask.Sample(linear_clamp, v.uv).r;
    return float4(lerp(bg_color.rgb, c.rgb, a), lerp(1.0, c.a, a));
}

float4 PSImage(VertData v) : TARGET
{
    float4 c = image.Sample(point_clamp, v.uv);
    float4 b = bg.Sample(point_clamp, v.uv);
    float a = mask.Sample(linear_clamp, v.uv).r;
    return float4(lerp(b.rgb, c.rgb, a), lerp(b.a, c.a, a));
}

float4 PSTransparent(VertData v) : TARGET
{
    float4 c = image.Sample(point_clamp, v.uv);
    float a = mask.Sample(linear_clamp, v.uv).r;
    return float4(c.rgb, a);
}

technique Color { pass { vertex_shader = VSDefault(v); pixel_shader = PSColor(v); } }
technique Image { pass { vertex_shader = VSDefault(v); pixel_shader = PSImage(v); } }
technique Transparent { pass { vertex_shader = VSDefault(v); pixel_shader = PSTransparent(v); } }
"""


class Graphics:
    """GPU objects of one filter instance. Every method runs on the graphics thread
    (inside video_render) except :meth:`destroy`, which enters the graphics context."""

    def __init__(self):
        self.lib = lib()
        self._texrenders = {}  # purpose → texrender
        self._stages = {}  # (w, h) → stage surface
        self._textures = {}  # purpose → (texture, w, h, format)
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

    def _texture(self, purpose, w, h, fmt):
        cur = self._textures.get(purpose)
        if cur is not None and cur[1:] == (w, h, fmt):
            return cur[0]
        if cur is not None:
            self.lib.gs_texture_destroy(cur[0])
        tex = self.lib.gs_texture_create(w, h, fmt, 1, None, GS_DYNAMIC)
        self._textures[purpose] = (tex, w, h, fmt)
        return tex

    def effect(self):
        if self._effect is None:
            err = c_char_p()
            eff = self.lib.gs_effect_create(BLEND_EFFECT, b"obs_bg_replace_blend.effect", byref(err))
            if not eff:
                msg = err.value.decode(errors="replace") if err.value else "unknown error"
                raise RuntimeError(f"the blend shader does not compile: {msg}")
            self._effect = eff
            for name in (b"image", b"mask", b"bg", b"bg_color"):
                self._params[name] = self.lib.gs_effect_get_param_by_name(eff, name)
        return self._effect

    def destroy(self, enter: bool = True) -> None:
        """Free every GPU object (idempotent)."""
        if not (self._texrenders or self._stages or self._textures or self._effect):
            return
        if enter:
            self.lib.obs_enter_graphics()
        try:
            for tr in self._texrenders.values():
                self.lib.gs_texrender_destroy(tr)
            for st in self._stages.values():
                self.lib.gs_stagesurface_destroy(st)
            for tex, *_ in self._textures.values():
                self.lib.gs_texture_destroy(tex)
            if self._effect:
                self.lib.gs_effect_destroy(self._effect)
        finally:
            if enter:
                self.lib.obs_leave_graphics()
        self._texrenders, self._stages, self._textures = {}, {}, {}
        self._effect, self._params = None, {}

    # frames
    def capture(self, filter_source: FilterSource, width: int, height: int):
        """Render the filter's target at its own size into a texture (or None)."""
        lb = self.lib
        target = lb.obs_filter_get_target(filter_source.ptr)
        parent = lb.obs_filter_get_parent(filter_source.ptr)
        if not target or not parent:
            return None
        flags = lb.obs_source_get_output_flags(target)

        def render():
            # The same choice obs_source_process_filter_begin makes; the wrong one renders
            # blank and floods the log with "invalid param".
            if target == parent and not flags & (OBS_SOURCE_CUSTOM_DRAW | OBS_SOURCE_ASYNC):
                lb.obs_source_default_render(target)
            else:
                lb.obs_source_video_render(target)

        return self._render_to("full", width, height, width, height, render)

    def scaled(self, texture, width: int, height: int, out_w: int, out_h: int):
        """``texture`` (width×height) drawn at out_w×out_h (bilinear) into a texture."""
        return self._render_to("small", width, height, out_w, out_h, lambda: self.draw(texture, width, height))

    def _render_to(self, name: str, width: int, height: int, out_w: int, out_h: int, render):
        """Run ``render()`` (drawing in width×height coordinates) into the texrender
        ``name`` of out_w×out_h, cleared, without blending; its texture, or None."""
        lb = self.lib
        tr = self._texrender(name)
        lb.gs_texrender_reset(tr)
        if not lb.gs_texrender_begin(tr, out_w, out_h):
            return None
        try:
            lb.gs_clear(GS_CLEAR_COLOR, self._clear.set(0, 0, 0, 0), 0.0, 0)
            lb.gs_ortho(0.0, float(width), 0.0, float(height), -100.0, 100.0)
            lb.gs_blend_state_push()
            lb.gs_blend_function(GS_BLEND_ONE, GS_BLEND_ZERO)
            render()
            lb.gs_blend_state_pop()
        finally:
            lb.gs_texrender_end(tr)
        return lb.gs_texrender_get_texture(tr)

    def read(self, texture, width: int, height: int) -> np.ndarray | None:
        """Copy an RGBA texture to a new uint8 height×width×4 array (or None)."""
        lb = self.lib
        stage = self._stages.get((width, height))
        if stage is None:
            for s in self._stages.values():  # one size at a time per purpose is enough
                lb.gs_stagesurface_destroy(s)
            self._stages = {}
            stage = lb.gs_stagesurface_create(width, height, GS_RGBA)
            self._stages[(width, height)] = stage
        lb.gs_stage_texture(stage, texture)
        ptr, linesize = POINTER(c_uint8)(), c_uint32()
        if not lb.gs_stagesurface_map(stage, byref(ptr), byref(linesize)):
            return None
        try:
            pitch = int(linesize.value)  # rows may be padded
            buf = (c_uint8 * (pitch * height)).from_address(ctypes.addressof(ptr.contents))
            rows = np.frombuffer(buf, np.uint8).reshape(height, pitch)
            return rows[:, : width * 4].reshape(height, width, 4).copy()
        finally:
            lb.gs_stagesurface_unmap(stage)

    def upload(self, purpose: str, array: np.ndarray):
        """A dynamic texture holding ``array`` (uint8 HxW → R8, HxWx4 → RGBA)."""
        h, w = array.shape[:2]
        fmt = GS_R8 if array.ndim == 2 else GS_RGBA
        tex = self._texture(purpose, w, h, fmt)
        a = np.ascontiguousarray(array)
        self.lib.gs_texture_set_image(tex, a.ctypes.data, a.strides[0], False)
        return tex

    def draw(self, texture, width: int, height: int) -> None:
        """Draw a texture with OBS's default effect (a plain copy)."""
        lb = self.lib
        eff = lb.obs_get_base_effect(OBS_EFFECT_DEFAULT)
        lb.gs_effect_set_texture(lb.gs_effect_get_param_by_name(eff, b"image"), texture)
        while lb.gs_effect_loop(eff, b"Draw"):
            lb.gs_draw_sprite(texture, 0, width, height)

    def draw_blend(self, image, mask, width: int, height: int, colour=None, background=None) -> None:
        """Blend ``image`` over a colour (r, g, b in 0..1), a background texture, or
        nothing (transparent: the mask becomes the alpha), using the R8 ``mask``."""
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
        while lb.gs_effect_loop(eff, tech):
            lb.gs_draw_sprite(image, 0, width, height)
