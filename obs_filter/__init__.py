"""The OBS side of Background Replace: everything but the entry points OBS calls
(those stay in ``obs_bg_replace.py`` beside this folder).

One job per module: :mod:`.paths` (the venv on ``sys.path``; imports no numpy),
:mod:`.libobs` (ctypes bindings, registration, trampolines), :mod:`.graphics` (texrender,
readback, textures, the blend shader), :mod:`.worker` (the pipeline's thread),
:mod:`.filter` (one filter's state: update, tick, render), :mod:`.properties` (the panel
and its settings), :mod:`.handler` (libobs callbacks → filter instances).
"""
