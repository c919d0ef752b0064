"""How a question about a long video is split into passes: ``single`` and ``coarse_to_fine``.

Planning, bookkeeping and the run of the passes; the session (:mod:`videoqa._session`) supplies
the model, the visual cache and decoding.

- ``single`` is the Qwen2.5-VL report's recipe: one window over the whole video, sampled at
  ``fps`` within the frame and pixel budgets (``max_frames`` caps the frame count, so on long
  videos the sampled rate drops).
- ``coarse_to_fine``: a **coarse** pass over consecutive windows of ``coarse_window_seconds``
  at ``coarse_fps`` asks where the query (or, for qa/choice, content relevant to the question)
  happens; each span found becomes a candidate region, padded by
  ``max(fine_padding_seconds, one coarse frame interval)`` on both sides, clamped to the video,
  overlapping regions merged, at most ``max_candidates`` kept (earliest first). A **fine** pass
  re-looks at each region at ``fine_fps`` (2 fps): for grounding/events it decides the final
  second-level spans; for qa/choice the fine windows are the evidence the question is asked on.
- ``auto`` picks ``coarse_to_fine`` when one window would be sampled below ``min_single_fps``:
  ``max_frames / duration < min_single_fps`` (0.5 fps by default: 768 frames cover 25.6 min).

Steps recorded in ``Analysis.steps``: ``single``; or ``coarse`` then ``fine``. When the coarse pass
finds nothing: grounding/events stop there (no span, ``parse_error`` says so); qa/choice are asked
over one ``single``-style window of the whole video, recorded as ``fallback_single``. When the fine
pass of grounding/events finds nothing, the coarse spans are returned and ``parse_error`` says so.

Time mapping: a request's answer is relative to the start of its first window (one window per
request here, except the qa/choice evidence request), so ``absolute = relative + start_seconds``;
a coarse or fine span is then clamped to the window the model saw (dropped when wholly outside it),
a single-pass span to the video.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from videoqa._cache import window_fingerprint
from videoqa.analysis import Analysis, AnswerOutcome, Question, Span, Step, Strategy
from videoqa.model._protocol import GenerationRequest
from videoqa.parsing import ParsedSpan, parse_choice, parse_spans
from videoqa.prompts import PromptStyle, build_prompt, option_letters, search_prompt
from videoqa.video._sampling import (
    DEFAULT_FPS,
    DEFAULT_MAX_FRAMES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_MIN_FRAMES,
    DEFAULT_MIN_PIXELS,
    DEFAULT_TOTAL_PIXELS,
    check_budgets,
    even_frames,
    int_at_least,
    plan_sampling,
    positive_real,
)
from videoqa.video._types import SamplingPlan, VideoInfo, Window

__all__ = [
    "STRATEGIES",
    "Candidate",
    "ResolvedStrategy",
    "StrategyOptions",
    "candidate_regions",
    "coarse_plan",
    "fine_plan",
    "first_pass_prompt",
    "map_spans",
    "rank_regions",
    "resolve_strategy",
    "single_plan",
]

ResolvedStrategy = Literal["single", "coarse_to_fine"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)


@dataclass(frozen=True)
class StrategyOptions:
    """Sampling budgets and search settings shared by every question of a session."""

    fps: float = DEFAULT_FPS
    min_frames: int = DEFAULT_MIN_FRAMES
    max_frames: int = DEFAULT_MAX_FRAMES
    min_pixels: int = DEFAULT_MIN_PIXELS
    max_pixels: int = DEFAULT_MAX_PIXELS
    total_pixels: float = DEFAULT_TOTAL_PIXELS
    coarse_fps: float = 0.5
    coarse_window_seconds: float = 600.0
    fine_fps: float = 2.0
    fine_padding_seconds: float = 3.0
    max_candidates: int = 4
    min_single_fps: float = 0.5

    def __post_init__(self) -> None:
        # The sampling budgets are checked here, by plan_sampling's own rules, so a bad setting fails
        # when the Session is built rather than at the first question.
        check_budgets(fps=self.fps, **self.budgets())
        for name in ("coarse_fps", "coarse_window_seconds", "fine_fps", "min_single_fps"):
            positive_real(name, getattr(self, name))
        padding = self.fine_padding_seconds
        if isinstance(padding, bool) or not isinstance(padding, (int, float)) or not padding >= 0:
            raise ValueError(f"fine_padding_seconds must be >= 0 (a number of seconds), got {padding!r}")
        int_at_least("max_candidates", self.max_candidates, 1)

    def budgets(self) -> dict:
        """The per-window budgets of :func:`videoqa.plan_sampling`, without the rate."""
        return dict(
            min_frames=self.min_frames,
            max_frames=self.max_frames,
            min_pixels=self.min_pixels,
            max_pixels=self.max_pixels,
            total_pixels=self.total_pixels,
        )


def resolve_strategy(strategy: Strategy | str, info: VideoInfo, options: StrategyOptions) -> ResolvedStrategy:
    """``auto`` -> ``coarse_to_fine`` when ``max_frames / duration < min_single_fps``, else ``single``."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if strategy != "auto":
        return strategy  # type: ignore[return-value]
    single_fps = even_frames(options.max_frames) / info.duration_seconds
    return "coarse_to_fine" if single_fps < options.min_single_fps else "single"


