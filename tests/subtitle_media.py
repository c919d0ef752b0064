"""Test videos that carry subtitle streams, muxed with PyAV (no ffmpeg binary needed).

A synthetic video from :func:`videoqa.synthetic.write_video` is remuxed (its packets copied) into a
container with one or more text subtitle streams whose packets are written here at known pts:
SubRip or ASS in Matroska, mov_text in MP4, WebVTT in WebM.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from videoqa.synthetic import write_video

ASS_HEADER = b"""[Script Info]
ScriptType: v4.00+
PlayResX: 384
PlayResY: 288

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, \
Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, \
MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
"""

TimedLine = tuple[float, float, str]
"""(absolute start seconds, absolute end seconds, text) on the container's timeline."""


def _payload(codec: str, text: str, index: int) -> bytes:
    data = text.encode("utf-8")
    if codec == "mov_text":
        return len(data).to_bytes(2, "big") + data
    if codec == "ass":
        return f"{index},0,Default,,0,0,0,,{text}".encode()
    return data


def write_with_subtitles(
    path: Path,
    tracks: Sequence[tuple[str, str | None, Sequence[TimedLine]]],
    **video_kwargs: object,
) -> Path:
    """A video at ``path`` with subtitle streams ``tracks``: (codec, language, cues) each.

    ``video_kwargs`` go to :func:`write_video` (``duration_seconds``, ``fps``, ``start_seconds``...).
    """
    import av

    plain = path.with_name(path.stem + ".plain" + path.suffix)
    write_video(plain, **video_kwargs)  # type: ignore[arg-type]
    with av.open(str(plain)) as src, av.open(str(path), "w") as out:
        video_in = src.streams.video[0]
        video_out = out.add_stream_from_template(video_in)
        streams = []
        for codec, language, _ in tracks:
            stream = out.add_stream(codec)
            stream.codec_context.subtitle_header = ASS_HEADER
            if language:
                stream.metadata["language"] = language
            streams.append(stream)
        for packet in src.demux(video_in):
            if packet.dts is None:
                continue
            packet.stream = video_out
            out.mux(packet)
        for stream, (codec, _, cues) in zip(streams, tracks, strict=True):
            time_base = stream.time_base or Fraction(1, 1000)
            for k, (start, end, text) in enumerate(cues):
                packet = av.Packet(_payload(codec, text, k))
                packet.stream = stream
                packet.time_base = time_base
                packet.pts = packet.dts = round(start / time_base)
                packet.duration = round((end - start) / time_base)
                out.mux(packet)
    plain.unlink()
    return path


def write_with_speech(
    path: Path,
    words: Sequence[TimedLine],
    *,
    audio_start_seconds: float,
    audio_seconds: float,
    rate: int = 44100,
    **video_kwargs: object,
) -> Path:
    """A video at ``path`` with an AAC audio stream whose tone "words" (``TONE_WORDS``) are heard at
    ``words``' absolute times; the audio's first sample has pts ``audio_start_seconds``."""
    import av
    import numpy as np

    from videoqa.text._tiny_whisper import tone_word_audio

    samples = np.zeros(round(audio_seconds * rate), dtype=np.float32)
    for start, end, word in words:
        first = round((start - audio_start_seconds) * rate)
        wave = tone_word_audio(word, end - start, sample_rate=rate)
        samples[first : first + len(wave)] += wave
    plain = path.with_name(path.stem + ".plain" + path.suffix)
    write_video(plain, **video_kwargs)  # type: ignore[arg-type]
    with av.open(str(plain)) as src, av.open(str(path), "w") as out:
        video_in = src.streams.video[0]
        video_out = out.add_stream_from_template(video_in)
        audio = out.add_stream("aac", rate=rate, layout="mono")
        for packet in src.demux(video_in):
            if packet.dts is None:
                continue
            packet.stream = video_out
            out.mux(packet)
        offset, n = round(audio_start_seconds * rate), 1024
        for i in range(0, len(samples), n):
            frame = av.AudioFrame.from_ndarray(samples[None, i : i + n].copy(), format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, offset + i, Fraction(1, rate)
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)
    plain.unlink()
    return path
