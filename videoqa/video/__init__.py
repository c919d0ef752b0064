"""The media layer: probe a file, plan dynamic-FPS sampling, decode windows with true timestamps.

Knows nothing of models (MRoPE temporal IDs live in :mod:`videoqa.model`). Every time it returns
is absolute seconds from the true pts.
"""

from videoqa.video._decode import decode
from videoqa.video._probe import probe
from videoqa.video._sampling import plan_sampling, smart_resize
from videoqa.video._types import Clip, SamplingPlan, VideoInfo, Window

__all__ = [
    "Clip",
    "SamplingPlan",
    "VideoInfo",
    "Window",
    "decode",
    "plan_sampling",
    "probe",
    "smart_resize",
]
