"""Running the passes of a strategy: the session interface they need, and the answers they make.

The planning lives in :mod:`videoqa.core._strategies`; the session (:mod:`videoqa.core._session`)
implements :class:`PassRunner` (model, visual cache, decoding). See ``_strategies`` for what each
strategy does and how times are mapped.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from videoqa.analysis import Analysis, AnswerOutcome, Question, Span, Step, SubtitleUsage, TextCue
from videoqa.core._cache import window_fingerprint
from videoqa.core._heard_pass import transcript_steps
from videoqa.core._strategies import (
    Candidate,
    ResolvedStrategy,
    candidate_regions,
    fine_plan,
    first_pass_plan,
    first_pass_prompt,
    map_spans,
    rank_regions,
    single_plan,
)
from videoqa.core.parsing import ParsedSpan, parse_choice, parse_spans
from videoqa.core.prompts import build_prompt, option_letters
from videoqa.core.settings import Settings, model_config_hash
from videoqa.errors import ModelError
from videoqa.model._protocol import Generation, GenerationRequest, VisualFeatures
from videoqa.model.families import SamplingProfile
from videoqa.text._types import Cue, TimedText, Transcript
from videoqa.video._types import Clip, SamplingPlan, VideoInfo, Window

__all__ = ["Encoded", "Outcome", "PassRunner", "StageTimer", "interpret", "run_questions", "timed_text"]


@dataclass
class Encoded:
    """One window's features and whether they came from the visual cache."""

    features: VisualFeatures
    cached: bool


class StageTimer:
    """Wall time per stage (``with timer("decode"): ...``), summed over a call."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start


class PassRunner(Protocol):
    """What a strategy needs from its session: settings, window features, answers, step records."""

    settings: Settings
    model_id: str
    sampling: SamplingProfile
    """The model family's sampling needs (token size, where instants fall)."""

    def encode_plan(
        self, source: str, plan: SamplingPlan, timer: StageTimer, clips: Sequence[Clip] | None = None
    ) -> list[Encoded]:
        """Features of every window of ``plan`` (cached, given in ``clips``, or decoded and encoded)."""
        ...

    def generate(self, requests: Sequence[GenerationRequest], timer: StageTimer) -> list[Generation]:
        """One :class:`Generation` per request, in order, under ``settings``' generation options."""
        ...

    def make_step(
        self,
        name: str,
        encoded: Sequence[Encoded],
        generations: Sequence[Generation],
        spans: Sequence[Span] = (),
    ) -> Step:
        """The :class:`Step` record of one pass over ``encoded``."""
        ...


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
    settings = run.settings
    return Analysis(
        video=run.source,
        question=question,
        answer=outcome.answer,
        choice=outcome.choice,
        spans=outcome.spans,
        parse_error=outcome.parse_error,
        outcome=outcome.outcome,
        raw_text=raw_text,
        model_id=run.session.model_id,
        model_family=run.session.sampling.family,
        strategy=run.strategy,
        settings=settings,
        config_hash=model_config_hash(run.session.model_id, settings),
        video_duration_seconds=run.info.duration_seconds,
        video_start_seconds=run.info.start_seconds,
        video_stream_index=run.info.stream_index,
        steps=steps,
        timings_seconds=timings,
        subtitles=_subtitle_usage(run, steps),
    )


def _subtitle_usage(run: _Run, steps: list[Step]) -> SubtitleUsage | None:
    """What timed text the answer had: the transcript's origin and its cues inside the windows seen."""
    t = run.transcript
    if t is None:
        return None
    seen = [(w.start_seconds, w.end_seconds) for step in steps for w in step.windows]
    seen += [
        (s.start_seconds, s.end_seconds) for step in steps if step.name == "transcript" for s in step.spans
    ]
    cues = sorted(
        {c for a, b in seen for c in t.between(a, b)}, key=lambda c: (c.start_seconds, c.end_seconds)
    )
    return SubtitleUsage(
        kind=t.kind,
        source=t.source,
        language=t.language,
        cues=[TextCue(**vars(c)) for c in cues],
        notes=list(t.notes),
    )


def timed_text(
    t: Transcript | None, settings: Settings, features: Sequence[VisualFeatures]
) -> TimedText | None:
    """The cues a request over ``features`` carries (those overlapping its windows), or None."""
    budget = settings.subtitles_max_tokens
    if t is None or not t.cues or budget == 0:
        return None
    cues: dict[Cue, None] = {}
    for f in features:
        cues.update(dict.fromkeys(t.between(f.window.start_seconds, f.window.end_seconds)))
    ordered = tuple(sorted(cues, key=lambda c: (c.start_seconds, c.end_seconds)))
    return TimedText(ordered, budget) if ordered else None


def _request(run: _Run, features: Sequence[VisualFeatures], prompt: str) -> GenerationRequest:
    return GenerationRequest(
        tuple(features), prompt, timed_text=timed_text(run.transcript, run.settings, features)
    )


