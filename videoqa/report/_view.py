"""What a report page shows, as plain values, and the Jinja2 environment that draws it.

Both pages (a job's report and one analysis) are built from the same pieces:
:class:`VideoView` holds one video's answers, spans, windows and failures, and
:func:`video_timeline` lays out its timeline. Templates never compute geometry and
never see unescaped text: the environment has autoescape on for every template.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from videoqa.report._thumbs import Thumbnail, video_thumbnails
from videoqa.report._timeline import BarInput, LaneInput, Timeline, build_timeline, format_seconds

if TYPE_CHECKING:
    from videoqa.analysis import Analysis, Span, Step

__all__ = [
    "AnswerView",
    "FailureView",
    "SpanView",
    "StepView",
    "VideoView",
    "WindowView",
    "answer_view",
    "attach_thumbnails",
    "lane_color",
    "render_page",
    "spans_from",
    "video_timeline",
]

# Colour-blind-safe palette (Okabe-Ito), one colour per question lane.
_PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#7A5C00", "#000000")
_TEXT_CHARS = 48
_TITLE_CHARS = 200  # characters of a question or label in one span's tooltip


def lane_color(index: int) -> str:
    return _PALETTE[index % len(_PALETTE)]


MAX_SPAN_CARDS = 100
"""Span cards per answer on a page; an events answer of 2,000 spans is listed in full in the answers
table only (a person cannot read more cards, and each card may carry two images)."""


@dataclass
class SpanView:
    index: int
    start_seconds: float
    end_seconds: float
    label: str | None = None
    start_thumb: Thumbnail | None = None
    end_thumb: Thumbnail | None = None

    @property
    def duration_seconds(self) -> float:
        return self.end_seconds - self.start_seconds


@dataclass
class WindowView:
    step: str
    step_index: int
    index: int
    start_seconds: float
    end_seconds: float
    num_frames: int
    sampled_fps: float
    height: int
    width: int
    visual_tokens: int
    cached: bool = False


_USAGE_FIELDS = {f.name for f in fields(WindowView)} - {"step", "step_index"}
"""The WindowView fields copied as they are from a :class:`~videoqa.analysis.WindowUsage`."""


@dataclass
class StepView:
    """One pass of a strategy: the windows it looked at, what it answered, the spans it found."""

    index: int
    name: str
    windows: list[WindowView]
    raw_texts: list[str] = field(default_factory=list)
    spans: list[SpanView] = field(default_factory=list)


@dataclass
class AnswerView:
    question_id: str
    question: str
    task: str
    answer: str
    raw_text: str
    strategy: str
    color: str = _PALETTE[0]
    options: list[str] | None = None
    choice: str | None = None
    parse_error: str | None = None
    outcome: str = "answered"
    """answered / no_event (the model says the event does not occur) / unparsed."""
    spans: list[SpanView] = field(default_factory=list)
    steps: list[StepView] = field(default_factory=list)
    visual_tokens: int = 0
    attempts: int = 1
    cues: list[tuple[float, float, str]] = field(default_factory=list)
    """Timed text the answer was given: (start, end, text), absolute seconds."""
    cue_source: str | None = None

    @property
    def windows(self) -> list[WindowView]:
        return [w for step in self.steps for w in step.windows]

    @property
    def card_spans(self) -> list[SpanView]:
        """The spans drawn as cards (at most :data:`MAX_SPAN_CARDS`; the answers table lists all)."""
        return self.spans[:MAX_SPAN_CARDS]

    @property
    def lettered_options(self) -> list[tuple[str, str]]:
        return [(chr(ord("A") + i), text) for i, text in enumerate(self.options or [])]


@dataclass
class FailureView:
    video: str
    video_id: str
    question_id: str
    stage: str
    error_type: str
    error: str
    attempts: int
    transient: bool


@dataclass
class VideoView:
    video: str
    video_id: str
    duration_seconds: float | None
    start_seconds: float = 0.0
    answers: list[AnswerView] = field(default_factory=list)
    failures: list[FailureView] = field(default_factory=list)
    timeline: Timeline | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def num_spans(self) -> int:
        return sum(len(a.spans) for a in self.answers)


def _short(text: str, limit: int = _TEXT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _span_title(answer: AnswerView, span: SpanView) -> str:
    """A span's tooltip: its question (cut), times and own label; never the whole answer.

    The answer holds every span, so repeating it per span made the page quadratic in spans (2,000
    unlabelled spans: 87 MB); the lane's tooltip and the answers table carry it once.
    """
    lines = [
        f"{answer.question_id}: {_short(answer.question, _TITLE_CHARS)}",
        f"{span.start_seconds:.2f} s → {span.end_seconds:.2f} s ({span.duration_seconds:.2f} s)",
    ]
    if span.label:
        lines.append(_short(span.label, _TITLE_CHARS))
    return "\n".join(lines)


def _answer_lane(answer: AnswerView) -> LaneInput:
    bars = [
        BarInput(
            start_seconds=s.start_seconds,
            end_seconds=s.end_seconds,
            kind="span",
            text=_short(s.label or answer.answer, 36),
            title=_span_title(answer, s),
            question_id=answer.question_id,
            index=s.index,
        )
        for s in answer.spans
    ]
    label = f"{answer.question_id} · {answer.question}"
    return LaneInput(label=label, title=f"{label}\nAnswer: {answer.answer}", color=answer.color, bars=bars)


def _step_lane(answer: AnswerView, step: StepView) -> LaneInput:
    fps = sorted({round(w.sampled_fps, 3) for w in step.windows})
    fps_text = ", ".join(f"{f:g}" for f in fps)
    bars = [
        BarInput(
            start_seconds=w.start_seconds,
            end_seconds=w.end_seconds,
            kind="window",
            title=(
                f"{step.name} window {w.index}: {w.start_seconds:.2f}–{w.end_seconds:.2f} s, "
                f"{w.num_frames} frames at {w.sampled_fps:.3g} fps, {w.visual_tokens} visual tokens"
            ),
            question_id=answer.question_id,
            index=w.index,
        )
        for w in step.windows
    ]
    bars += [
        BarInput(
            start_seconds=s.start_seconds,
            end_seconds=s.end_seconds,
            kind="step-span",
            text=_short(s.label or "", 24),
            title=f"{step.name} found {s.start_seconds:.2f}–{s.end_seconds:.2f} s",
            question_id=answer.question_id,
            index=s.index,
        )
        for s in step.spans
    ]
    label = f"step {step.index + 1}: {step.name} @ {fps_text} fps"
    return LaneInput(label=label, title=label, color="#888888", bars=bars)


def _transcript_lane(video: VideoView) -> LaneInput | None:
    """One lane of the timed text (subtitles, transcript) the video's answers were given, or None."""
    cues = sorted({c for a in video.answers for c in a.cues})
    if not cues:
        return None
    source = next(a.cue_source for a in video.answers if a.cues)
    bars = [
        BarInput(
            start_seconds=start,
            end_seconds=end,
            kind="cue",
            title=f"{format_seconds(start)} - {format_seconds(end)}: {text}",
            index=k,
        )
        for k, (start, end, text) in enumerate(cues)
    ]
    label = f"transcript ({len(cues)} cues)"
    return LaneInput(label=label, title=f"{label} from {source}", color="#6a5acd", bars=bars)


