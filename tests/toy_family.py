"""A made-up model family, declared in one place: imported as a plugin (``$VIDEOQA_MODEL_FAMILIES``).

Nothing else in videoqa names it. Its only model is a scripted stand-in, ``builtin:scripted-toy-vl``,
with its own sampling profile (32-pixel tokens, uniform instants, 64 / 256 / 4,096-token default
budgets) and time encoding (``<t seconds>`` text), its own system prompt and hash policy.
``tests/test_model_families.py`` runs ``analyze``, ``videoqa run`` and ``videoqa eval`` through it.
"""

from __future__ import annotations

from videoqa.model.families import ModelFamily, SamplingProfile, register_family, scripted

TOY = register_family(
    ModelFamily(
        name="toy-vl",
        time_encoding="timestamp_text",
        sampling=SamplingProfile(patch_factor=32, targets="uniform", default_tokens=(64, 256, 4096)),
        builtins=(scripted("builtin:scripted-toy-vl"),),
        system_prompts={"qwen_cookbook": "You are a toy.", "lmms_eval": "You are a toy."},
    )
)