@dataclass
class _Run:
    session: PassRunner
    source: str
    info: VideoInfo
    strategy: ResolvedStrategy
    timer: StageTimer
    started: float
    transcript: Transcript | None = None
    """The video's timed text (``videoqa.text.load_cues``); None when none was asked for."""

    @property
    def settings(self) -> Settings:
        return self.session.settings

    @property
    def profile(self) -> SamplingProfile:
        return self.session.sampling


def stage(session: Any, label: str) -> None:
    """Name the pass whose windows come next on the session's progress bars (if it has any)."""
    progress = getattr(session, "progress", None)
    if progress is not None:
        progress.stage(label)


def sampling_profile(model: Any) -> SamplingProfile:
    """The sampling needs of ``model``'s family (``model.sampling``); a model stating none is an error."""
    profile = getattr(model, "sampling", None)
    if not isinstance(profile, SamplingProfile):
        raise ModelError(
            f"{getattr(model, 'model_id', model)!r} states no sampling profile (model.sampling, a "
            "videoqa.model.families.SamplingProfile); give it its family's: family(name).sampling."
        )
    return profile


def run_questions(
    session: PassRunner,
    source: str,
    info: VideoInfo,
    questions: Sequence[Question],
    clips: Sequence[Clip] | None,
    timer: StageTimer,
    started: float,
    transcript: Transcript | None = None,
) -> list[Analysis]:
    """Run ``session.settings.strategy`` for ``questions`` on one video (see :class:`videoqa.Session`).

    ``transcript``: the video's timed text; each prompt carries the cues inside its windows.
    """
    with timer("plan"):
        first_pass = first_pass_plan(info, session.settings, session.sampling)
    run = _Run(session, source, info, first_pass.strategy, timer, started, transcript)
    heard = {  # grounding what is said: from the cues (videoqa.core._heard_pass)
        i: _analysis(
            run, questions[i], [step], Outcome("\n".join(map(_span_text, step.spans)), step.spans), text
        )
        for i, (step, text) in transcript_steps(transcript, questions).items()
    }
    asked = [q for i, q in enumerate(questions) if i not in heard]
    answers = iter(_run_strategy(run, first_pass, asked, clips) if asked else [])
    return [heard[i] if i in heard else next(answers) for i in range(len(questions))]


def _run_strategy(run: _Run, first_pass: Any, questions: Sequence[Question], clips: Any) -> list[Analysis]:
    stage(run.session, "single pass" if first_pass.strategy == "single" else "coarse pass")
    first = run.session.encode_plan(run.source, first_pass.plan, run.timer, clips)
    if first_pass.strategy == "single":
        return _run_single(run, questions, first)
    return _run_coarse_to_fine(run, questions, first)


def _run_single(run: _Run, questions: Sequence[Question], first: list) -> list[Analysis]:
    features = tuple(e.features for e in first)
    style = run.settings.prompt_style
    requests = [_request(run, features, first_pass_prompt(q, "single", style=style)) for q in questions]
    generations = run.session.generate(requests, run.timer)
    origin = features[0].window.start_seconds
    analyses = []
    for question, generation in zip(questions, generations, strict=True):
        outcome = interpret(question, generation.text, origin_seconds=origin, info=run.info)
        step = run.session.make_step("single", first, [generation], outcome.spans)
        analyses.append(_analysis(run, question, [step], outcome, generation.text))
    return analyses


@dataclass
class _Search:
    """The coarse pass's result for one question."""

    generations: list[Generation]
    spans: list[Span]
    candidates: list[Candidate]
    reason: str | None
    fine_windows: list[Window] = dataclasses.field(default_factory=list)
    found: list[tuple[Span, Window]] = dataclasses.field(default_factory=list)
    """Each coarse span with the coarse window it came from (the grounding search's leads)."""

    @property
    def texts(self) -> list[str]:
        return [g.text for g in self.generations]


def _coarse_search(run: _Run, question: Question, coarse: list, generations: list[Generation]) -> _Search:
    found: list[tuple[Span, float]] = []
    reason = None
    for item, generation in zip(coarse, generations, strict=True):
        w = item.features.window
        parsed = parse_spans(generation.text)
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
        found += [(span, w) for span in spans]
    pairs = [(span, w.sampled_fps) for span, w in found]
    candidates = candidate_regions(pairs, run.info, run.settings)
    return _Search(list(generations), [span for span, _ in found], candidates, reason, found=found)


def _searched(run: _Run, question: Question, search: _Search) -> bool:
    """Grounding with a search budget runs the fine search of ``_search`` (else today's one look)."""
    return question.task == "grounding" and run.settings.search_budget > 0 and bool(search.found)


