"""A tiny Whisper checkpoint built on the spot: the real config, feature extractor, processor and
tokenizer classes of transformers, random weights, saved with ``save_pretrained`` so it loads with
``from_pretrained(path)`` like any Whisper (``openai/whisper-*``).

The tokenizer is laid out as Whisper's: a byte-level BPE (trained here on :data:`TONE_WORDS`, every
word one token), then ``<|endoftext|>``, ``<|startoftranscript|>``, one language (``<|en|>``), the
task tokens, ``<|nospeech|>``, ``<|notimestamps|>`` and right after it the 1,501 timestamp tokens
``<|0.00|>`` ... ``<|30.00|>`` (0.02 s apart), so ``generate(return_timestamps=True)`` and
:mod:`videoqa.text._asr` read times exactly as they do with the real checkpoints.

``training/train_tiny_whisper.py`` trains this architecture on generated tone "words" (an attempt:
not accurate enough to ship or test timestamps with; see the script's docstring).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

__all__ = ["TONE_WORDS", "build_tiny_whisper", "tone_word_audio"]

TONE_WORDS: dict[str, tuple[float, ...]] = {
    "budget": (440.0,),
    "approved": (880.0, 1320.0),
    "hello": (660.0,),
    "goodbye": (1760.0, 2640.0),
}
"""The tiny Whisper's "speech": each word is a chord of pure tones (Hz) held while it is said."""

SAMPLE_RATE = 16000
CHUNK_SECONDS = 10
_SPECIALS_BEFORE_TIMESTAMPS = (
    "<|endoftext|>",
    "<|startoftranscript|>",
    "<|en|>",
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nospeech|>",
    "<|notimestamps|>",
)
_TIMESTAMPS = tuple(f"<|{k * 0.02:.2f}|>" for k in range(1501))


def tone_word_audio(word: str, duration_seconds: float, *, sample_rate: int = SAMPLE_RATE):
    """The float32 samples of ``word`` said for ``duration_seconds`` (its chord, 10 ms fades)."""
    import numpy as np

    n = round(duration_seconds * sample_rate)
    t = np.arange(n, dtype=np.float64) / sample_rate
    tones = TONE_WORDS[word]
    wave = sum(np.sin(2 * np.pi * f * t) for f in tones) * (0.3 / len(tones))
    fade = min(n // 2, sample_rate // 100)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        wave[:fade] *= ramp
        wave[n - fade :] *= ramp[::-1]
    return wave.astype(np.float32)


def _tokenizer():
    from transformers import WhisperTokenizer

    from videoqa.model._tiny_common import train_bpe

    corpus = "\n".join(" " + " ".join(TONE_WORDS) for _ in range(4))
    vocab, merges = train_bpe(vocab_size=300, corpus=corpus)
    for token in _SPECIALS_BEFORE_TIMESTAMPS + _TIMESTAMPS:
        vocab[token] = len(vocab)
    return WhisperTokenizer(
        vocab=vocab,
        merges=merges,
        additional_special_tokens=list(_SPECIALS_BEFORE_TIMESTAMPS[1:] + _TIMESTAMPS),
        model_max_length=448,
    )


def build_tiny_whisper(
    path: str | Path,
    *,
    seed: int = 0,
    d_model: int = 64,
    layers: int = 2,
    heads: int = 4,
    chunk_seconds: int = CHUNK_SECONDS,
) -> Path:
    """Save an untrained tiny Whisper (config, weights, processor, generation config) at ``path``.

    Its window is ``chunk_seconds`` (10 s: a third of the real 30 s, so it trains fast on a CPU; the
    encoder sees ``chunk_seconds * 50`` frames of 20 ms, one per timestamp token).
    """
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
    )

    path = Path(path)
    tokenizer = _tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in _SPECIALS_BEFORE_TIMESTAMPS}
    eot, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
    config = WhisperConfig(
        vocab_size=len(tokenizer),
        num_mel_bins=80,
        d_model=d_model,
        encoder_layers=layers,
        decoder_layers=layers,
        encoder_attention_heads=heads,
        decoder_attention_heads=heads,
        encoder_ffn_dim=4 * d_model,
        decoder_ffn_dim=4 * d_model,
        max_source_positions=chunk_seconds * 50,
        max_target_positions=128,
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=sot,
        suppress_tokens=[],
        begin_suppress_tokens=[eot],
    )
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=sot,
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        max_length=128,
        no_timestamps_token_id=ids["<|notimestamps|>"],
        is_multilingual=True,
        lang_to_id={"<|en|>": ids["<|en|>"]},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        suppress_tokens=[],
        begin_suppress_tokens=[eot],
        max_initial_timestamp_index=chunk_seconds * 50,
        return_timestamps=True,
    )
    processor = WhisperProcessor(
        feature_extractor=WhisperFeatureExtractor(chunk_length=chunk_seconds), tokenizer=tokenizer
    )
    staging = Path(
        tempfile.mkdtemp(prefix=".tiny-whisper-", dir=path.parent if path.parent.exists() else None)
    )
    try:
        model.save_pretrained(staging)
        processor.save_pretrained(staging)
        if path.exists():
            shutil.rmtree(path)
        shutil.move(str(staging), str(path))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path
