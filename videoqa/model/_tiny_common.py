"""What every tiny checkpoint recipe shares: Qwen's special tokens, the chat template, the trained
tokenizer and the greedy save. ``videoqa.model._tiny`` (Qwen2/2.5-VL recipes, the builder) and
``videoqa.model._tiny_qwen3`` (the Qwen3-VL recipe) both import it, so neither imports the other back.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "CHAT_TEMPLATE",
    "SPECIAL_TOKENS",
    "qwen25_vision_config",
    "save_greedy",
    "special_token_ids",
    "train_bpe",
    "train_tokenizer",
]

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


def qwen25_vision_config(*, hidden_size: int, out_hidden_size: int, **extra: Any) -> dict[str, Any]:
    """A 2-block Qwen2.5-VL vision config of ``hidden_size`` in the released layout (14-pixel patches,
    2 x 2 merge, 2-frame temporal patches, 2 tokens per second, 112-pixel attention windows, full
    attention in the last block), with ``extra`` fields."""
    return {
        "depth": 2,
        "hidden_size": hidden_size,
        "intermediate_size": 2 * hidden_size,
        "num_heads": 2,
        "out_hidden_size": out_hidden_size,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "tokens_per_second": 2,
        "window_size": 112,
        "fullatt_block_indexes": [1],
        **extra,
    }


def special_token_ids(tokenizer: Any) -> tuple[dict[str, int], dict[str, int]]:
    """The special-token ids of a tiny checkpoint's configs, from its tokenizer: (the text config's
    ``bos`` / ``eos`` / ``pad`` ids, the model config's image / video / vision start and end ids)."""
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    text = {
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    vision = {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
    }
    return text, vision


def train_bpe(vocab_size: int = 640, corpus: str = _CORPUS) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """(vocab, merges) of a byte-level BPE trained on ``corpus`` (default above), no special tokens."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
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
    bpe.train_from_iterator(corpus.splitlines(), trainer=trainer)
    vocab = bpe.get_vocab()
    merges_path = Path(tempfile.mkdtemp(prefix="videoqa-bpe-"))
    try:
        bpe.model.save(str(merges_path))
        lines = (merges_path / "merges.txt").read_text(encoding="utf-8").splitlines()
        merges = [tuple(line.split(" ")) for line in lines if line and not line.startswith("#version")]
    finally:
        shutil.rmtree(merges_path, ignore_errors=True)
    return vocab, merges


def train_tokenizer(vocab_size: int = 640, corpus: str = _CORPUS):
    """The trained BPE as a transformers Qwen2Tokenizer, special tokens right after the vocabulary."""
    from transformers import Qwen2Tokenizer

    vocab, merges = train_bpe(vocab_size, corpus)
    next_id = len(vocab)
    for token in SPECIAL_TOKENS:
        vocab[token] = next_id
        next_id += 1
    return Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(SPECIAL_TOKENS[1:]),
        model_max_length=131072,
        chat_template=CHAT_TEMPLATE,
    )


def save_greedy(staging: Path, model: Any, processor: Any) -> None:
    """Save ``model`` with a greedy generation config of its own token ids, and ``processor``."""
    from transformers import GenerationConfig

    text = model.config.text_config
    model.generation_config = GenerationConfig(
        bos_token_id=text.bos_token_id,
        eos_token_id=[text.eos_token_id, text.bos_token_id],
        pad_token_id=text.pad_token_id,
        do_sample=False,
    )
    model.save_pretrained(staging)
    processor.save_pretrained(staging)