def _encode_unique(run: _Run, windows: list[Window]) -> dict[str, Encoded]:
    """Encode each distinct window once (several questions often share a region)."""
    unique: dict[str, Window] = {}
    for w in windows:
        unique.setdefault(window_fingerprint(w), w)
    if not unique:
        return {}
    plan = SamplingPlan(
        source=run.info.source,
        windows=tuple(dataclasses.replace(w, index=i) for i, w in enumerate(unique.values())),
        target_fps=run.settings.fine_fps,
        min_pixels=run.settings.min_pixels,
        max_pixels=run.settings.max_pixels,
        total_pixels=run.settings.total_pixels,
        stream_index=run.info.stream_index,
    )
    return dict(zip(unique, run.session.encode_plan(run.source, plan, run.timer), strict=True))


def _run_coarse_to_fine(run: _Run, questions: Sequence[Question], coarse: list) -> list[Analysis]:
    session, style, n = run.session, run.settings.prompt_style, len(coarse)
    requests = [
        _request(run, (e.features,), first_pass_prompt(q, "coarse_to_fine", style=style))
        for q in questions
        for e in coarse
    ]
    found = session.generate(requests, run.timer)
    searches = [_coarse_search(run, q, coarse, found[i * n : (i + 1) * n]) for i, q in enumerate(questions)]
    searched = [_searched(run, q, s) for q, s in zip(questions, searches, strict=True)]
    with run.timer("plan"):
        for s, by_search in zip(searches, searched, strict=True):
            if s.candidates and not by_search:
                s.fine_windows = list(
                    fine_plan(run.info, [c.region for c in s.candidates], run.settings, run.profile).windows
                )
    stage(session, "fine pass")
    encoded = _encode_unique(run, [w for s in searches for w in s.fine_windows])
    fallback = None
    needs_fallback = [
        not s.candidates and q.task in ("qa", "choice") for q, s in zip(questions, searches, strict=True)
    ]
    if any(needs_fallback):
        with run.timer("plan"):
            plan = single_plan(run.info, run.settings, run.profile)
        fallback = session.encode_plan(run.source, plan, run.timer)
    fine_requests, owners = [], []
    for i, (q, s) in enumerate(zip(questions, searches, strict=True)):
        fine = [encoded[window_fingerprint(w)] for w in s.fine_windows]
        prompt = build_prompt(q, style=style)
        if searched[i]:
            continue
        if q.task in ("grounding", "events"):
            fine_requests += [_request(run, (e.features,), prompt) for e in fine]
            owners += [i] * len(fine)
        else:
            fine_requests.append(_request(run, [e.features for e in (fine or fallback)], prompt))
            owners.append(i)
    fine_generations: list[list[Generation]] = [[] for _ in questions]
    for i, generation in zip(owners, session.generate(fine_requests, run.timer), strict=True):
        fine_generations[i].append(generation)
    results = _search_fine(run, questions, searches, searched, coarse)
    return [
        results[i]
        if searched[i]
        else _finish(run, q, s, coarse, [encoded[window_fingerprint(w)] for w in s.fine_windows], g, fallback)
        for i, (q, s, g) in enumerate(zip(questions, searches, fine_generations, strict=True))
    ]


def _search_fine(run: _Run, questions, searches, searched, coarse) -> dict[int, Analysis]:
    """The grounding questions run through the fine search (:mod:`videoqa.core._search_run`)."""
    from videoqa.core._search_run import run_searches

    chosen = [i for i, flag in enumerate(searched) if flag]
    if not chosen:
        return {}
    coarse_tokens = sum(e.features.window.visual_tokens for e in coarse)
    results = run_searches(
        run,
        [questions[i] for i in chosen],
        [searches[i].found for i in chosen],
        coarse_tokens,
        lambda windows: _encode_unique(run, windows),
        getattr(run.session, "progress", None),
    )
    analyses = {}
    for i, result in zip(chosen, results, strict=True):
        coarse_step = run.session.make_step("coarse", coarse, searches[i].generations, searches[i].spans)
        if result.no_event:
            outcome = Outcome("", [], outcome="no_event")
        else:
            text = "\n".join(_span_text(s) for s in result.spans)
            outcome = Outcome(text, result.spans, parse_error=result.error)
        analyses[i] = _analysis(run, questions[i], [coarse_step, *result.steps], outcome, result.raw_text)
    return analyses


def _finish(run: _Run, question, search: _Search, coarse, fine, generations, fallback) -> Analysis:
    session = run.session
    texts = [g.text for g in generations]
    steps = [session.make_step("coarse", coarse, search.generations, search.spans)]
    if question.task in ("qa", "choice"):
        evidence, name = (fine, "fine") if fine else (fallback, "fallback_single")
        outcome = interpret(
            question, texts[0], origin_seconds=evidence[0].features.window.start_seconds, info=run.info
        )
        steps.append(session.make_step(name, evidence, generations))
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
    steps.append(session.make_step("fine", fine, generations, [s for spans in per_region for s in spans]))
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
