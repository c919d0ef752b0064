"""Tiny random-weight Qwen2.5-VL / Qwen2-VL checkpoints, built on the spot.

They exist so that every code path a real checkpoint takes (``AutoConfig`` ->
model class -> ``from_pretrained`` -> ``AutoProcessor``) runs offline, in seconds,
on a CPU. Only the sizes are small: the special tokens, the chat format, the
image/video processors and the MRoPE settings (``tokens_per_second=2``,
``temporal_patch_size=2``, 14-pixel patches, 2x2 merge) are the real ones.

The tokenizer is a byte-level BPE trained here with the ``tokenizers`` library on a
small built-in corpus, wrapped in transformers' ``Qwen2Tokenizer`` (the class real
Qwen checkpoints use), so its pre-tokenisation and special-token handling are Qwen's.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Literal, get_args

__all__ = ["TINY_BUILD_VERSION", "TINY_KINDS", "TinyKind", "build_tiny_model"]

TinyKind = Literal["qwen2.5-vl", "qwen2-vl"]
TINY_KINDS: tuple[TinyKind, ...] = get_args(TinyKind)

# Qwen's special tokens, in the order the real tokenizer numbers them (151643 onwards).
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# A Qwen-style ChatML template written for videoqa: default system prompt, one
# <|vision_start|>...<|vision_end|> block per image or video part, generation prompt.
CHAT_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}"
    "{% endif %}"
    "{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = """\
You are a helpful assistant. Watch the video and answer the question.
When does the described content occur in the video? The event happens from 37.0 to 44.5 seconds.
Give the query: 'a person opens the door', when does the described content occur in the video?
The red square appears at 00:37 and disappears at 00:44. It lasts 7.5 s.
Answer with the option's letter from the given choices directly. (A) red (B) green (C) blue (D) yellow
The answer is B. Describe the video in detail. A man walks into the kitchen and picks up a cup.
Localize a series of activity events in the video, output the start and end timestamp for each event,
and describe each event with sentences. Provide the result in json format with 'mm:ss.ff' for time.
[{"start": "00:01.50", "end": "00:04.00", "event": "a person is sitting on a chair"}]
0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 30 40 50 60 70 80 90 100 seconds minutes hours
The quick brown fox jumps over the lazy dog while the camera pans slowly to the left.
What colour is the square? How many people are in the room? Where is the ball at the end?
"""


def _train_tokenizer(vocab_size: int = 640):
    """Byte-level BPE trained on the corpus above, as a transformers Qwen2Tokenizer."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
        show_progress=False,
    )
    bpe.train_from_iterator(_CORPUS.splitlines(), trainer=trainer)
    trained = bpe.model
    vocab = bpe.get_vocab()
    merges_path = Path(tempfile.mkdtemp(prefix="videoqa-bpe-"))
    try:
        trained.save(str(merges_path))
        lines = (merges_path / "merges.txt").read_text(encoding="utf-8").splitlines()
        merges = [tuple(line.split(" ")) for line in lines if line and not line.startswith("#version")]
    finally:
        shutil.rmtree(merges_path, ignore_errors=True)
    next_id = len(vocab)
    for token in SPECIAL_TOKENS:
        vocab[token] = next_id
        next_id += 1
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(SPECIAL_TOKENS[1:]),
        model_max_length=131072,
        chat_template=CHAT_TEMPLATE,
    )
    return tokenizer


def _tiny_config(kind: TinyKind, tokenizer):
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
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
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    special = {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
    }
    if kind == "qwen2.5-vl":
        from transformers import Qwen2_5_VLConfig

        vision = {
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 64,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "tokens_per_second": 2,
            "window_size": 112,
            "fullatt_block_indexes": [1],
            "initializer_range": 0.1,
        }
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


TINY_BUILD_VERSION = 2
"""Bumped whenever the tiny checkpoints change, so cached builds of an older recipe are not reused."""


def build_tiny_model(path: str | os.PathLike[str], *, kind: TinyKind = "qwen2.5-vl", seed: int = 0) -> Path:
    """Build a tiny random-weight checkpoint of ``kind`` and ``save_pretrained`` it into ``path``.

    The directory is written next to ``path`` and renamed into place, so concurrent
    builders never see a half-written checkpoint; an existing complete ``path`` is kept.
    Returns ``path``. Load it like any checkpoint: ``videoqa.load_model(str(path))``.
    """
    if kind not in TINY_KINDS:
        raise ValueError(f"kind must be one of {TINY_KINDS}, got {kind!r}")
    import torch
    from transformers import (
        GenerationConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLForConditionalGeneration,
    )

    target = Path(path)
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        tokenizer = _train_tokenizer()
        config = _tiny_config(kind, tokenizer)
        model_class = (
            Qwen2_5_VLForConditionalGeneration if kind == "qwen2.5-vl" else Qwen2VLForConditionalGeneration
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = model_class(config).eval()
        model.generation_config = GenerationConfig(
            bos_token_id=config.text_config.bos_token_id,
            eos_token_id=[config.text_config.eos_token_id, config.text_config.bos_token_id],
            pad_token_id=config.text_config.pad_token_id,
            do_sample=False,
        )
        model.save_pretrained(staging)
        _tiny_processor(kind, tokenizer).save_pretrained(staging)
        try:
            staging.rename(target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
