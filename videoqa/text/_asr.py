"""Speech recognition (``subtitles="asr"``): a Whisper-family model through transformers, timestamps on.

``subtitles="asr"`` uses :data:`DEFAULT_ASR_MODEL`; ``subtitles="asr:<model id or path>"`` any
Whisper checkpoint ``WhisperForConditionalGeneration.from_pretrained`` loads (``openai/whisper-small``,
a local folder).

The audio is streamed in overlapping 30 s chunks (:mod:`videoqa.text._audio`, bounded memory over
hours), ``batch_size`` chunks per ``generate``; each chunk's segments ``<|start|> words<|end|>``
(0.02 s timestamp tokens, relative to the chunk) are placed at the chunk's absolute start on the
container's clock, and kept only by the chunk owning the segment's middle, so the overlap yields
each cue once.
"""

from __future__ import annotations

import functools
from typing import Any

from videoqa.errors import MissingExtraError, SubtitleError
from videoqa.text._audio import SAMPLE_RATE, AudioChunk, audio_chunks, choose_audio_stream, owned_interval
from videoqa.text._languages import _TWO_TO_THREE, language_key
from videoqa.text._streams import open_container
from videoqa.text._types import Cue, Transcript

__all__ = ["ASR_PREFIX", "DEFAULT_ASR_MODEL", "asr_model_of", "segments_of", "transcribe"]

ASR_PREFIX = "asr"
DEFAULT_ASR_MODEL = "openai/whisper-large-v3-turbo"
TIME_PRECISION = 0.02
"""Seconds per Whisper timestamp token."""
_THREE_TO_TWO = {three: two for two, three in _TWO_TO_THREE.items()}


def asr_model_of(subtitles: str) -> str | None:
    """The ASR model named by a ``subtitles`` value (``"asr"`` -> the default), None when not ASR."""
    if subtitles == ASR_PREFIX:
        return DEFAULT_ASR_MODEL
    if subtitles.startswith(ASR_PREFIX + ":") and subtitles[len(ASR_PREFIX) + 1 :].strip():
        return subtitles[len(ASR_PREFIX) + 1 :].strip()
    return None


def transcribe(
    video: str,
    *,
    model: str = DEFAULT_ASR_MODEL,
    language: str | None = None,
    storage_options: dict[str, Any] | None = None,
    overlap_fraction: float = 1 / 6,
    batch_size: int = 4,
) -> Transcript:
    """The speech of ``video``'s audio as cues at absolute seconds (``kind="asr"``); no audio: a note.

    Chunks are the model's window (``feature_extractor.chunk_length``: 30 s for Whisper) and overlap
    by ``overlap_fraction`` of it (5 s of 30).
    """
    import av

    recogniser = _load(model)
    chunk_seconds = float(recogniser[1].feature_extractor.chunk_length)
    hop_seconds = chunk_seconds * (1 - overlap_fraction)
    whisper_language = _whisper_language(language)
    cues: list[Cue] = []
    with open_container(video, storage_options=storage_options, what="its audio") as container:
        stream, notes = choose_audio_stream(container, language=language)
        if stream is None:
            return Transcript(kind="asr", source=f"asr:{model}", language=language, notes=tuple(notes))
        batch: list[AudioChunk] = []
        try:
            for chunk in audio_chunks(
                container, stream, chunk_seconds=chunk_seconds, hop_seconds=hop_seconds
            ):
                batch.append(chunk)
                if len(batch) == batch_size or chunk.last:
                    cues += _recognise(recogniser, batch, model, whisper_language, chunk_seconds, hop_seconds)
                    batch = []
        except av.FFmpegError as exc:
            raise SubtitleError(video, f"audio stream {stream.index} cannot be decoded ({exc})") from exc
    return Transcript(
        cues=tuple(cues), kind="asr", source=f"asr:{model}", language=language, notes=tuple(notes)
    )


def segments_of(
    ids: list[int], tokenizer: Any, *, timestamp_begin: int, chunk_seconds: float
) -> list[tuple[float, float, str]]:
    """(start, end, text) of each ``<|start|> text<|end|>`` segment in one generated sequence, in
    seconds from the chunk's start; a segment left open by the chunk's end ends at ``chunk_seconds``."""
    special = set(tokenizer.all_special_ids)
    out: list[tuple[float, float, str]] = []
    start: float | None = None
    text: list[int] = []
    for token in ids:
        if token >= timestamp_begin:
            time = (token - timestamp_begin) * TIME_PRECISION
            if start is not None and text:
                out.append((start, time, tokenizer.decode(text, skip_special_tokens=True).strip()))
                start, text = None, []
            else:
                start = time
        elif token not in special:
            text.append(token)
    if text:
        words = tokenizer.decode(text, skip_special_tokens=True).strip()
        out.append((start if start is not None else 0.0, chunk_seconds, words))
    return [s for s in out if s[2]]


def _recognise(
    recogniser: tuple[Any, Any],
    batch: list[AudioChunk],
    model_name: str,
    language: str | None,
    chunk_seconds: float,
    hop_seconds: float,
) -> list[Cue]:
    import torch

    model, processor = recogniser
    features = processor.feature_extractor(
        [c.samples for c in batch], sampling_rate=SAMPLE_RATE, return_tensors="pt"
    ).input_features.to(model.device, model.dtype)
    kwargs: dict[str, Any] = {}
    if getattr(model.generation_config, "is_multilingual", False):  # English-only models take neither
        kwargs["task"] = "transcribe"
        if language:
            kwargs["language"] = language
    with torch.inference_mode():
        out = model.generate(features, return_timestamps=True, **kwargs)
    sequences = out if isinstance(out, torch.Tensor) else out["sequences"]
    first_timestamp = model.generation_config.no_timestamps_token_id + 1
    cues = []
    for chunk, row in zip(batch, sequences.tolist(), strict=True):
        length = len(chunk.samples) / SAMPLE_RATE
        low, high = owned_interval(chunk, chunk_seconds=chunk_seconds, hop_seconds=hop_seconds)
        for a, b, words in segments_of(
            row, processor.tokenizer, timestamp_begin=first_timestamp, chunk_seconds=length
        ):
            a, b = min(a, length), min(max(a, b), length)
            start, end = chunk.start_seconds + a, chunk.start_seconds + b
            if low <= (start + end) / 2 < high:
                cues.append(Cue(start, end, words, language, f"asr:{model_name}"))
    return cues


def _whisper_language(language: str | None) -> str | None:
    key = language_key(language)
    return None if key is None else _THREE_TO_TWO.get(key, key)


@functools.lru_cache(maxsize=2)
def _load(model: str) -> tuple[Any, Any]:
    """(model, processor) of a Whisper checkpoint, once per process; GPU in float16 when there is one."""
    try:
        import torch
        from transformers import WhisperForConditionalGeneration, WhisperProcessor
    except ImportError as exc:
        raise MissingExtraError(
            feature="Speech recognition (subtitles='asr')", extra="asr", module=exc.name or "transformers"
        ) from exc
    cuda = torch.cuda.is_available()
    try:
        loaded = WhisperForConditionalGeneration.from_pretrained(
            model, dtype=torch.float16 if cuda else torch.float32
        )
        processor = WhisperProcessor.from_pretrained(model)
    except OSError as exc:
        raise SubtitleError(
            model,
            f"cannot load the speech recognition model ({exc}); give a Whisper model id or folder "
            f"as subtitles='asr:<model>'",
        ) from exc
    return loaded.to("cuda" if cuda else "cpu").eval(), processor