def single_plan(info: VideoInfo, options: StrategyOptions) -> SamplingPlan:
    return plan_sampling(info, fps=options.fps, **options.budgets())


def coarse_plan(info: VideoInfo, options: StrategyOptions) -> SamplingPlan:
    return plan_sampling(
        info, fps=options.coarse_fps, window_seconds=options.coarse_window_seconds, **options.budgets()
    )


def fine_plan(
    info: VideoInfo, regions: Sequence[tuple[float, float]], options: StrategyOptions
) -> SamplingPlan:
    """One window per region at ``fine_fps``, indexed 0..n-1 in the order given."""
    windows: list[Window] = []
    template = None
    for a, b in regions:
        plan = plan_sampling(info, fps=options.fine_fps, start_seconds=a, end_seconds=b, **options.budgets())
        template = plan
        windows += [dataclasses.replace(w, index=len(windows) + i) for i, w in enumerate(plan.windows)]
    if template is None:
        raise ValueError("fine_plan needs at least one region")
    return dataclasses.replace(template, windows=tuple(windows))


def first_pass_prompt(
    question: Question, strategy: ResolvedStrategy, *, style: PromptStyle = "qwen_cookbook"
) -> str:
    """The first pass's prompt: the question's own, or the search prompt for a coarse qa/choice pass."""
    if strategy == "coarse_to_fine" and question.task in ("qa", "choice"):
        return search_prompt(question.question)
    return build_prompt(question, style=style)


def map_spans(
    parsed: Sequence[ParsedSpan],
    *,
    origin_seconds: float,
    info: VideoInfo,
    keep_labels: bool,
    within: tuple[float, float] | None = None,
) -> list[Span]:
    """Model-relative spans -> absolute seconds: ``+ origin``, reversed swapped, clamped to the video.

    ``within`` (absolute) additionally clamps to what the model saw; a span lying wholly
    outside the video (or ``within``) is dropped.
    """
    lo, hi = info.start_seconds, info.end_seconds
    if within is not None:
        if within[1] <= lo or within[0] >= hi:
            return []
        lo, hi = max(lo, within[0]), min(hi, within[1])
    spans = []
    for p in parsed:
        start, end = sorted((origin_seconds + p.start_seconds, origin_seconds + p.end_seconds))
        if end < lo or start > hi:  # wholly outside: out of range, not a zero-length span at the end
            continue
        start, end = min(max(start, lo), hi), min(max(end, lo), hi)
        spans.append(Span(start_seconds=start, end_seconds=end, label=p.label if keep_labels else None))
    return spans


@dataclass(frozen=True)
class Candidate:
    """A region for the fine pass and the hull of the coarse spans that led to it (absolute seconds)."""

    region: tuple[float, float]
    coarse: tuple[float, float]


