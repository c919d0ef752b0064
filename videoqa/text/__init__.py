"""The text channel: subtitles, transcripts and speech on the same clock as the frames.

Every :class:`Cue` sits on the video's own presentation timeline (the clock of the frames' pts,
container start offsets included), so a prompt can carry the words said inside each window and an
answer can point at the second something was said::

    from videoqa.text import load_cues
    transcript = load_cues("talk.mp4", subtitles="auto", language="en")
    for cue in transcript.cues:
        print(cue.start_seconds, cue.end_seconds, cue.text)

Sources: a sidecar file next to the video (``talk.srt``, ``talk.en.vtt``, ``talk.ass``), a text
subtitle stream in the container (SubRip/ASS in Matroska, mov_text in MP4, WebVTT in WebM), or speech
recognition of the audio (``subtitles="asr"`` or ``"asr:<Whisper model id or path>"``: a Whisper
checkpoint through transformers, see :mod:`videoqa.text._asr`).
"""

from videoqa.text._layout import cue_block, interleave_cues
from videoqa.text._load import SUBTITLE_MODES, load_cues, read_subtitle_file
from videoqa.text._parse import format_srt
from videoqa.text._types import Cue, TimedText, Transcript

__all__ = [
    "SUBTITLE_MODES",
    "Cue",
    "TimedText",
    "Transcript",
    "cue_block",
    "format_srt",
    "interleave_cues",
    "load_cues",
    "read_subtitle_file",
]
