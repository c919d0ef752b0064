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
# Absolute seconds on the video's clock. With 10 s chunks every 8.33 s from the first audio pts
# (~2.476 s): "hello" lies whole in the overlap of chunks 0 and 1 (kept once, by chunk 0), "approved"
# is cut by chunk 0's end (12.476 s) and whole in chunk 1, "goodbye" is cut by chunk 3's end.
WORDS = [
    (4.0, 5.0, "budget"),
    (10.9, 11.4, "hello"),
    (11.9, 12.9, "approved"),
    (21.3, 22.5, "goodbye"),
    (35.3, 36.8, "budget"),
]


@pytest.fixture(scope="module")
def speech_video(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("speech")
    return write_with_speech(
        folder / "talk.mp4",
        WORDS,
        audio_start_seconds=START,
        audio_seconds=38.0,
        duration_seconds=38.0,
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
    assert chunks[-1].end_seconds == pytest.approx(START + 38.0, abs=0.07)  # + the encoder's last frame
    heard = sorted({round(t, 1) for c in chunks for t in _onsets(c.samples, c.start_seconds)})
    assert heard == [4.0, 10.9, 11.9, 21.3, 35.3]
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


# ----------------------------------------------------------------------------- the whole path, exactly
#
# The tiny Whisper here is NOT trained: its generation is constrained by a logits processor that reads
# the log-mel features generate() is given (the real feature extractor's, of the real decoded chunk)
# and forces, for each loud run of 10 ms frames, <|start|> word<|end|> with the run's frames rounded
# to 20 ms timestamp tokens, the word being the tone whose mel band is loudest. Everything else is
# the real path: PyAV decode + resample, chunking, the feature extractor, Whisper's generate with
# its timestamp rules, reading the tokens back, the overlap, the container clock.


def _forced_rows(features, processor) -> list[list[int]]:

    from videoqa.text._tiny_whisper import TONE_WORDS

    tok = processor.tokenizer
    begin, eot = tok.convert_tokens_to_ids("<|0.00|>"), tok.convert_tokens_to_ids("<|endoftext|>")
    fft_bin = {w: round(f[0] / (SAMPLE_RATE / 400)) for w, f in TONE_WORDS.items()}
    band = {w: int(np.argmax(processor.feature_extractor.mel_filters[b])) for w, b in fft_bin.items()}
    rows = []
    for f in features:
        energy = f.max(dim=0).values
        floor, peak = energy.min().item(), energy.max().item()
        loud = (energy > floor + 0.5 * (peak - floor)).tolist() if peak - floor > 0.5 else []
        row, k = [], 0
        while k < len(loud):
            if not loud[k]:
                k += 1
                continue
            end = next((j for j in range(k, len(loud)) if not loud[j]), len(loud))
            spectrum = f[:, k:end].mean(dim=1)
            word = max(band, key=lambda w: spectrum[band[w]].item())
            word_ids = tok.encode(" " + word, add_special_tokens=False)
            row += [begin + round(k / 2), *word_ids, begin + round(end / 2)]
            k = end
        rows.append([*row, eot])
    return rows


@pytest.fixture
def tone_reading_whisper(untrained_whisper: Path, monkeypatch) -> str:
    import torch
    from transformers import LogitsProcessor, WhisperForConditionalGeneration, WhisperProcessor

    from videoqa.text import _asr

    model = WhisperForConditionalGeneration.from_pretrained(untrained_whisper).eval()
    processor = WhisperProcessor.from_pretrained(untrained_whisper)
    real_generate = model.generate

    class Force(LogitsProcessor):
        def __init__(self, rows: list[list[int]]) -> None:
            self.rows, self.prompt = rows, None

        def __call__(self, input_ids, scores):
            self.prompt = self.prompt or input_ids.shape[1]
            step = input_ids.shape[1] - self.prompt
            forced = torch.full_like(scores, -math.inf)
            for b, row in enumerate(self.rows):
                forced[b, row[min(step, len(row) - 1)]] = 0.0
            return forced

    def generate(input_features, **kwargs):
        rows = _forced_rows(input_features, processor)
        return real_generate(input_features, logits_processor=[Force(rows)], **kwargs)

    model.generate = generate
    monkeypatch.setattr(_asr, "_load", lambda name: (model, processor))
    return "asr:tone-reader"


def test_recognised_cues_land_on_the_seconds_said(speech_video: Path, tone_reading_whisper: str) -> None:
    transcript = load_cues(speech_video, subtitles=tone_reading_whisper, language="en")
    assert transcript.kind == "asr" and transcript.source == "asr:tone-reader" and transcript.notes == ()
    assert [c.text for c in transcript.cues] == [w for _, _, w in WORDS]  # each word once
    for cue, (start, end, _) in zip(transcript.cues, WORDS, strict=True):
        # 0.02 s timestamp tokens over 0.01 s mel frames (the energy rises within one frame)
        assert cue.start_seconds == pytest.approx(start, abs=0.025)
        assert cue.end_seconds == pytest.approx(end, abs=0.025)
        assert cue.source == "asr:tone-reader" and cue.language == "en"


def test_a_speech_question_is_answered_from_recognised_speech(
    speech_video: Path, tone_reading_whisper: str
) -> None:
    import videoqa

    a = videoqa.analyze(
        speech_video,
        'When does the speaker say "goodbye"?',
        task="grounding",
        model="builtin:scripted",
        subtitles=tone_reading_whisper,
    )
    assert a.subtitles.kind == "asr" and [s.name for s in a.steps] == ["transcript"]
    [span] = a.spans
    assert (span.start_seconds, span.end_seconds) == pytest.approx((21.3, 22.5), abs=0.025)
