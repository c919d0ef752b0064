"""The answer a user gets back: :class:`Analysis`, and the :class:`Question` it answers.

Pydantic models, so an ``Analysis`` round-trips through JSON and maps onto the
Parquet rows of the batch job (``videoqa.records``) without loss. Every time here
is absolute seconds on the video's presentation timeline.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from videoqa.core.settings import Settings, Strategy

__all__ = [
    "Analysis",
    "AnswerOutcome",
    "Question",
    "Span",
    "Step",
    "Strategy",
    "SubtitleUsage",
    "Task",
    "TextCue",
    "WindowUsage",
]

Task = Literal["qa", "choice", "grounding", "events"]
AnswerOutcome = Literal["answered", "no_event", "unparsed"]
ResolvedStrategy = Literal["single", "coarse_to_fine"]
"""The strategy an answer was produced with (``auto`` resolved)."""
"""``answered``: the answer holds what the task asks (text, a letter, spans); ``no_event``: a grounding
or events answer saying the event does not occur (no span, and not an error); ``unparsed``: no span or
letter could be read (``parse_error`` says why)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Question(_Model):
    """One question to ask of a video."""

    question_id: str = Field(default="q0", description="Stable id of the question, unique within a job.")
    question: str = Field(description="The question, or for grounding the description of the event.")
    task: Task = Field(
        default="qa",
        description="qa: free answer; choice: option letter; "
        "grounding: when does it happen; events: dense captioning with spans.",
    )
    options: list[str] | None = Field(
        default=None, description="Answer options for task='choice', in letter order."
    )
    prompt: str | None = Field(
        default=None,
        description="Exact text sent to the model instead of videoqa's prompt template "
        "(evaluations use this to reproduce published prompts).",
    )
    occurrences: Literal["first", "all"] = Field(
        default="first",
        description="Grounding under coarse_to_fine: 'first' returns the best-confirmed span first; 'all' "
        "returns every occurrence the search confirms, in time order.",
    )

    @model_validator(mode="after")
    def _choice_needs_options(self) -> Question:
        if self.task == "choice" and not self.options:
            raise ValueError(
                f"question {self.question_id!r}: task='choice' needs options (a list of strings)"
            )
        return self


class Span(_Model):
    start_seconds: float = Field(description="Absolute start, seconds on the video's timeline.")
    end_seconds: float = Field(description="Absolute end, seconds; >= start_seconds.")
    label: str | None = Field(default=None, description="What happens in the span (events task).")


class WindowUsage(_Model):
    """What one window actually fed the model."""

    index: int = Field(description="Index of the window in its pass's sampling plan.")
    start_seconds: float = Field(description="Absolute start of the window, seconds.")
    end_seconds: float = Field(description="Absolute end of the window, seconds (exclusive).")
    num_frames: int = Field(description="Frames the model saw in this window.")
    sampled_fps: float = Field(description="Frames per second of video time in this window.")
    second_per_grid: float = Field(
        description="Seconds per temporal patch: temporal_patch_size / sampled_fps."
    )
    height: int = Field(description="Frame height fed to the model (multiple of 28; of 32 for Qwen3-VL).")
    width: int = Field(description="Frame width fed to the model (multiple of 28; of 32 for Qwen3-VL).")
    visual_tokens: int = Field(description="LLM tokens the window cost after the 2x2 merge.")
    pts_seconds: list[float] = Field(description="True presentation time of every frame the model saw.")
    temporal_ids: list[int] = Field(
        description="MRoPE temporal ID of each temporal patch, relative to the window (all 0 for Qwen3-VL, "
        "which reads time from <t seconds> text)."
    )
    cached: bool = Field(
        default=False, description="True when the vision features came from the visual cache."
    )
    stale_targets: int = Field(
        default=0,
        description="Target instants whose frame is far from them (a damaged stretch, or past the end "
        "of the stream): the model saw the last good frame repeated there.",
    )


class TextCue(_Model):
    """One subtitle / transcript cue, absolute seconds on the video's timeline (``videoqa.text.Cue``)."""

    start_seconds: float
    end_seconds: float
    text: str
    language: str | None = None
    source: str = Field(default="", description="'sidecar:talk.en.srt', 'stream:2' or 'asr:<model>'.")