def candidate_regions(
    found: Sequence[tuple[Span, float]], info: VideoInfo, options: StrategyOptions
) -> list[Candidate]:
    """Fine-pass regions from coarse spans; ``found`` pairs each span with its coarse window's fps.

    Each span is padded by ``max(fine_padding_seconds, 1 / coarse fps)`` (the event may begin up
    to one coarse frame before the first frame that showed it), clamped to the video; overlapping
    regions merge; the earliest ``max_candidates`` are kept.
    """
    padded = []
    for span, coarse_fps in found:
        pad = max(options.fine_padding_seconds, 1.0 / coarse_fps)
        a = max(info.start_seconds, span.start_seconds - pad)
        b = min(info.end_seconds, span.end_seconds + pad)
        padded.append(((a, b), (span.start_seconds, span.end_seconds)))
    merged: list[Candidate] = []
    for (a, b), (s, e) in sorted(padded):
        if merged and a <= merged[-1].region[1]:
            last = merged[-1]
            merged[-1] = Candidate(
                region=(last.region[0], max(last.region[1], b)),
                coarse=(min(last.coarse[0], s), max(last.coarse[1], e)),
            )
        else:
            merged.append(Candidate(region=(a, b), coarse=(s, e)))
    return merged[: options.max_candidates]


def _iou(a: Span, b: tuple[float, float]) -> float:
    inter = max(0.0, min(a.end_seconds, b[1]) - max(a.start_seconds, b[0]))
    union = max(a.end_seconds, b[1]) - min(a.start_seconds, b[0])
    return inter / union if union > 0 else 0.0


def rank_regions(per_region: Sequence[tuple[list[Span], tuple[float, float]]]) -> list[int]:
    """Order of the regions whose fine answer holds a span, best first.

    ``per_region`` pairs each region's fine spans with the hull of the coarse spans that led
    there; regions are ranked by the IoU of their first fine span with that hull (agreement of
    the two passes), ties in time order. Regions without a fine span are left out.
    """
    scored = [(-_iou(spans[0], coarse), i) for i, (spans, coarse) in enumerate(per_region) if spans]
    return [i for _, i in sorted(scored)]


# ---------------------------------------------------------------------------------------- running


@dataclass
class Outcome:
    """What one question's final text(s) say, already in absolute time."""

    answer: str
    spans: list[Span]
    choice: str | None = None
    parse_error: str | None = None
    outcome: AnswerOutcome = "answered"


def _seconds(value: float) -> str:
    """Seconds with two decimals, or one when the second is 0: 37.0, 44.5, 1337.25."""
    text = f"{value:.2f}"
    return text[:-1] if text.endswith("0") else text


def _span_text(span: Span) -> str:
    text = f"{_seconds(span.start_seconds)} - {_seconds(span.end_seconds)} seconds"
    return f"{text}: {span.label}" if span.label else text


def _kind(error: str | None) -> AnswerOutcome:
    return "answered" if error is None else "unparsed"


def _out_of_range(parsed: Sequence[ParsedSpan], origin_seconds: float, info: VideoInfo) -> str:
    said = ", ".join(
        f"{_seconds(origin_seconds + p.start_seconds)} - {_seconds(origin_seconds + p.end_seconds)} s"
        for p in parsed[:3]
    )
    return (
        f"the model's span(s) {said} lie outside the video "
        f"({_seconds(info.start_seconds)} - {_seconds(info.end_seconds)} s)"
    )


def interpret(question: Question, text: str, *, origin_seconds: float, info: VideoInfo) -> Outcome:
    """Parse one final answer of ``question``; times are relative to ``origin_seconds``."""
    if question.task in ("grounding", "events"):
        parsed = parse_spans(text)
        spans = map_spans(
            parsed.spans, origin_seconds=origin_seconds, info=info, keep_labels=question.task == "events"
        )
        if parsed.absent:
            return Outcome("", [], outcome="no_event")
        error = parsed.reason or (None if spans else _out_of_range(parsed.spans, origin_seconds, info))
        return Outcome(
            "\n".join(_span_text(s) for s in spans), spans, parse_error=error, outcome=_kind(error)
        )
    if question.task == "choice":
        options = question.options or []
        parsed_choice = parse_choice(text, option_letters(len(options)))
        letter = parsed_choice.letter
        answer = f"({letter}) {options[ord(letter) - ord('A')]}" if letter else text.strip()
        return Outcome(
            answer, [], choice=letter, parse_error=parsed_choice.reason, outcome=_kind(parsed_choice.reason)
        )
    return Outcome(text.strip(), [])


