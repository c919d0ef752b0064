"""Tiny random-weight Qwen2.5-VL / Qwen2-VL checkpoints, built on the spot.

They exist so that every code path a real checkpoint takes (``AutoConfig`` ->
model class -> ``from_pretrained`` -> ``AutoProcessor``) runs offline, in seconds,
on a CPU. Only the sizes are small: the special tokens, the chat format, the
image/video processors and the MRoPE settings (``tokens_per_second=2``,
``temporal_patch_size=2``, 14-pixel patches, 2x2 merge) are the real ones.

The tokenizer is a byte-level BPE trained here with the ``tokenizers`` library on a
small built-in corpus, wrapped in transformers' ``Qwen2Tokenizer`` (the class real
Qwen checkpoints use), so its pre-tokenisation and special-token handling are Qwen's.

``build_tiny_model(path, official=DIR)`` shrinks a real checkpoint instead: ``DIR`` holds a
released checkpoint's non-weight files (``config.json``, ``generation_config.json``,
``preprocessor_config.json``, ``chat_template.json``, ``tokenizer_config.json``; see
``tests/data/official``). Only the sizes change (:func:`shrink_official_config`); every other
field, the chat template, the processor and generation configs and the tokenizer config are the
shipped bytes, and the trained vocabulary is padded with unreachable placeholder tokens up to
151643 so the special tokens of ``tokenizer_config.json`` land on their official ids.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal, get_args

from videoqa.model._tiny_common import CHAT_TEMPLATE, SPECIAL_TOKENS, qwen25_vision_config, special_token_ids
from videoqa.model._tiny_common import save_greedy as _save_greedy
from videoqa.model._tiny_common import train_bpe as _train_bpe
from videoqa.model._tiny_common import train_tokenizer as _train_tokenizer
from videoqa.model._tiny_qwen3 import build_tiny_qwen3

__all__ = [
    "OFFICIAL_FILES",
    "TINY_BUILD_VERSION",
    "TINY_KINDS",
    "TinyKind",
    "build_tiny_model",
    "default_models_dir",
    "shrink_official_config",
]

TinyKind = Literal["qwen2.5-vl", "qwen2-vl", "qwen3-vl", "qwen3-vl-moe"]
TINY_KINDS: tuple[TinyKind, ...] = get_args(TinyKind)


def _tiny_config(kind: TinyKind, tokenizer):
    text_ids, special = special_token_ids(tokenizer)
    vocab_size = -(-len(tokenizer) // 64) * 64
    text = {
        "vocab_size": vocab_size,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 128000,
        "rms_norm_eps": 1e-6,
        "initializer_range": 0.1,
        # head_dim 16 -> 8 rotary frequencies split over (t, h, w), as [16, 24, 24] splits 64 in the 7B.
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
        **text_ids,
    }
    if kind == "qwen2.5-vl":
        from transformers import Qwen2_5_VLConfig

        vision = qwen25_vision_config(hidden_size=32, out_hidden_size=64, initializer_range=0.1)
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **special)
    from transformers import Qwen2VLConfig

    vision = {
        "depth": 2,
        "embed_dim": 32,
        "hidden_size": 64,
        "mlp_ratio": 2,
        "num_heads": 2,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "initializer_range": 0.1,
    }
    return Qwen2VLConfig(text_config=text, vision_config=vision, **special)


def _tiny_processor(kind: TinyKind, tokenizer):
    from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    image_processor = Qwen2VLImageProcessor()
    video_processor = Qwen2VLVideoProcessor()
    if kind == "qwen2.5-vl":
        from transformers import Qwen2_5_VLProcessor as processor_class
    else:
        from transformers import Qwen2VLProcessor as processor_class
    return processor_class(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )


OFFICIAL_FILES = (
    "config.json",
    "generation_config.json",
    "preprocessor_config.json",
    "chat_template.json",
    "tokenizer_config.json",
)
"""The non-weight files of a released checkpoint that ``build_tiny_model(official=...)`` needs."""
_OPTIONAL_OFFICIAL_FILES = ("video_preprocessor_config.json",)
_FIRST_SPECIAL_ID = 151643
"""Where every released Qwen2 / Qwen2.5 tokenizer puts its first special token (``<|endoftext|>``)."""

# Sizes of a shrunk official checkpoint; everything else stays as shipped.
_TEXT_SIZES = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4}
_VISION_25_SIZES = {"depth": 8, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2}
_VISION_2_SIZES = {"depth": 2, "embed_dim": 32, "num_heads": 2}


def _mrope_holders(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The rope dicts holding an ``mrope_section`` (flat 4.x layout or 5.x ``text_config``)."""
    holders = []
    for level in (config, config.get("text_config") or {}):
        for key in ("rope_scaling", "rope_parameters"):
            rope = level.get(key)
            if isinstance(rope, dict) and "mrope_section" in rope:
                holders.append(rope)
    return holders


