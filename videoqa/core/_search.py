"""The fine search of ``coarse_to_fine`` grounding: it survives a wrong coarse guess, at a bounded cost.

The coarse pass reads long windows at ``coarse_fps`` (one frame every 2 s by default); what it
says is a *lead*, not an answer: the event may start up to one coarse interval before the first
frame that showed it, and a model reading 300 frames at once can place it tens of seconds off (the
tiny grounder: up to 70 s). What the coarse pass knows about its own error:

- the sampling interval ``1 / sampled_fps`` of the window the span came from, and its temporal
  patch (``second_per_grid``): the finest time the model can state there;
- the window's edges: the model saw the event inside that window, so that is where to search
  (a span touching an edge may continue into the neighbour: the bound is widened there);
- the span the model stated (its width and place).

Search, per question (:class:`GroundingSearch`, pure bookkeeping; the rounds run in
:mod:`videoqa.core._search_run`):

1. **Leads** (:func:`leads_from_coarse`): one per coarse span; its *first look* is the region
   ``coarse_to_fine`` has always re-read (the span padded by ``max(fine_padding_seconds,
   interval)``), so its features are shared with qa/choice questions; its uncertainty is
   ``u = max(fine_padding_seconds, second_per_grid + interval)`` of its coarse window (6 s at
   0.5 fps with 2-frame temporal patches); its bound is its coarse window widened by ``u``.
   Leads whose first looks overlap merge; the earliest ``max_candidates`` are kept, in time order.
2. **First looks** (round 1): one fine window (``fine_fps``) per lead. A span there *confirms*
   the lead; ``no_event`` (or no readable span) does not return the coarse span: the lead is
   searched further.
3. **Scan** (rounds 2+, only while no lead is confirmed in ``first`` mode; every unconfirmed
   lead in ``all`` mode): fine windows of ``max(first look, 16 coarse intervals)`` seconds next
   to the looks so far, nearest first, alternating after/before the guess, inside the lead's
   coarse window (widened by ``u``), one window per lead and round, until one shows the event.
4. **Refine**: a confirmed span within one temporal patch plus one frame of an edge of its
   window (and that edge is not the video's) is looked at again through a window extended past
   that edge by ``8`` coarse intervals (16 s at 0.5 fps; not half a long first look: the fine
   model reads a short window around the event best) and ``u`` on the other side; at most twice
   per lead. Scan and refine windows are widened to whole temporal patches at ``fine_fps`` (1 s at
   2 fps). A refine look that finds nothing, or a span that does not overlap the one it refines
   (another event, or a misreading), keeps the span it was refining.

Budget: every fine window's visual tokens count against ``search_budget x`` the coarse pass's
visual tokens; a window that does not fit is not looked at (the first look of the first lead is
always taken). Worst case per question: ``coarse tokens x (1 + search_budget)`` (or coarse + one
first look when that is larger). Every look is recorded with the reason it was kept or dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from videoqa.analysis import Span
from videoqa.core._strategies import coarse_uncertainty_seconds
from videoqa.video._types import VideoInfo, Window

__all__ = ["GroundingSearch", "Lead", "Look", "Occurrences", "leads_from_coarse"]

Occurrences = Literal["first", "all"]
LookKind = Literal["first", "scan", "refine"]
_SCAN_INTERVALS = 16
"""A scan window spans at least this many coarse frame intervals (32 s at 0.5 fps)."""
_REFINE_INTERVALS = 8
"""A refine window reaches this many coarse frame intervals past the edge the span touched."""
_MAX_REFINES = 2


@dataclass(frozen=True)
class Lead:
    """A place the coarse pass named (absolute seconds) and what it knows about its error."""

    coarse: tuple[float, float]
    """The hull of the coarse spans of this lead."""
    bound: tuple[float, float]
    """Where the event can be: the coarse window(s) the span came from, widened by ``uncertainty``."""
    first: tuple[float, float]
    """The first fine look: ``coarse`` padded by ``uncertainty``, clamped to the video."""
    uncertainty_seconds: float
    interval_seconds: float


def leads_from_coarse(
    found: Sequence[tuple[Span, Window]],
    info: VideoInfo,
    *,
    fine_padding_seconds: float,
    max_candidates: int,
) -> list[Lead]:
    """Leads from coarse spans, each paired with the coarse window it came from; time order."""
    lo, hi = info.start_seconds, info.end_seconds
    raw = []
    for span, w in found:
        interval = 1.0 / w.sampled_fps
        u = coarse_uncertainty_seconds(w, fine_padding_seconds)
        pad = max(fine_padding_seconds, interval)  # the first look is today's candidate region
        first = (max(lo, span.start_seconds - pad), min(hi, span.end_seconds + pad))
        bound = (max(lo, w.start_seconds - u), min(hi, w.end_seconds + u))
        raw.append(Lead((span.start_seconds, span.end_seconds), bound, first, u, interval))
    merged: list[Lead] = []
    for lead in sorted(raw, key=lambda x: x.first):
        if merged and lead.first[0] <= merged[-1].first[1]:
            last = merged[-1]
            merged[-1] = Lead(
                (min(last.coarse[0], lead.coarse[0]), max(last.coarse[1], lead.coarse[1])),
                (min(last.bound[0], lead.bound[0]), max(last.bound[1], lead.bound[1])),
                (last.first[0], max(last.first[1], lead.first[1])),
                max(last.uncertainty_seconds, lead.uncertainty_seconds),
                max(last.interval_seconds, lead.interval_seconds),
            )
        else:
            merged.append(lead)
    return merged[:max_candidates]


@dataclass
class Look:
    """One fine window the search planned, and what became of it."""

    lead: int
    kind: LookKind
    window: Window
    text: str | None = None
    spans: list[Span] = field(default_factory=list)
    note: str = ""

    @property
    def region(self) -> tuple[float, float]:
        return (self.window.start_seconds, self.window.end_seconds)


@dataclass
class _LeadState:
    lead: Lead
    covered: tuple[float, float] | None = None
    span: Span | None = None
    refines: int = 0
    side: int = 1  # next scan side: +1 after the looks, -1 before
    edges: list[int] = field(default_factory=list)  # edges (0 start, 1 end) the span touches
    done: bool = False


class GroundingSearch:
    """The search of one grounding question (see the module docstring); ``plan`` turns a region
    (absolute seconds) into the fine window the session would encode for it."""

    def __init__(
        self,
        leads: Sequence[Lead],
        info: VideoInfo,
        *,
        plan: Callable[[tuple[float, float]], Window],
        budget_tokens: float,
        grid_seconds: float,
        occurrences: Occurrences = "first",
    ) -> None:
        self.info = info
        self.grid_seconds = grid_seconds
        self.plan = plan
        self.budget_tokens = budget_tokens
        self.occurrences = occurrences
        self.leads = [_LeadState(lead) for lead in leads]
        self.looks: list[Look] = []
        self.notes: list[str] = []
        self.spent_tokens = 0
        self.dropped = 0
        """Looks not taken because they did not fit the budget."""
        self.said_absent = 0
        """Looks the model answered with "does not occur" (not an unreadable answer)."""
        self._round = 0

    # ------------------------------------------------------------------ rounds

    def next_looks(self) -> list[Look]:
        """The windows of the next round (empty: the search is over)."""
        self._round += 1
        proposals: list[tuple[int, LookKind, tuple[float, float]]] = []
        if self._round == 1:
            proposals = [(i, "first", s.lead.first) for i, s in enumerate(self.leads)]
        else:
            for i, s in enumerate(self.leads):
                if s.done:
                    continue
                if s.span is not None:
                    proposals.append((i, "refine", self._snap(self._refine_region(s))))
                elif self.occurrences == "all" or not self._confirmed_any():
                    region = self._scan_region(s)
                    if region is None:
                        s.done = True
                        self.notes.append(
                            f"lead {i}: scanned its whole bound {_fmt(s.lead.bound)}; not found"
                        )
                        continue
                    proposals.append((i, "scan", self._snap(region)))
                    if self.occurrences == "first":
                        break  # one lead at a time: the earliest unconfirmed one
                else:
                    s.done = True
        looks = []
        for i, kind, region in proposals:
            window = self.plan(region)
            if self.looks and self.spent_tokens + window.visual_tokens > self.budget_tokens:
                self.leads[i].done = True
                self.dropped += 1
                self.notes.append(
                    f"lead {i}: {kind} look {_fmt(region)} dropped: {window.visual_tokens} tokens over "
                    f"the budget ({self.spent_tokens} of {self.budget_tokens:.0f} spent)"
                )
                continue
            self.spent_tokens += window.visual_tokens
            look = Look(i, kind, window)
            self.looks.append(look)
            looks.append(look)
            s = self.leads[i]
            s.covered = (
                region if s.covered is None else (min(s.covered[0], region[0]), max(s.covered[1], region[1]))
            )
        return looks

    def observe(self, look: Look, text: str, spans: Sequence[Span], *, absent: bool = True) -> None:
        """What the model said on ``look`` (``spans`` absolute, clamped to the window; ``absent``:
        the answer said the event does not occur, rather than being unreadable)."""
        look.text, look.spans = text, list(spans)
        s = self.leads[look.lead]
        if not spans:
            self.said_absent += absent
            if look.kind == "refine":
                s.done = True
                look.note = f"lead {look.lead}: refine look found nothing; kept {_fmt_span(s.span)}"
            else:
                said = "no event" if absent else "no readable span"
                look.note = f"lead {look.lead}: {look.kind} look {_fmt(look.region)}: {said}; search on"
            return
        span = spans[0]  # a refine look sees the whole event: its span replaces the one it refines
        if look.kind == "refine" and s.span is not None and not _overlaps(span, s.span):
            s.done = True
            look.note = (
                f"lead {look.lead}: refine look found {_fmt_span(span)}, apart from "
                f"{_fmt_span(s.span)}; kept {_fmt_span(s.span)}"
            )
            return
        s.span = span
        edges = [side for side in (0, 1) if self._touches(look, span, side)]
        if edges and s.refines < _MAX_REFINES:
            s.refines += 1
            s.edges = edges
            names = " and ".join(("start", "end")[e] for e in edges)
            verb = "touch" if len(edges) == 2 else "touches"
            look.note = (
                f"lead {look.lead}: found {_fmt_span(span)}; its {names} {verb} the window edge: refine"
            )
        else:
            s.done = True
            look.note = f"lead {look.lead}: found {_fmt_span(span)}; kept"

    # ------------------------------------------------------------------ results

    @property
    def found(self) -> list[tuple[int, Span]]:
        """(lead, span) of every confirmed lead, in lead (time) order."""
        return [(i, s.span) for i, s in enumerate(self.leads) if s.span is not None]

    # ------------------------------------------------------------------ helpers

    def _confirmed_any(self) -> bool:
        return any(s.span is not None for s in self.leads)

    def _touches(self, look: Look, span: Span, side: int) -> bool:
        w = look.window
        # a stated time is as fine as one temporal patch (second_per_grid), the last frame one interval in
        tolerance = w.second_per_grid + 1.0 / w.sampled_fps + 1e-6
        if side == 0:
            return (
                w.start_seconds > self.info.start_seconds + 1e-6
                and span.start_seconds - w.start_seconds <= tolerance
            )
        return w.end_seconds < self.info.end_seconds - 1e-6 and w.end_seconds - span.end_seconds <= tolerance

    def _snap(self, region: tuple[float, float]) -> tuple[float, float]:
        """``region`` widened to whole multiples of ``grid_seconds`` (one temporal patch at
        ``fine_fps``), so the fine rate stays exact and instants fall on the grid; clamped."""
        g = self.grid_seconds
        a = math.floor(region[0] / g + 1e-9) * g
        b = math.ceil(region[1] / g - 1e-9) * g
        return (max(self.info.start_seconds, a), min(self.info.end_seconds, b))

    def _step_seconds(self, s: _LeadState) -> float:
        first = s.lead.first[1] - s.lead.first[0]
        return max(first, _SCAN_INTERVALS * s.lead.interval_seconds)

    def _refine_region(self, s: _LeadState) -> tuple[float, float]:
        span, u = s.span, s.lead.uncertainty_seconds
        if span is None:
            raise RuntimeError("refine needs a confirmed span")
        grow = _REFINE_INTERVALS * s.lead.interval_seconds
        a = span.start_seconds - (grow if 0 in s.edges else u)
        b = span.end_seconds + (grow if 1 in s.edges else u)
        return (max(self.info.start_seconds, a), min(self.info.end_seconds, b))

    def _scan_region(self, s: _LeadState) -> tuple[float, float] | None:
        """The next scan window beside what lead ``s`` has covered, nearest first, inside its bound."""
        if s.covered is None:
            return None
        lo, hi = s.lead.bound
        step, overlap = self._step_seconds(s), s.lead.uncertainty_seconds
        for _ in range(2):
            side = s.side
            s.side = -side
            if side > 0 and s.covered[1] < hi:
                a = max(lo, s.covered[1] - overlap)
                return (a, min(hi, a + step))
            if side < 0 and s.covered[0] > lo:
                b = min(hi, s.covered[0] + overlap)
                return (max(lo, b - step), b)
        return None


def _overlaps(a: Span, b: Span) -> bool:
    return a.start_seconds <= b.end_seconds and b.start_seconds <= a.end_seconds


def _fmt(region: tuple[float, float]) -> str:
    return f"{region[0]:.1f}-{region[1]:.1f} s"


def _fmt_span(span: Span | None) -> str:
    return "nothing" if span is None else _fmt((span.start_seconds, span.end_seconds))
