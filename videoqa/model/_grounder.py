"""``builtin:tiny-grounder``: a tiny Qwen2.5-VL trained here to ground coloured squares in time.

A demo model, not a general one: it was trained on CPU (``training/train_tiny_grounder.py``) on
synthetic videos of :mod:`videoqa.synthetic` (coloured squares shown over random intervals), with
inputs built by videoqa's own plan, decode and model-input path. It answers the cookbook grounding
prompt for "a <colour> square appears" with "The event happens in X - Y seconds." or "The event
does not occur in this video.", reading time only through the MRoPE temporal position IDs.

The checkpoint ships inside the package (``videoqa/model/tiny_grounder/``) and loads through the
same ``from_pretrained`` path as any checkpoint. It was trained on 16:9 frames of 28 x 56 pixels
(two visual tokens per temporal patch): run it with :data:`GROUNDER_SETTINGS` (the plan does not
read a checkpoint's processor sizes, so the budgets are passed as settings).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["GROUNDER_DIR", "GROUNDER_SETTINGS", "grounder_checkpoint"]

GROUNDER_DIR = Path(__file__).resolve().parent / "tiny_grounder"
"""Where the shipped checkpoint lives (package data)."""

GROUNDER_SETTINGS: dict[str, Any] = {"min_pixels": 784, "max_pixels": 3136, "max_new_tokens": 24}
"""Settings the grounder was trained with: 28 x 56 frames for 16:9 video, short answers."""


def grounder_checkpoint() -> Path:
    """The shipped checkpoint directory; raises naming the fix when the package data is missing."""
    if not (GROUNDER_DIR / "config.json").is_file() or not any(GROUNDER_DIR.glob("*.safetensors")):
        raise FileNotFoundError(
            f"{GROUNDER_DIR}: the builtin:tiny-grounder weights are not installed (package data missing); "
            "reinstall videoqa (pip install videoqa) or rebuild them with training/train_tiny_grounder.py"
        )
    return GROUNDER_DIR