def _scaled_section(section: list[int], half_head_dim: int) -> list[int]:
    """``section`` rescaled to sum to ``half_head_dim`` (the rotary frequencies of one head)."""
    total = sum(section)
    scaled = [max(1, s * half_head_dim // total) for s in section]
    scaled[-1] += half_head_dim - sum(scaled)
    if scaled[-1] < 1:
        raise ValueError(f"mrope_section {section} cannot be shrunk to {half_head_dim} frequencies")
    return scaled


def _mapped_blocks(indexes: list[int], *, depth: int, new_depth: int) -> list[int]:
    """Full-attention block indexes mapped onto a shallower tower at the same relative depth."""
    return sorted({max(0, round((i + 1) * new_depth / depth) - 1) for i in indexes})


def shrink_official_config(raw: dict[str, Any]) -> dict[str, Any]:
    """A released Qwen2.5-VL / Qwen2-VL ``config.json`` (as a dict) with only its sizes shrunk.

    Text: hidden 64, 2 layers, 4 heads (head dim 16), key/value heads keeping the shipped
    grouping where possible; ``mrope_section`` rescaled to the 8 rotary frequencies of the
    smaller head in the shipped proportions ([16, 24, 24] -> [2, 3, 3]). Vision (Qwen2.5-VL):
    8 blocks of width 32 with ``fullatt_block_indexes`` mapped to the same relative depth
    ([7, 15, 23, 31] of 32 -> [1, 3, 5, 7] of 8), so window and full attention both run;
    ``window_size``, ``patch_size``, ``tokens_per_second``, merge and temporal patch sizes stay.
    Vision (Qwen2-VL): 2 blocks, ``embed_dim`` 32, 2 heads, ``hidden_size`` (the merger's output)
    the text hidden size; ``mlp_ratio``, patch, merge and temporal patch sizes stay.
    The vocabulary, special-token ids and every other field are kept.
    """
    config = copy.deepcopy(raw)
    model_type = config.get("model_type")
    if model_type not in ("qwen2_5_vl", "qwen2_vl"):
        raise ValueError(f"config.json has model_type {model_type!r}; expected 'qwen2_5_vl' or 'qwen2_vl'")
    text = config.get("text_config") or config
    heads, kv_heads = int(text["num_attention_heads"]), int(text["num_key_value_heads"])
    text.update(
        _TEXT_SIZES, num_key_value_heads=max(1, _TEXT_SIZES["num_attention_heads"] // (heads // kv_heads))
    )
    head_dim = _TEXT_SIZES["hidden_size"] // _TEXT_SIZES["num_attention_heads"]
    if "head_dim" in text:
        text["head_dim"] = head_dim
    if text is not config:  # 5.x layout: keep the top-level copies in step
        for key in _TEXT_SIZES:
            if key in config:
                config[key] = text[key]
    for rope in _mrope_holders(config):
        rope["mrope_section"] = _scaled_section(list(rope["mrope_section"]), head_dim // 2)
    vision = config["vision_config"]
    if model_type == "qwen2_5_vl":
        depth = int(vision.get("depth", 32))
        vision.update(_VISION_25_SIZES, out_hidden_size=_TEXT_SIZES["hidden_size"])
        vision["fullatt_block_indexes"] = _mapped_blocks(
            list(vision.get("fullatt_block_indexes", [])), depth=depth, new_depth=_VISION_25_SIZES["depth"]
        )
    else:
        vision.update(_VISION_2_SIZES, hidden_size=_TEXT_SIZES["hidden_size"])
    return config


def _padded_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The trained BPE padded to 151643 entries with placeholders no input can produce.

    The placeholders start with U+2400, a character byte-level pre-tokenisation never emits,
    so they are never matched; their ids exist so that the special tokens added from the
    official ``tokenizer_config.json`` get their official ids (151643, 151644, ...).
    """
    vocab, merges = _train_bpe()
    vocab = {token: i for token, i in vocab.items() if token not in SPECIAL_TOKENS}
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise RuntimeError("the trained vocabulary is not numbered 0..n-1")
    for i in range(len(vocab), _FIRST_SPECIAL_ID):
        vocab[f"\u2400{i}"] = i
    return vocab, merges


def _write_padded_vocab(target: Path) -> None:
    vocab, merges = _padded_vocab()
    (target / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    lines = ["#version: 0.2", *(" ".join(pair) for pair in merges)]
    (target / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _check_official_tokenizer(target: Path, config: dict[str, Any]) -> None:
    """The built tokenizer must put the config's special tokens at the config's ids."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(target)
    for key, token in (
        ("video_token_id", "<|video_pad|>"),
        ("image_token_id", "<|image_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"),
        ("eos_token_id", "<|im_end|>"),
    ):
        want = config.get(key, (config.get("text_config") or {}).get(key))
        got = tokenizer.convert_tokens_to_ids(token)
        if want is not None and got != want:
            raise RuntimeError(
                f"{target}: the tokenizer puts {token} at {got}, config.json says {key}={want}"
            )


def _official_kind(official: Path) -> tuple[TinyKind, dict[str, Any]]:
    missing = [name for name in OFFICIAL_FILES if not (official / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{official}: missing {missing}; an official directory needs {OFFICIAL_FILES}"
        )
    raw = json.loads((official / "config.json").read_text(encoding="utf-8"))
    kinds = {"qwen2_5_vl": "qwen2.5-vl", "qwen2_vl": "qwen2-vl"}
    if raw.get("model_type") not in kinds:
        raise ValueError(
            f"{official}/config.json: model_type {raw.get('model_type')!r} is not Qwen2.5-VL/Qwen2-VL"
        )
    return kinds[raw["model_type"]], raw


TINY_BUILD_VERSION = 2
"""Bumped whenever the tiny checkpoints change, so cached builds of an older recipe are not reused."""


def build_tiny_model(
    path: str | os.PathLike[str],
    *,
    kind: TinyKind | None = None,
    seed: int = 0,
    official: str | os.PathLike[str] | None = None,
    shrink: bool = True,
) -> Path:
    """Build a tiny random-weight checkpoint and ``save_pretrained`` it into ``path``.

    ``kind`` (default ``"qwen2.5-vl"``) picks the built-in recipe. With ``official``, a directory
    of a released checkpoint's :data:`OFFICIAL_FILES`, the checkpoint is that model shrunk by
    :func:`shrink_official_config`, with its shipped chat template, processor, generation and
    tokenizer configs (``kind``, if given, must match its ``model_type``). ``shrink=False`` keeps
    the official sizes (a full-size random-weight model, built in bfloat16: for benchmarks).

    The directory is written next to ``path`` and renamed into place, so concurrent
    builders never see a half-written checkpoint; an existing complete ``path`` is kept.
    Returns ``path``. Load it like any checkpoint: ``videoqa.load_model(str(path))``.
    """
    raw = None
    if not shrink and official is None:
        raise ValueError("shrink=False needs official=DIR: only an official config has a real size")
    if official is not None:
        official = Path(official)
        official_kind, raw = _official_kind(official)
        if kind is not None and kind != official_kind:
            raise ValueError(f"kind={kind!r} but {official}/config.json is a {official_kind!r} checkpoint")
        kind = official_kind
    kind = "qwen2.5-vl" if kind is None else kind
    if kind not in TINY_KINDS:
        raise ValueError(f"kind must be one of {TINY_KINDS}, got {kind!r}")
    target = Path(path)
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        if raw is None and kind.startswith("qwen3-vl"):
            build_tiny_qwen3(staging, seed=seed, moe=kind == "qwen3-vl-moe")
        elif raw is None:
            _build_builtin(staging, kind=kind, seed=seed)
        else:
            _build_official(staging, official, raw, kind=kind, seed=seed, shrink=shrink)
        try:
            staging.rename(target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _random_model(kind: TinyKind, config: Any, seed: int, dtype: str = "float32") -> Any:
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration, Qwen2VLForConditionalGeneration

    model_class = (
        Qwen2_5_VLForConditionalGeneration if kind == "qwen2.5-vl" else Qwen2VLForConditionalGeneration
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if dtype == "float32":
            return model_class(config).eval()
        return model_class._from_config(config, dtype=getattr(torch, dtype)).eval()


def _build_builtin(staging: Path, *, kind: TinyKind, seed: int) -> None:
    tokenizer = _train_tokenizer()
    config = _tiny_config(kind, tokenizer)
    _save_greedy(staging, _random_model(kind, config, seed), _tiny_processor(kind, tokenizer))


def _build_official(
    staging: Path, official: Path, raw: dict[str, Any], *, kind: TinyKind, seed: int, shrink: bool
) -> None:
    """Shrunk config written in the shipped layout; official files copied byte for byte."""
    from transformers import AutoConfig

    shrunk = shrink_official_config(raw) if shrink else raw
    config_text = json.dumps(shrunk, indent=2, ensure_ascii=False)
    (staging / "config.json").write_text(config_text, encoding="utf-8")
    model = _random_model(
        kind, AutoConfig.from_pretrained(staging), seed, "float32" if shrink else "bfloat16"
    )
    model.save_pretrained(staging)
    del model
    # save_pretrained rewrote config.json and generation_config.json in transformers' own layout:
    # put back the shrunk official config and the shipped generation settings.
    (staging / "config.json").write_text(config_text, encoding="utf-8")
    for name in OFFICIAL_FILES[1:] + _OPTIONAL_OFFICIAL_FILES:
        if (official / name).is_file():
            shutil.copyfile(official / name, staging / name)
    _write_padded_vocab(staging)
    _check_official_tokenizer(staging, shrunk)


def default_models_dir() -> Path:
    """Where built-in checkpoints live; the environment is read at call time.

    ``$VIDEOQA_CACHE_DIR/models``, else ``$XDG_CACHE_HOME/videoqa/models``, else ``~/.cache/videoqa/models``.
    """
    if root := os.environ.get("VIDEOQA_CACHE_DIR"):
        return Path(root).expanduser() / "models"
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg).expanduser() / "videoqa" / "models"
    return Path.home() / ".cache" / "videoqa" / "models"