def video_timeline(
    video: VideoView, *, with_steps: bool = False, extra_lanes: Sequence[LaneInput] = ()
) -> Timeline | None:
    """The timeline of one video: ``extra_lanes`` (e.g. an evaluation's ground truth), the transcript
    lane when the answers had timed text, a lane per answer with spans (and per step when ``with_steps``).

    Returns None when there is nothing to draw (no spans, no steps shown).
    """
    transcript = _transcript_lane(video)
    lanes = [*extra_lanes, *([transcript] if transcript is not None else [])]
    for answer in video.answers:
        if answer.spans or answer.task in ("grounding", "events"):
            lanes.append(_answer_lane(answer))
        if with_steps:
            lanes += [_step_lane(answer, step) for step in answer.steps]
    if not lanes:
        return None
    duration = video.duration_seconds
    if duration is None or not duration > 0:
        ends = (
            [s.end_seconds for a in video.answers for s in a.spans]
            + [w.end_seconds for a in video.answers for w in a.windows]
            + [b.end_seconds for lane in extra_lanes for b in lane.bars]
        )
        duration = max([*ends, 1.0]) - video.start_seconds
        video.notes.append("The video's duration is unknown; the timeline ends at the last span.")
    return build_timeline(start_seconds=video.start_seconds, duration_seconds=duration, lanes=lanes)


