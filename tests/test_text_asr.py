"""Speech recognition (``subtitles="asr"``): audio chunks on the container's clock, Whisper's timestamp
tokens read back, cues kept once across overlapping chunks, a video without audio, the missing extra.

The audio is a real AAC track muxed into an H.264 mp4 (``tests/subtitle_media.write_with_speech``)
whose first sample has pts 2.5 s; its "words" are chords of pure tones at known seconds.
"""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pytest

from tests.subtitle_media import write_with_speech
from videoqa.errors import MissingExtraError
from videoqa.synthetic import write_video
from videoqa.text import load_cues
from videoqa.text._audio import SAMPLE_RATE, audio_chunks, owned_interval

START = 2.5
# absolute seconds on the video's clock; 12.5-13.4 s straddles the first two 10 s chunks' overlap
WORDS = [(4.0, 5.0, "budget"), (12.5, 13.4, "hello"), (21.3, 22.5, "approved"), (33.0, 34.6, "goodbye")]


@pytest.fixture(scope="module")
def speech_video(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("speech")
    return write_with_speech(
        folder / "talk.mp4",
        WORDS,
        audio_start_seconds=START,
        audio_seconds=36.0,
        duration_seconds=36.0,
        fps=2,
        start_seconds=START,
    )


@pytest.fixture(scope="module")
def untrained_whisper(tmp_path_factory) -> Path:
    from videoqa.text._tiny_whisper import build_tiny_whisper

    return build_tiny_whisper(tmp_path_factory.mktemp("asr") / "tiny-whisper")


def _onsets(samples: np.ndarray, start_seconds: float) -> list[float]:
    """Absolute times where the signal rises above 0.05 after 25 ms of quiet (each word's first loud
    sample; a word already sounding when the chunk starts has none)."""
    loud = np.abs(samples) > 0.05
    quiet_before = np.convolve(loud, np.ones(400), "full")[: len(loud) - 1] == 0
    rising = np.flatnonzero(loud[1:] & quiet_before)
    return [start_seconds + (k + 1) / SAMPLE_RATE for k in rising if k >= 400]


def test_audio_chunks_sit_on_the_container_clock(speech_video: Path) -> None:
    with av.open(str(speech_video)) as container:
        stream = container.streams.audio[0]
        # the first decoded frame's pts: the encoder's priming samples come before the first one written
        first = float(stream.start_time * stream.time_base)
        chunks = list(audio_chunks(container, stream, chunk_seconds=10.0, hop_seconds=8.0))
    assert START - 0.03 < first < START
    assert [c.index for c in chunks] == [0, 1, 2, 3, 4]
    assert [c.start_seconds for c in chunks] == pytest.approx([first + 8.0 * k for k in range(5)], abs=1e-9)
    assert [len(c.samples) for c in chunks[:4]] == [10 * SAMPLE_RATE] * 4
    assert [c.last for c in chunks] == [False] * 4 + [True]
    assert chunks[-1].end_seconds == pytest.approx(START + 36.0, abs=0.07)  # + the encoder's last frame
    heard = sorted({round(t, 1) for c in chunks for t in _onsets(c.samples, c.start_seconds)})
    assert heard == [4.0, 12.5, 21.3, 33.0]
    for c in chunks:
        for t in _onsets(c.samples, c.start_seconds):
            assert min(abs(t - w[0]) for w in WORDS) < 0.003  # within the 10 ms fade-in


def test_owned_intervals_tile_the_timeline_once(speech_video: Path) -> None:
    with av.open(str(speech_video)) as container:
        stream = container.streams.audio[0]
        chunks = list(audio_chunks(container, stream, chunk_seconds=30.0, hop_seconds=25.0))
    assert len(chunks) == 2
    owned = [owned_interval(c, chunk_seconds=30.0, hop_seconds=25.0) for c in chunks]
    assert owned[0][0] == -math.inf and owned[-1][1] == math.inf
    assert owned[0][1] == owned[1][0] == pytest.approx(chunks[0].start_seconds + 27.5)


def test_timestamp_tokens_read_back_as_seconds(untrained_whisper: Path) -> None:
    from transformers import WhisperTokenizer

    from videoqa.text._asr import segments_of

    tok = WhisperTokenizer.from_pretrained(untrained_whisper)
    t = tok.convert_tokens_to_ids
    begin = t("<|0.00|>")
    ids = [t("<|startoftranscript|>"), t("<|en|>"), t("<|transcribe|>"), t("<|1.50|>")]
    ids += [*tok.encode(" budget", add_special_tokens=False), t("<|2.48|>"), t("<|3.00|>")]
    ids += [*tok.encode(" hello", add_special_tokens=False), t("<|endoftext|>")]
    assert segments_of(ids, tok, timestamp_begin=begin, chunk_seconds=10.0) == [
        (1.5, 2.48, "budget"),
        (3.0, 10.0, "hello"),  # left open by the chunk's end
    ]


def test_a_video_without_audio_is_a_note(tmp_path: Path, untrained_whisper: Path) -> None:
    video = write_video(tmp_path / "silent.mp4", duration_seconds=3.0, fps=2)
    transcript = load_cues(video, subtitles=f"asr:{untrained_whisper}")
    assert transcript.cues == () and transcript.kind == "asr"
    assert transcript.notes == ("no audio stream: nothing to recognise",)


def test_asr_values_are_accepted_and_bad_ones_named() -> None:
    from videoqa.text._asr import DEFAULT_ASR_MODEL, asr_model_of
    from videoqa.text._load import check_subtitles

    assert asr_model_of("asr") == DEFAULT_ASR_MODEL
    assert asr_model_of("asr:openai/whisper-small") == "openai/whisper-small"
    assert asr_model_of("asr:") is None and asr_model_of("auto") is None
    assert check_subtitles("asr:builtin:tiny-whisper") == "asr:builtin:tiny-whisper"
    with pytest.raises(ValueError, match="'asr:<Whisper model id or path>'"):
        check_subtitles("asr:")


def test_missing_transformers_names_the_extra(monkeypatch) -> None:
    import sys

    from videoqa.text import _asr

    _asr._load.cache_clear()
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'videoqa\[asr\]'"):
        _asr._load("openai/whisper-tiny")
