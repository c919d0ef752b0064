"""How a question about a long video is split into passes: ``single`` and ``coarse_to_fine``.

Planning and bookkeeping; the passes run in :mod:`videoqa.core._passes` against the small
:class:`~videoqa.core._passes.PassRunner` interface the session (:mod:`videoqa.core._session`) implements.

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
from collections.abc import Sequence
from dataclasses import dataclass

from videoqa.analysis import Question, ResolvedStrategy, Span
from videoqa.core.parsing import ParsedSpan
from videoqa.core.prompts import build_prompt, search_prompt
from videoqa.core.settings import DEFAULT_PROMPT_STYLE, STRATEGIES, PromptStyle, Settings, Strategy
from videoqa.model.families import SamplingProfile
from videoqa.video._sampling import even_frames, plan_sampling
from videoqa.video._types import SamplingPlan, VideoInfo, Window

__all__ = [
    "STRATEGIES",
    "Candidate",
    "FirstPass",
    "ResolvedStrategy",
    "candidate_regions",
    "coarse_plan",
    "coarse_uncertainty_seconds",
    "fine_plan",
    "first_pass_plan",
    "first_pass_prompt",
    "map_spans",
    "rank_regions",
    "resolve_strategy",
    "single_plan",
]


def resolve_strategy(strategy: Strategy | str, info: VideoInfo, options: Settings) -> ResolvedStrategy:
    """``auto`` -> ``coarse_to_fine`` when ``max_frames / duration < min_single_fps``, else ``single``."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if strategy != "auto":
        return strategy  # type: ignore[return-value]
    single_fps = even_frames(options.max_frames) / info.duration_seconds
    return "coarse_to_fine" if single_fps < options.min_single_fps else "single"


def _budgets(options: Settings, profile: SamplingProfile) -> dict:
    """``plan_sampling`` budgets of ``options`` for the model family of ``profile`` (see SamplingProfile)."""
    budgets = options.budgets()
    pixels = {n: budgets.pop(n) for n in ("min_pixels", "max_pixels", "total_pixels")}
    return {**budgets, **profile.plan_kwargs(**pixels), "pixels_as_given": True}


def single_plan(info: VideoInfo, options: Settings, profile: SamplingProfile) -> SamplingPlan:
    return plan_sampling(info, fps=options.fps, **_budgets(options, profile))


def coarse_plan(info: VideoInfo, options: Settings, profile: SamplingProfile) -> SamplingPlan:
    return plan_sampling(
        info,
        fps=options.coarse_fps,
        window_seconds=options.coarse_window_seconds,
        **_budgets(options, profile),
    )


@dataclass(frozen=True)
class FirstPass:
    """The strategy a question is run with and the plan of its first pass."""

    strategy: ResolvedStrategy
    plan: SamplingPlan


def first_pass_plan(info: VideoInfo, settings: Settings, profile: SamplingProfile) -> FirstPass:
    """The one derivation of the first pass: ``settings.strategy`` resolved, and its plan.

    ``single``: one window over the video; ``coarse_to_fine``: the coarse windows. The Session, the
    strategies and the batch job's decode stage all call this, so pre-decoded clips always match.
    ``profile`` is the model family's (``model.sampling``): token size and where instants fall.
    """
    strategy = resolve_strategy(settings.strategy, info, settings)
    planner = single_plan if strategy == "single" else coarse_plan
    plan = planner(info, settings, profile)
    return FirstPass(strategy, plan)


def fine_plan(
    info: VideoInfo,
    regions: Sequence[tuple[float, float]],
    options: Settings,
    profile: SamplingProfile,
) -> SamplingPlan:
    """One window per region at ``fine_fps``, indexed 0..n-1 in the order given."""
    windows: list[Window] = []
    template = None
    budgets = _budgets(options, profile)
    for a, b in regions:
        plan = plan_sampling(info, fps=options.fine_fps, start_seconds=a, end_seconds=b, **budgets)
        template = plan
        windows += [dataclasses.replace(w, index=len(windows) + i) for i, w in enumerate(plan.windows)]
    if template is None:
        raise ValueError("fine_plan needs at least one region")
    return dataclasses.replace(template, windows=tuple(windows))


def first_pass_prompt(
    question: Question, strategy: ResolvedStrategy, *, style: PromptStyle = DEFAULT_PROMPT_STYLE
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


def coarse_uncertainty_seconds(window: Window, fine_padding_seconds: float) -> float:
    """How far a span the model states in coarse ``window`` may be from the event, at least (the
    grounding search's overlap between looks and margin of a refine look).

    ``max(fine_padding_seconds, second_per_grid + 1 / sampled_fps)``: the model states a time to one
    temporal patch, and the event may begin up to one frame interval before the first frame that
    showed it (6 s for 0.5 fps and 2-frame patches).
    """
    return max(fine_padding_seconds, window.second_per_grid + 1.0 / window.sampled_fps)


def candidate_regions(
    found: Sequence[tuple[Span, float]], info: VideoInfo, options: Settings
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
