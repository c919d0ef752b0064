"""A scripted stand-in for a vision-language model. It is NOT a real model.

:class:`ScriptedModel` implements :class:`~videoqa.model._protocol.VideoLanguageModel` with
fixed rules instead of weights, so grounding, coarse-to-fine search, time mapping and the
visual cache can be tested end to end, fast and exactly, on the synthetic videos of
:mod:`videoqa.synthetic` (coloured squares shown over known intervals).

It only knows what it is given, as a real model would:

- ``encode(clip)`` looks at every decoded frame with the synthetic square detector
  (:func:`videoqa.synthetic.visible_colors`) and records the colours it sees, together with
  the frame's *relative* time as the model perceives it through MRoPE: ``k / sampled_fps``
  for the k-th frame of the window, taken from the window's sampling, never from the true
  pts. A wrong ``sampled_fps`` or a lost window offset therefore gives wrong answers, as it
  would with Qwen2.5-VL.
- With several windows in one request, the model's clock starts at the first window's start:
  window j's frames are perceived at ``(start_j - start_0) + k / sampled_fps_j``. The session
  maps such answers back by adding the first window's ``start_seconds``.
- ``ScriptedModel(family="qwen3-vl")`` (``builtin:scripted-qwen3-vl``) perceives time as
  Qwen3-VL does: it writes the request's timestamp text exactly as the Qwen3-VL runner does
  (:mod:`videoqa.model._timestamps`, from the frames' pts relative to the first window's start),
  reads the numbers back from that text, and gives each temporal patch (2 frames) the time its
  ``<t seconds>`` says and the colours of its two frames. A wrong timestamp text gives a wrong
  answer. It samples like Qwen3-VL (32-pixel tokens, qwen-vl-utils' frames).

``generate()`` infers the task from the prompt, in this order:

1. **choice** (the prompt has ``(A) ...`` option lines): answers ``"(X) option"`` for the first
   option that names a colour seen in any frame, else ``"(A)"``;
2. **events** (the prompt asks for JSON): a JSON list, one item per run of consecutive frames
   showing a colour, ``start_time``/``end_time`` as ``"mm:ss.ff"`` (cookbook style);
3. **grounding** (the prompt asks for a start and end time, or "when"): the colour is the first
   palette colour named in the prompt (default ``red``); answers
   ``"The event happens in X - Y seconds."`` with the perceived times of the first and last frame
   showing it, or ``"The event does not occur in this video."``;
4. **qa** otherwise: a sentence naming the colours seen.

Timed text (subtitles) in a request is written as the family lays it out and read back
(:mod:`videoqa.model._scripted_text`): a grounding question quoting a phrase in double quotes is
answered with the times of the cue line that holds it, before any frame is looked at.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from videoqa.errors import ModelError
from videoqa.model._protocol import (
    Generation,
    GenerationOptions,
    GenerationRequest,
    TemporalConfig,
    VisualFeatures,
)
from videoqa.model._scripted_text import answer_from_speech, prompted_text
from videoqa.model._timestamps import expand_video_timestamps, patch_timestamps, read_timestamps
from videoqa.model.families import ModelFamily, family, scripted

__all__ = ["ScriptedModel", "load_scripted"]

_VERSION = "1"
_OPTION_RE = re.compile(r"^\s*\(([A-Z])\)\s*(.+?)\s*$", re.MULTILINE)
_GROUNDING_RE = re.compile(r"\bstart(?:ing)?\b.*\bend(?:ing)?\b|\bwhen\b", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class _FrameFacts:
    relative_seconds: float
    colors: frozenset[str]


class ScriptedModel:
    """Rule-based stand-in that answers from the coloured squares in the frames it is given.

    Not a real model: no weights, no language understanding. See the module docstring for
    the exact rules. It stands in for a model family declared in :mod:`videoqa.model.families`
    with a scripted built-in: its ``model_id`` is that built-in's name, its sampling the family's,
    and it perceives time by the family's time encoding (timestamp text read back from the prompt,
    else frame times from the window's sampling; 2 temporal IDs per second, 2 frames per temporal
    patch). ``family="qwen2.5-vl"`` is ``"builtin:scripted"``; ``"qwen3-vl"``,
    ``"builtin:scripted-qwen3-vl"``.
    """

    def __init__(self, family: str = "qwen2.5-vl") -> None:
        declared = _scripted_family(family)
        self.family = declared.name
        self.model_id = next(b.name for b in declared.builtins if b.loader == _LOADER)
        self.temporal = TemporalConfig(
            kind=declared.time_encoding, tokens_per_second=2.0, temporal_patch_size=2
        )
        self.sampling = declared.sampling
        self.text_layout = declared.timed_text
        """How the family writes timed text (``ModelFamily.timed_text``); read back by the stand-in."""
        self.encode_calls = 0
        """How many windows were encoded (tests use it to see cache hits)."""

    def fingerprint(self) -> str:
        return f"{self.model_id}/v{_VERSION}"

    def encode(self, clip) -> VisualFeatures:
        from videoqa.synthetic import visible_colors

        self.encode_calls += 1
        window = clip.window
        if window.sampled_fps <= 0:
            raise ModelError(
                f"window {window.index} has sampled_fps={window.sampled_fps}; cannot place frames"
            )
        facts = [
            _FrameFacts(relative_seconds=k / window.sampled_fps, colors=frozenset(visible_colors(frame)))
            for k, frame in enumerate(clip.frames)
        ]
        pts = np.asarray(clip.pts_seconds, dtype=np.float64).copy()
        return VisualFeatures(
            window=window,
            pts_seconds=pts,
            data=facts,
            warnings=list(clip.warnings),
            stale_targets=tuple(clip.stale_targets),
        )

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        max_new_tokens: int,
        options: GenerationOptions | None = None,
    ) -> list[Generation]:
        """Rule-based answers; ``options`` are accepted and ignored (the rules are deterministic)."""
        generations = []
        for request in requests:
            if not request.features:
                raise ModelError("ScriptedModel needs at least one encoded window per request")
            if self.temporal.kind == "timestamp_text":
                frames = _frames_from_timestamp_text(request.features)
            else:
                frames = _perceived_frames(request.features)
            said = prompted_text(request, layout=self.text_layout)
            spoken = (
                answer_from_speech(request.prompt, said) if _GROUNDING_RE.search(request.prompt) else None
            )
            text = spoken or _answer(request.prompt, frames)
            words = text.split()
            if len(words) > max_new_tokens:
                text = " ".join(words[:max_new_tokens])
            visual = sum(f.window.visual_tokens for f in request.features)
            generations.append(
                Generation(
                    text=text,
                    input_tokens=visual + len(request.prompt.split()) + len(said.split()),
                    output_tokens=min(len(words), max_new_tokens),
                )
            )
        return generations


_LOADER = scripted("").loader


def _scripted_family(name: str) -> ModelFamily:
    declared = family(name)
    if not any(b.loader == _LOADER for b in declared.builtins):
        raise ValueError(f"model family {name!r} declares no scripted built-in (families.scripted(...))")
    return declared


def load_scripted(name: str, declared: ModelFamily, **options: Any) -> ScriptedModel:
    """The loader of every scripted built-in (it takes no load options)."""
    return ScriptedModel(family=declared.name)


def _perceived_frames(features: Sequence[VisualFeatures]) -> list[_FrameFacts]:
    origin = features[0].window.start_seconds
    frames = []
    for feature in features:
        offset = feature.window.start_seconds - origin
        frames += [_FrameFacts(offset + f.relative_seconds, f.colors) for f in feature.data]
    return frames


def _frames_from_timestamp_text(features: Sequence[VisualFeatures]) -> list[_FrameFacts]:
    """One fact per temporal patch, timed by the ``<t seconds>`` the Qwen3-VL prompt states for it."""
    origin = features[0].window.start_seconds
    placeholder = "<|video_pad|>"
    text = expand_video_timestamps(
        placeholder * len(features),
        video_token=placeholder,
        vision_start="",
        vision_end="",
        videos=[(patch_timestamps(f.pts_seconds, origin_seconds=origin), 0) for f in features],
    )
    stated = iter(read_timestamps(text))
    patches = []
    for feature in features:
        facts = list(feature.data)
        for k in range(0, len(facts), 2):
            colors = frozenset().union(*(f.colors for f in facts[k : k + 2]))
            patches.append(_FrameFacts(next(stated), colors))
    return patches


def _answer(prompt: str, frames: list[_FrameFacts]) -> str:
    options = _OPTION_RE.findall(prompt)
    if options:
        return _choice(options, frames)
    if "json" in prompt.lower():
        return _events(frames)
    if _GROUNDING_RE.search(prompt):
        return _grounding(_queried_color(prompt), frames)
    seen = sorted({c for f in frames for c in f.colors})
    if not seen:
        return "I see no coloured square in the video."
    return f"I see a {' and a '.join(seen)} square in the video."


def _queried_color(prompt: str) -> str:
    from videoqa.synthetic import PALETTE

    found = [(m.start(), c) for c in PALETTE if (m := re.search(rf"\b{c}\b", prompt, re.IGNORECASE))]
    return min(found)[1] if found else "red"


def _choice(options: list[tuple[str, str]], frames: list[_FrameFacts]) -> str:
    seen = {c for f in frames for c in f.colors}
    for letter, text in options:
        if any(re.search(rf"\b{c}\b", text, re.IGNORECASE) for c in seen):
            return f"({letter}) {text}"
    return "(A)"


def _grounding(color: str, frames: list[_FrameFacts]) -> str:
    times = [f.relative_seconds for f in frames if color in f.colors]
    if not times:
        return "The event does not occur in this video."
    return f"The event happens in {min(times):.1f} - {max(times):.1f} seconds."


def _runs(frames: list[_FrameFacts]) -> list[tuple[float, float, str]]:
    runs: list[tuple[float, float, str]] = []
    colors = sorted({c for f in frames for c in f.colors})
    for color in colors:
        start = last = None
        for f in frames:
            if color in f.colors:
                start = f.relative_seconds if start is None else start
                last = f.relative_seconds
            elif start is not None:
                runs.append((start, last, color))
                start = None
        if start is not None:
            runs.append((start, last, color))
    return sorted(runs)


def _clock(seconds: float) -> str:
    minutes, rest = divmod(round(seconds, 2), 60.0)
    return f"{int(minutes):02d}:{rest:05.2f}"


def _events(frames: list[_FrameFacts]) -> str:
    items = [
        {"start_time": _clock(s), "end_time": _clock(e), "description": f"A {c} square is visible."}
        for s, e, c in _runs(frames)
    ]
    return json.dumps(items)