def _analysis(run: _Run, question: Question, steps: list[Step], outcome: Outcome, raw_text: str) -> Analysis:
    timings = dict(run.timer.seconds)
    timings["total"] = time.perf_counter() - run.started
    return Analysis(
        video=run.source,
        question=question,
        answer=outcome.answer,
        choice=outcome.choice,
        spans=outcome.spans,
        parse_error=outcome.parse_error,
        outcome=outcome.outcome,
        raw_text=raw_text,
        model_id=run.session.model.model_id,
        strategy=run.strategy,
        video_duration_seconds=run.info.duration_seconds,
        video_start_seconds=run.info.start_seconds,
        steps=steps,
        timings_seconds=timings,
    )


@dataclass
class _Run:
    session: Any
    source: str
    info: VideoInfo
    strategy: ResolvedStrategy
    timer: Any
    started: float

    @property
    def options(self) -> StrategyOptions:
        return self.session.options


def run_questions(session, source, info, questions, strategy, clips, timer, started) -> list[Analysis]:
    """Run ``strategy`` for ``questions`` on one video with ``session`` (see :class:`videoqa.Session`)."""
    run = _Run(session, source, info, strategy, timer, started)
    with timer("plan"):
        plan = single_plan(info, run.options) if strategy == "single" else coarse_plan(info, run.options)
    first = session.encode_plan(source, plan, timer, clips)
    if strategy == "single":
        return _run_single(run, questions, first)
    return _run_coarse_to_fine(run, questions, first)


def _run_single(run: _Run, questions: Sequence[Question], first: list) -> list[Analysis]:
    features = tuple(e.features for e in first)
    style = run.session.prompt_style
    requests = [GenerationRequest(features, first_pass_prompt(q, "single", style=style)) for q in questions]
    generations = run.session.generate(requests, run.timer)
    origin = features[0].window.start_seconds
    analyses = []
    for question, generation in zip(questions, generations, strict=True):
        outcome = interpret(question, generation.text, origin_seconds=origin, info=run.info)
        step = run.session.make_step("single", first, [generation.text], outcome.spans)
        analyses.append(_analysis(run, question, [step], outcome, generation.text))
    return analyses


@dataclass
class _Search:
    """The coarse pass's result for one question."""

    texts: list[str]
    spans: list[Span]
    candidates: list[Candidate]
    reason: str | None
    fine_windows: list[Window] = dataclasses.field(default_factory=list)


def _coarse_search(run: _Run, question: Question, coarse: list, texts: list[str]) -> _Search:
    found: list[tuple[Span, float]] = []
    reason = None
    for item, text in zip(coarse, texts, strict=True):
        w = item.features.window
        parsed = parse_spans(text)
        spans = map_spans(
            parsed.spans,
            origin_seconds=w.start_seconds,
            info=run.info,
            keep_labels=question.task == "events",
            within=(w.start_seconds, w.end_seconds),
        )
        if parsed.spans and not spans:
            reason = reason or f"the spans of window {w.index} lie outside it"
        reason = reason or parsed.reason
        found += [(span, w.sampled_fps) for span in spans]
    candidates = candidate_regions(found, run.info, run.options)
    return _Search(texts, [span for span, _ in found], candidates, reason)


def _encode_unique(run: _Run, windows: list[Window]) -> dict[str, Any]:
    """Encode each distinct window once (several questions often share a region)."""
    unique: dict[str, Window] = {}
    for w in windows:
        unique.setdefault(window_fingerprint(w), w)
    if not unique:
        return {}
    plan = SamplingPlan(
        source=run.info.source,
        windows=tuple(dataclasses.replace(w, index=i) for i, w in enumerate(unique.values())),
        target_fps=run.options.fine_fps,
        min_pixels=run.options.min_pixels,
        max_pixels=run.options.max_pixels,
        total_pixels=run.options.total_pixels,
    )
    return dict(zip(unique, run.session.encode_plan(run.source, plan, run.timer), strict=True))


