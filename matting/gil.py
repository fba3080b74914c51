"""numba kernels in two builds: one holds Python's GIL while it runs, one releases it.

With two threads the pipeline runs independent parts of a frame at once, one of them on
a helper thread (:meth:`matting.pipeline.Pipeline._helper`): the kernels on both threads
must then release the GIL, or each waits for the other (refine +0.25, +0.27 ms at
1080p with the guided filter's kernels holding it, tools/ab_checkouts.py). Without a
helper (the OBS worker, one thread) they hold it, as they always did: OBS's render thread
runs Python too, and each of its libobs calls (ctypes releases the GIL and takes it back)
could lose the GIL to a worker that releases and retakes it around every kernel. In OBS
(tools/obs_bench.py, 720p30, synchronised, GPU path) the render took 1.12–3.36 ms, median
2.50, over 15 runs with the worker's kernels releasing the GIL, against 1.07–2.03, median
1.57, over 11 runs of the code before (docs/OBS.md).
"""

from __future__ import annotations

import types

from numba import njit


def kernel(**options):
    """``@kernel(cache=True, ...)``: ``njit(**options)``, with the build that releases the
    GIL as the kernel's ``nogil`` attribute (compiled on its first call; its own numba
    cache files, because numba's cache does not tell the two builds apart)."""

    def build(fn):
        twin = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_nogil", fn.__defaults__,
                                  fn.__closure__)
        twin.__qualname__ = fn.__qualname__ + "_nogil"  # names the cache files
        twin.__doc__, twin.__module__ = fn.__doc__, fn.__module__
        held = njit(**options)(fn)
        held.nogil = njit(nogil=True, **options)(twin)
        return held

    return build