def attach_thumbnails(
    video: VideoView, *, max_spans: int, storage_options: dict[str, Any] | None = None
) -> None:
    """Decode the frames at the start and end of the first ``max_spans`` spans and attach them.

    Each answer shows frames on at most ``max_spans`` of its spans, so a page holds at most
    ``2 * max_spans`` images per answer however many spans repeat the same times.
    """
    if isinstance(max_spans, bool) or not isinstance(max_spans, int) or max_spans < 0:
        raise ValueError(f"max_thumbnail_spans must be an int >= 0, got {max_spans!r}")
    spans = [s for a in video.answers for s in a.spans]
    if not spans:
        return
    wanted = list(dict.fromkeys((s.start_seconds, s.end_seconds) for s in spans))[:max_spans]
    thumbs = video_thumbnails(video.video, wanted, storage_options=storage_options)
    for answer in video.answers:
        shown = 0
        for span in answer.spans:
            pair = thumbs.get(span.start_seconds, span.end_seconds) if shown < max_spans else (None, None)
            span.start_thumb, span.end_thumb = pair
            shown += pair != (None, None)
    if thumbs.note:
        video.notes.append(thumbs.note)
    elif len(wanted) < len({(s.start_seconds, s.end_seconds) for s in spans}) or any(
        len(a.spans) > max_spans for a in video.answers
    ):
        video.notes.append(f"Thumbnails are shown for the first {max_spans} spans only.")


def _format_float(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).with_name("templates"))),
        autoescape=True,  # everything from videos, questions and model output is escaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["hms"] = lambda t: format_seconds(t, step_seconds=0.1)
    env.filters["f"] = _format_float
    return env


def render_page(template: str, **context: Any) -> str:
    """Render one of the templates in ``templates/`` with autoescaping."""
    return _environment().get_template(template).render(**context)


def spans_from(spans: Sequence[Span]) -> list[SpanView]:
    """SpanViews of an analysis's (or a step's) spans, indexed in order."""
    return [
        SpanView(index=i, start_seconds=s.start_seconds, end_seconds=s.end_seconds, label=s.label)
        for i, s in enumerate(spans)
    ]


def _step_view(index: int, step: Step) -> StepView:
    windows = [
        WindowView(step=step.name, step_index=index, **w.model_dump(include=_USAGE_FIELDS))
        for w in step.windows
    ]
    return StepView(
        index=index,
        name=step.name,
        windows=windows,
        raw_texts=list(step.raw_texts),
        spans=spans_from(step.spans),
    )


def answer_view(analysis: Analysis, *, color: str, attempts: int = 1) -> AnswerView:
    """The view of one answer: the single builder behind both the job page and the analysis page.

    A job's answers rows carry the full Analysis (``analysis_json``), so both pages draw the same
    spans, steps and windows from the same values.
    """
    q = analysis.question
    return AnswerView(
        question_id=q.question_id,
        question=q.question,
        task=q.task,
        answer=analysis.answer,
        raw_text=analysis.raw_text,
        strategy=analysis.strategy,
        color=color,
        options=q.options,
        choice=analysis.choice,
        parse_error=analysis.parse_error,
        outcome=analysis.outcome,
        spans=spans_from(analysis.spans),
        steps=[_step_view(i, step) for i, step in enumerate(analysis.steps)],
        visual_tokens=sum(w.visual_tokens for w in analysis.windows),
        attempts=attempts,
        cues=[
            (c.start_seconds, c.end_seconds, c.text)
            for c in (analysis.subtitles.cues if analysis.subtitles else [])
        ],
        cue_source=analysis.subtitles.source if analysis.subtitles else None,
    )
