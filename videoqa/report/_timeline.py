"""Geometry of the inline-SVG timelines: where each span, window and tick is drawn.

Pure arithmetic, no HTML: the templates draw what :func:`build_timeline` returns.
A timeline covers one video from ``start_seconds`` to ``start_seconds + duration_seconds``;
an instant ``t`` is drawn at ``track_left + (t - start_seconds) / duration_seconds * track_width``
pixels (see :func:`x_of_seconds`), so spans are to scale and the test can recompute every x.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "TIMELINE_LAYOUT",
    "Bar",
    "BarInput",
    "Lane",
    "LaneInput",
    "Tick",
    "Timeline",
    "TimelineLayout",
    "build_timeline",
    "format_seconds",
    "x_of_seconds",
]

BarKind = Literal["span", "window", "step-span", "cue"]

# Tick spacings a reader can add up in their head, in seconds.
_TICK_STEPS_SECONDS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)
_MAX_TICKS = 10
_MIN_BAR_WIDTH = 2.0  # px: a zero-length span must still be visible; its x stays exact.
_LABEL_CHARS = 30  # visible characters of a lane label before it is cut (the full text is in <title>).


@dataclass(frozen=True)
class TimelineLayout:
    """Pixel layout shared by every timeline of a page."""

    width: int = 960
    """Width of the whole ``<svg>`` in pixels."""
    label_width: int = 230
    """Left column holding the lane labels; the time track starts right of it."""
    right_margin: int = 20
    axis_height: int = 30
    lane_height: int = 30
    bar_height: int = 18

    @property
    def track_left(self) -> float:
        return float(self.label_width)

    @property
    def track_width(self) -> float:
        return float(self.width - self.label_width - self.right_margin)


TIMELINE_LAYOUT = TimelineLayout()


@dataclass(frozen=True)
class BarInput:
    """One interval to draw: a grounded span, a sampled window, or a span found by one step."""

    start_seconds: float
    end_seconds: float
    kind: BarKind = "span"
    text: str = ""
    """Short visible label drawn after the bar."""
    title: str = ""
    """Full tooltip text (question, answer, times)."""
    question_id: str = ""
    index: int = 0
    """Span index within its answer, or window index within its step."""


@dataclass(frozen=True)
class LaneInput:
    label: str
    title: str
    color: str
    bars: Sequence[BarInput] = ()


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    y: float
    height: float
    text_x: float
    text_anchor: Literal["start", "end"]
    source: BarInput


@dataclass(frozen=True)
class Lane:
    index: int
    y: float
    label: str
    title: str
    color: str
    bars: list[Bar] = field(default_factory=list)


@dataclass(frozen=True)
class Tick:
    x: float
    seconds: float
    text: str
    anchor: Literal["start", "middle", "end"]


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    track_left: float
    track_width: float
    start_seconds: float
    duration_seconds: float
    axis_y: float
    ticks: list[Tick]
    lanes: list[Lane]

    @property
    def end_seconds(self) -> float:
        return self.start_seconds + self.duration_seconds


def x_of_seconds(
    t_seconds: float,
    *,
    start_seconds: float,
    duration_seconds: float,
    layout: TimelineLayout = TIMELINE_LAYOUT,
) -> float:
    """Pixel x of an absolute instant, clamped to the track (spans are clamped to the video already)."""
    fraction = (t_seconds - start_seconds) / duration_seconds
    fraction = min(max(fraction, 0.0), 1.0)
    return layout.track_left + fraction * layout.track_width


def format_seconds(t_seconds: float, *, step_seconds: float = 1.0) -> str:
    """``75.5 -> '1:15.5'``, ``3725 -> '1:02:05'``: decimals only when the tick step needs them."""
    decimals = 0 if step_seconds >= 1 else 1
    sign = "-" if t_seconds < 0 else ""
    t = round(abs(t_seconds), decimals)
    hours, rest = divmod(t, 3600)
    minutes, seconds = divmod(rest, 60)
    sec_text = f"{seconds:0{3 + decimals if decimals else 2}.{decimals}f}"
    if hours:
        return f"{sign}{int(hours)}:{int(minutes):02d}:{sec_text}"
    return f"{sign}{int(minutes)}:{sec_text}"


def _ticks(start_seconds: float, duration_seconds: float, layout: TimelineLayout) -> list[Tick]:
    step = next(
        (s for s in _TICK_STEPS_SECONDS if duration_seconds / s <= _MAX_TICKS), _TICK_STEPS_SECONDS[-1]
    )
    first = math.ceil(start_seconds / step - 1e-9) * step
    ticks = []
    k = 0
    while (t := first + k * step) <= start_seconds + duration_seconds + 1e-9:
        x = x_of_seconds(t, start_seconds=start_seconds, duration_seconds=duration_seconds, layout=layout)
        anchor = "start" if k == 0 and x - layout.track_left < 12 else "middle"
        ticks.append(Tick(x=x, seconds=t, text=format_seconds(t, step_seconds=step), anchor=anchor))
        k += 1
    if ticks and layout.track_left + layout.track_width - ticks[-1].x < 12:
        last = ticks[-1]
        ticks[-1] = Tick(x=last.x, seconds=last.seconds, text=last.text, anchor="end")
    return ticks


def _short(text: str, limit: int = _LABEL_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bar(bar: BarInput, *, y: float, start: float, duration: float, layout: TimelineLayout) -> Bar:
    x0 = x_of_seconds(bar.start_seconds, start_seconds=start, duration_seconds=duration, layout=layout)
    x1 = x_of_seconds(bar.end_seconds, start_seconds=start, duration_seconds=duration, layout=layout)
    width = max(x1 - x0, _MIN_BAR_WIDTH)
    # Put the label after the bar, or before it when the bar ends near the right edge.
    track_right = layout.track_left + layout.track_width
    after = track_right - (x0 + width) > 120
    inset = 5.0 if bar.kind == "step-span" else 0.0  # a step's spans sit inside its windows
    return Bar(
        x=round(x0, 3),
        width=round(width, 3),
        y=y + inset,
        height=layout.bar_height - 2 * inset,
        text_x=round(x0 + width + 4 if after else x0 - 4, 3),
        text_anchor="start" if after else "end",
        source=bar,
    )


def build_timeline(
    *,
    start_seconds: float,
    duration_seconds: float,
    lanes: Sequence[LaneInput],
    layout: TimelineLayout = TIMELINE_LAYOUT,
) -> Timeline:
    """Lay out one video's timeline: an axis with ticks, then one lane per entry of ``lanes``.

    ``duration_seconds`` must be positive; callers with an unknown duration pass the largest
    span end instead (and say so on the page).
    """
    if not duration_seconds > 0:
        raise ValueError(f"duration_seconds must be > 0 to draw a timeline, got {duration_seconds!r}")
    axis_y = layout.axis_height - 8.0
    placed = []
    for i, lane in enumerate(lanes):
        y = layout.axis_height + i * layout.lane_height
        bar_y = y + (layout.lane_height - layout.bar_height) / 2
        bars = [
            _bar(b, y=bar_y, start=start_seconds, duration=duration_seconds, layout=layout) for b in lane.bars
        ]
        placed.append(
            Lane(index=i, y=y, label=_short(lane.label), title=lane.title, color=lane.color, bars=bars)
        )
    return Timeline(
        width=layout.width,
        height=int(layout.axis_height + max(len(lanes), 1) * layout.lane_height + 6),
        track_left=layout.track_left,
        track_width=layout.track_width,
        start_seconds=start_seconds,
        duration_seconds=duration_seconds,
        axis_y=axis_y,
        ticks=_ticks(start_seconds, duration_seconds, layout),
        lanes=placed,
    )