class SubtitleUsage(_Model):
    """The timed text an answer had: where it came from and the cues inside the windows the model saw."""

    kind: Literal["sidecar", "stream", "asr"] | None = Field(
        default=None, description="sidecar file, subtitle stream, speech recognition; None: no text found."
    )
    source: str | None = Field(
        default=None, description="The file or stream read, e.g. 'stream:2 (mov_text, eng)'."
    )
    language: str | None = None
    cues: list[TextCue] = Field(
        default_factory=list,
        description="Cues overlapping the windows of the answer (each prompt carried those of its windows, "
        "within Settings.subtitles_max_tokens).",
    )
    notes: list[str] = Field(default_factory=list, description="What was not used, and why.")


class Step(_Model):
    """One pass of a strategy: the windows it looked at and what the model said on each."""

    name: str = Field(
        description="'single', 'coarse', 'fine', 'search' (later rounds of the grounding search), or "
        "'fallback_single' (a qa/choice question whose "
        "coarse pass found no candidate is answered over one window of the whole video)."
    )
    windows: list[WindowUsage]
    raw_texts: list[str] = Field(description="The model's text for each request of this step, in order.")
    spans: list[Span] = Field(default_factory=list, description="Spans found in this step, absolute seconds.")
    prompt_tokens: list[int] = Field(
        default_factory=list,
        description="Prompt tokens of each request of this step (video tokens included).",
    )
    reused_prompt_tokens: list[int] = Field(
        default_factory=list,
        description="Of those, the tokens served from a prefix prefilled once for another question about the "
        "same windows (not computed again).",
    )
    notes: list[str] = Field(
        default_factory=list,
        description="The grounding search's account of this step: each look, what it found, and why it "
        "was kept, refined or dropped.",
    )


class Analysis(_Model):
    """The structured answer to one question about one video."""

    video: str
    question: Question
    answer: str = Field(description="Final answer text (for grounding: the span as text).")
    choice: str | None = Field(
        default=None, description="Option letter for task='choice', None if none was found."
    )
    spans: list[Span] = Field(
        default_factory=list, description="Grounded spans, absolute seconds, clamped to the video."
    )
    parse_error: str | None = Field(default=None, description="Why no span or letter could be read, if so.")
    outcome: AnswerOutcome = Field(
        default="answered",
        description="answered; no_event (the model says the event does not occur: no span, not an "
        "error); unparsed (no span or letter could be read, see parse_error).",
    )
    raw_text: str = Field(description="The model's final text, unedited.")
    model_id: str
    model_family: str | None = Field(
        default=None,
        description="qwen3-vl, qwen2.5-vl or qwen2-vl: how time reached the model (None: not stated, or "
        "an analysis written before videoqa recorded it).",
    )
    strategy: ResolvedStrategy
    video_duration_seconds: float
    video_start_seconds: float = 0.0
    video_stream_index: int = Field(
        default=0, description="Index in the file of the video stream read (FFmpeg's best one unless set)."
    )
    steps: list[Step]
    settings: Settings | None = Field(
        default=None,
        description="The settings the answer was produced with (strategy as asked); "
        "None only in analyses written before videoqa recorded them.",
    )
    config_hash: str | None = Field(
        default=None, description="videoqa.config_hash(model_id, settings): names model and settings."
    )
    timings_seconds: dict[str, float] = Field(default_factory=dict, description="Wall time per stage.")
    subtitles: SubtitleUsage | None = Field(
        default=None,
        description="The timed text (subtitles, transcript) the answer was given; None: none asked for.",
    )

    @property
    def windows(self) -> list[WindowUsage]:
        return [w for step in self.steps for w in step.windows]

    @property
    def visual_tokens(self) -> int:
        """Visual tokens of every window this answer's requests used (shared windows included)."""
        return sum(w.visual_tokens for w in self.windows)

    @property
    def model_calls(self) -> int:
        """Generation requests made for this answer (one per coarse window and per fine look)."""
        return sum(len(step.raw_texts) for step in self.steps)

    def to_html(self, *, thumbnails: bool = True) -> str:
        """This analysis as one self-contained HTML page: answer, spans on a timeline, each step.

        ``thumbnails`` decodes the frames at each span's start and end from ``self.video``
        (a missing video gives placeholders, never an error). See :mod:`videoqa.report`.
        """
        from videoqa.report import render_analysis_html

        return render_analysis_html(self, thumbnails=thumbnails)
