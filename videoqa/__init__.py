"""videoqa: ask questions of hours-long video with Qwen2.5-VL, and learn *when* things happen.

The public surface is small and imported lazily, so ``import videoqa`` is cheap and
pulls in neither torch nor transformers until a model is needed::

    import videoqa
    info = videoqa.probe("talk.mp4")
    plan = videoqa.plan_sampling(info)
    for clip in videoqa.decode("talk.mp4", plan):
        ...
    result = videoqa.analyze("talk.mp4", "When does the speaker show the chart?", task="grounding")
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    # media layer
    "probe": "videoqa.video",
    "plan_sampling": "videoqa.video",
    "decode": "videoqa.video",
    "temporal_ids": "videoqa.model",
    "smart_resize": "videoqa.video",
    "VideoInfo": "videoqa.video",
    "SamplingPlan": "videoqa.video",
    "Window": "videoqa.video",
    "Clip": "videoqa.video",
    # answers
    "Analysis": "videoqa.analysis",
    "Question": "videoqa.analysis",
    "Span": "videoqa.analysis",
    "analyze": "videoqa.core",
    "Session": "videoqa.core",
    "Settings": "videoqa.core",
    "config_hash": "videoqa.core",
    "load_model": "videoqa.model",
    # errors
    "errors": "videoqa.errors",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'videoqa' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if name == "errors" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