def _run_coarse_to_fine(run: _Run, questions: Sequence[Question], coarse: list) -> list[Analysis]:
    session, style, n = run.session, run.session.prompt_style, len(coarse)
    requests = [
        GenerationRequest((e.features,), first_pass_prompt(q, "coarse_to_fine", style=style))
        for q in questions
        for e in coarse
    ]
    texts = [g.text for g in session.generate(requests, run.timer)]
    searches = [_coarse_search(run, q, coarse, texts[i * n : (i + 1) * n]) for i, q in enumerate(questions)]
    with run.timer("plan"):
        for s in searches:
            if s.candidates:
                s.fine_windows = list(
                    fine_plan(run.info, [c.region for c in s.candidates], run.options).windows
                )
    encoded = _encode_unique(run, [w for s in searches for w in s.fine_windows])
    fallback = None
    needs_fallback = [
        not s.candidates and q.task in ("qa", "choice") for q, s in zip(questions, searches, strict=True)
    ]
    if any(needs_fallback):
        with run.timer("plan"):
            plan = single_plan(run.info, run.options)
        fallback = session.encode_plan(run.source, plan, run.timer)
    fine_requests, owners = [], []
    for i, (q, s) in enumerate(zip(questions, searches, strict=True)):
        fine = [encoded[window_fingerprint(w)] for w in s.fine_windows]
        prompt = build_prompt(q, style=style)
        if q.task in ("grounding", "events"):
            fine_requests += [GenerationRequest((e.features,), prompt) for e in fine]
            owners += [i] * len(fine)
        else:
            fine_requests.append(GenerationRequest(tuple(e.features for e in (fine or fallback)), prompt))
            owners.append(i)
    fine_texts: list[list[str]] = [[] for _ in questions]
    for i, generation in zip(owners, session.generate(fine_requests, run.timer), strict=True):
        fine_texts[i].append(generation.text)
    return [
        _finish(run, q, s, coarse, [encoded[window_fingerprint(w)] for w in s.fine_windows], t, fallback)
        for q, s, t in zip(questions, searches, fine_texts, strict=True)
    ]


def _finish(run: _Run, question, search: _Search, coarse, fine, texts, fallback) -> Analysis:
    session = run.session
    steps = [session.make_step("coarse", coarse, search.texts, search.spans)]
    if question.task in ("qa", "choice"):
        evidence, name = (fine, "fine") if fine else (fallback, "fallback_single")
        outcome = interpret(
            question, texts[0], origin_seconds=evidence[0].features.window.start_seconds, info=run.info
        )
        steps.append(session.make_step(name, evidence, texts))
        return _analysis(run, question, steps, outcome, texts[0])
    if not fine:
        if search.reason is None and not search.spans:  # every window said the event is not there
            return _analysis(run, question, steps, Outcome("", [], outcome="no_event"), search.texts[0])
        error = f"the coarse pass found no span in any of its {len(coarse)} windows ({search.reason})"
        return _analysis(
            run, question, steps, Outcome("", [], parse_error=error, outcome="unparsed"), search.texts[0]
        )
    events = question.task == "events"
    per_region, reason = [], None
    for item, text in zip(fine, texts, strict=True):
        parsed = parse_spans(text)
        reason = reason or parsed.reason
        w = item.features.window
        seen = (w.start_seconds, w.end_seconds)  # the model cannot place an event outside its window
        per_region.append(
            map_spans(parsed.spans, origin_seconds=seen[0], info=run.info, keep_labels=events, within=seen)
        )
    steps.append(session.make_step("fine", fine, texts, [s for spans in per_region for s in spans]))
    if events:
        spans = sorted(
            (s for region in per_region for s in region), key=lambda s: (s.start_seconds, s.end_seconds)
        )
        order = [0] if spans else []
    else:
        pairs = [(spans, c.coarse) for spans, c in zip(per_region, search.candidates, strict=True)]
        order = rank_regions(pairs)
        spans = [per_region[i][0] for i in order]
    if not spans:
        spans = [Span(start_seconds=c.coarse[0], end_seconds=c.coarse[1]) for c in search.candidates]
        error = f"the fine pass found no span ({reason}); these spans are the coarse pass's"
        outcome = Outcome("\n".join(_span_text(s) for s in spans), spans, parse_error=error)
        return _analysis(run, question, steps, outcome, texts[0])
    raw = "\n".join(texts) if events else texts[order[0]]
    return _analysis(run, question, steps, Outcome("\n".join(_span_text(s) for s in spans), spans), raw)
