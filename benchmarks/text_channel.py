"""Cost of the text channel: prompt tokens per hour of speech, and speech recognition seconds per hour.

1. **Tokens.** The English narration of a file no one here made (``nasa_13013.mp4``, its first
   ``mov_text`` stream, read by ``videoqa.text.load_cues``) gives the density of real subtitles
   (cues and words per second of the span they cover). Each cue is written as the prompt writes it
   (``[4.3 - 8.4 seconds] words``, :func:`videoqa.text._layout.cue_line`) and counted with
   ``--tokenizer`` (a ``tokenizer.json``; Qwen2/2.5/3-VL share one BPE vocabulary); tokens per hour =
   tokens per second of narration x 3,600. Reference in the same run: the same words as plain text
   (no times), so the ratio is what the times cost.
2. **Speech recognition.** A generated video (``--minutes`` of AAC audio with a tone "word" every
   ~3 s, ``tests/subtitle_media.write_with_speech``) is transcribed with ``--asr-model`` (default: the
   tiny Whisper built on the spot, random weights: it writes up to its 128-token limit in each chunk,
   the most decoding it can do) through ``videoqa.text.load_cues(subtitles="asr:...")``. Reference in
   the same run: decoding + resampling the same audio alone (``videoqa.text._audio.audio_chunks``).
   Printed: seconds per hour of audio for both, and their ratio.

    PYTHONPATH=$PWD python benchmarks/text_channel.py --tokenizer /path/to/qwen/tokenizer.json \
        --minutes 10
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
NASA = (
    next(
        (p / "shared" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared").is_dir()),
        ROOT.parent / "shared",
    )
    / "real_media/torchcodec/nasa_13013.mp4"
)  # ../shared beside the repository (or a worktree's parent)


def tokens(tokenizer_path: str) -> None:
    from tokenizers import Tokenizer

    from videoqa.text import load_cues
    from videoqa.text._layout import BLOCK_HEADER, cue_line

    tok = Tokenizer.from_file(tokenizer_path)
    cues = load_cues(NASA, subtitles="stream", language="eng").cues
    span = cues[-1].end_seconds - cues[0].start_seconds
    words = sum(len(c.text.split()) for c in cues)
    timed = sum(len(tok.encode(cue_line(c, origin_seconds=0.0)).ids) for c in cues)
    plain = sum(len(tok.encode(c.text + "\n").ids) for c in cues)
    per_hour = 3600.0 / span
    print(f"{NASA.name}: {len(cues)} cues, {words} words over {span:.1f} s of narration")
    print(f"  {len(cues) * per_hour:.0f} cues/hour, {words * per_hour / 60:.0f} words/minute")
    print(f"  timed lines: {timed} tokens = {timed * per_hour:,.0f} tokens/hour of speech")
    print(f"  plain text:  {plain} tokens = {plain * per_hour:,.0f} tokens/hour (reference)")
    print(
        f"  ratio timed/plain: {timed / plain:.2f}; block header: {len(tok.encode(BLOCK_HEADER).ids)} tokens"
    )


def asr(minutes: float, model: str | None) -> None:
    from tests.subtitle_media import write_with_speech
    from videoqa.text import load_cues
    from videoqa.text._audio import audio_chunks
    from videoqa.text._tiny_whisper import TONE_WORDS, build_tiny_whisper

    seconds = minutes * 60
    with tempfile.TemporaryDirectory() as tmp:
        names = list(TONE_WORDS)
        words = [(t, t + 1.0, names[k % len(names)]) for k, t in enumerate(range(2, int(seconds) - 2, 3))]
        video = write_with_speech(
            Path(tmp) / "talk.mp4",
            words,
            audio_start_seconds=0.0,
            audio_seconds=seconds,
            duration_seconds=seconds,
            fps=1,
        )
        if model is None:
            model = str(build_tiny_whisper(Path(tmp) / "tiny-whisper"))
        import av

        started = time.perf_counter()
        with av.open(str(video)) as container:
            chunks = sum(1 for _ in audio_chunks(container, container.streams.audio[0], hop_seconds=25.0))
        decode = time.perf_counter() - started
        load_cues(video, subtitles=f"asr:{model}")  # load the model once (cached), not timed
        started = time.perf_counter()
        transcript = load_cues(video, subtitles=f"asr:{model}")
        total = time.perf_counter() - started
    per_hour = 3600.0 / seconds
    print(f"ASR over {minutes:g} min of audio ({chunks} chunks of 30 s for the reference), model {model}")
    print(f"  decode + resample alone: {decode:.1f} s = {decode * per_hour:.0f} s per hour of audio")
    print(f"  load_cues(subtitles='asr:...'): {total:.1f} s = {total * per_hour:.0f} s per hour of audio")
    print(f"  ratio asr/decode: {total / decode:.1f}; {len(transcript.cues)} cues")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokenizer", help="A tokenizer.json (skip the token count when not given).")
    parser.add_argument("--minutes", type=float, default=10.0, help="Minutes of audio for the ASR timing.")
    parser.add_argument("--asr-model", default=None, help="Whisper id/path (default: the tiny one).")
    args = parser.parse_args()
    if args.tokenizer:
        tokens(args.tokenizer)
    if args.minutes > 0:
        asr(args.minutes, args.asr_model)


if __name__ == "__main__":
    main()
