"""Running the fine search of :mod:`videoqa.core._search` for the grounding questions of one call.

Rounds: every question's search proposes its next fine windows; the distinct windows of a round are
encoded once (visual cache and prefix reuse work as for any pass), one ``generate`` call answers
every look of the round, and each search reads its answers. A round is one ``Step`` (``fine`` for
the first looks, ``search`` after), its ``notes`` saying why each look was kept or dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from videoqa.analysis import Question, Span, Step
from videoqa.core._cache import window_fingerprint
from videoqa.core._search import GroundingSearch, leads_from_coarse
from videoqa.core._strategies import fine_plan, map_spans, rank_regions
from videoqa.core.parsing import parse_spans
from videoqa.core.prompts import build_prompt
from videoqa.model._protocol import GenerationRequest
from videoqa.video._types import Window

__all__ = ["SearchResult", "run_searches"]


@dataclass
class SearchResult:
    """A question's search: its steps, final spans (ranked), raw text and why it is empty if so."""

    steps: list[Step]
    spans: list[Span]
    raw_text: str
    error: str | None
    no_event: bool


def run_searches(
    run: Any,
    questions: Sequence[Question],
    found: Sequence[Sequence[tuple[Span, Window]]],
    coarse_tokens: int,
    encode: Callable[[list[Window]], dict[str, Any]],
    progress: Any = None,
) -> list[SearchResult]:
    """Search each question from its coarse spans (paired with their coarse windows)."""
    settings, info = run.settings, run.info

    def plan(region: tuple[float, float]) -> Window:
        return fine_plan(info, [region], settings, run.profile).windows[0]

    searches = [
        GroundingSearch(
            leads_from_coarse(
                spans,
                info,
                fine_padding_seconds=settings.fine_padding_seconds,
                max_candidates=settings.max_candidates,
            ),
            info,
            plan=plan,
            budget_tokens=settings.search_budget * coarse_tokens,
            grid_seconds=2.0 / settings.fine_fps,  # a temporal patch: 2 frames in every family here
            occurrences=q.occurrences,
        )
        for q, spans in zip(questions, found, strict=True)
    ]
    steps: list[list[Step]] = [[] for _ in questions]
    round_index = 0
    while True:
        with run.timer("plan"):
            looks = [(i, look) for i, s in enumerate(searches) for look in s.next_looks()]
        if not looks:
            break
        round_index += 1
        if progress is not None:
            progress.stage(f"search round {round_index}")
        encoded = encode([look.window for _, look in looks])
        requests = [
            GenerationRequest(
                (encoded[window_fingerprint(look.window)].features,),
                build_prompt(questions[i], style=settings.prompt_style),
            )
            for i, look in looks
        ]
        generations = run.session.generate(requests, run.timer)
        by_question: dict[int, list] = {}
        for (i, look), generation in zip(looks, generations, strict=True):
            w = look.window
            parsed = parse_spans(generation.text)
            seen = (w.start_seconds, w.end_seconds)
            spans = map_spans(parsed.spans, origin_seconds=seen[0], info=info, keep_labels=False, within=seen)
            searches[i].observe(look, generation.text, spans, absent=parsed.absent)
            by_question.setdefault(i, []).append((look, encoded[window_fingerprint(w)], generation))
        for i, items in by_question.items():
            step = run.session.make_step(
                "fine" if round_index == 1 else "search",
                [e for _, e, _ in items],
                [g for _, _, g in items],
                [s for look, _, _ in items for s in look.spans],
            )
            steps[i].append(step.model_copy(update={"notes": [look.note for look, _, _ in items]}))
        if progress is not None:
            progress.update_search(round_index, sum(len(s.looks) for s in searches))
    return [_result(s, st) for s, st in zip(searches, steps, strict=True)]


def _result(search: GroundingSearch, steps: list[Step]) -> SearchResult:
    if steps and search.notes:
        steps[-1] = steps[-1].model_copy(update={"notes": steps[-1].notes + search.notes})
    found = search.found
    if not found:
        leads = [s.lead for s in search.leads]
        if search.dropped or not search.said_absent:
            spans = [Span(start_seconds=lead.coarse[0], end_seconds=lead.coarse[1]) for lead in leads]
            why = (
                f"within its budget ({search.spent_tokens} visual tokens)"
                if search.dropped
                else "(no fine look gave a readable span)"
            )
            error = (
                f"the fine search did not confirm any of {len(leads)} coarse lead(s) {why}; "
                "these spans are the coarse pass's"
            )
            return SearchResult(steps, spans, search.looks[0].text if search.looks else "", error, False)
        raw = search.looks[0].text or ""
        return SearchResult(steps, [], raw, None, True)
    if search.occurrences == "all":
        spans = _merge(sorted((span for _, span in found), key=lambda s: (s.start_seconds, s.end_seconds)))
        raw = "\n".join(look.text or "" for look in search.looks if look.spans)
        return SearchResult(steps, spans, raw, None, False)
    order = rank_regions([([span], search.leads[i].lead.coarse) for i, span in found])
    spans = [found[k][1] for k in order]
    best = found[order[0]][0]
    raw = next(look.text for look in reversed(search.looks) if look.lead == best and look.spans)
    return SearchResult(steps, spans, raw or "", None, False)


def _merge(spans: list[Span]) -> list[Span]:
    """Overlapping spans (in time order) merged: the same occurrence found from two leads."""
    merged: list[Span] = []
    for span in spans:
        if merged and span.start_seconds <= merged[-1].end_seconds:
            last = merged[-1]
            merged[-1] = Span(
                start_seconds=last.start_seconds, end_seconds=max(last.end_seconds, span.end_seconds)
            )
        else:
            merged.append(span)
    return merged
