"""The evaluation lab: datasets, metrics, ``eval``, ``bench`` and ``generate``.

Kept apart from the runtime modules (``matting.pipeline`` and the stages) so that what
OBS imports never pulls in evaluation code. The command line reaches it through
``python -m matting eval|bench|generate``.
"""
