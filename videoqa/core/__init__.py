"""The core: what turns a model and a video into answers.

``Session`` and ``analyze`` (:mod:`._session`), the strategies ``single`` / ``coarse_to_fine``
(:mod:`._strategies`), the visual cache (:mod:`._cache`), the prompts (:mod:`.prompts`), the
parsing of model text (:mod:`.parsing`) and the one settings model (:mod:`.settings`).
The core sits above the media layer (:mod:`videoqa.video`) and the model layer
(:mod:`videoqa.model`) and below the batch job, the evaluation and the reports. Names load lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DEFAULT_MODEL": "videoqa.core._session",
    "Session": "videoqa.core._session",
    "Settings": "videoqa.core.settings",
    "config_hash": "videoqa.core.settings",
    "analyze": "videoqa.core._session",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'videoqa.core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
