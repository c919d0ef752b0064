"""The built-in tiny grounder, ``builtin:tiny-grounder``: settings it was trained with and its files.

A tiny Qwen2.5-VL (the real transformers classes, config fields, tokenizer format and processor)
trained on CPU by ``training/train_tiny_grounder.py`` to ground coloured-square events in the
synthetic videos of :mod:`videoqa.synthetic`. It is a demo model, not a general one: it knows the
seven colours of :data:`videoqa.synthetic.PALETTE` and the question "a <colour> square appears".
Its checkpoint ships inside the package and loads through the same ``from_pretrained`` path as any
checkpoint directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["GROUNDER_MODEL", "GROUNDER_QUERY", "GROUNDER_SETTINGS", "grounder_dir"]

GROUNDER_MODEL = "builtin:tiny-grounder"

GROUNDER_QUERY = "a {color} square appears"
"""The question the grounder was trained on, about one colour (the demo's wording)."""

GROUNDER_SETTINGS: dict[str, Any] = {"min_pixels": 784, "max_pixels": 3136, "max_new_tokens": 24}
"""The :class:`~videoqa.Settings` fields the grounder was trained with, over the defaults: frames of
784 to 3,136 pixels (28 x 56 for 16:9 video, 2 visual tokens per temporal patch) and short answers.
The training script plans its data with these, so training and inference see the same frames."""


def grounder_dir() -> Path:
    """The shipped checkpoint directory (config, safetensors, tokenizer, processor)."""
    return Path(__file__).resolve().parent / "tiny_grounder"
