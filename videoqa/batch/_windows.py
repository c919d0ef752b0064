"""One window at a time between the decode stage and the model stage.

The decode stage yields one row per first-pass window (``window_position`` of ``window_count``),
so a decode task holds one decoded window at a time. The model stage encodes each window and runs
the first-pass requests of every question on it (:func:`first_pass_window`); what it keeps of a
window is small (:class:`WindowResult`: the window, its frame times, the generated texts). A
:class:`WindowBoard` actor gathers these per video; the model call that brings a video's last
window gets them all back and finishes the video (:func:`finish_video`): the strategy's own code
(``run_questions``) runs again with the first pass replayed from the results (:class:`_Replay`),
so the coarse-to-fine pass, the answers and the records are those of a whole-video call.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from videoqa.analysis import Analysis, Question, Step
from videoqa.core._cache import window_fingerprint
from videoqa.core._passes import Encoded, StageTimer, run_questions, timed_text
from videoqa.core._strategies import first_pass_plan, first_pass_prompt
from videoqa.model._protocol import Generation, GenerationRequest
from videoqa.records import Failure
from videoqa.text._types import Transcript
from videoqa.video._types import Clip, SamplingPlan, VideoInfo

__all__ = ["WindowBoard", "WindowResult", "finish_video", "first_pass_window"]


@dataclass
class WindowResult:
    """What the model stage keeps of one first-pass window (no frames, no visual features)."""

    position: int
    """Position of the window in the first-pass plan."""
    encoded: Encoded | None = None
    """The window's features without their model payload (``data=None``): window, frame times."""
    generations: dict[int, Generation] = field(default_factory=dict)
    """First-pass generation of each question (by its position in the unit) on this window."""
    failure: Failure | None = None
    """Set when the window failed for every question."""
    question_failures: dict[int, Failure] = field(default_factory=dict)
    """Questions (by position) that failed on this window when asked one by one."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Stage times of this window in the model actor (encode, generate, cache), and ``decode_task``:
    the decode stage's seconds for it."""
    attempts: int = 1
    one_by_one: bool = False


class WindowBoard:
    """The small per-window results of the videos in flight (run as a Ray actor, ``num_cpus=0``).

    :meth:`record` returns a video's results, in window order, to the call that brings its last
    window, and forgets them. A restarted board has lost what it held: those videos never
    complete, and the driver runs them again (``_job._run_units``).
    """

    def __init__(self) -> None:
        self._results: dict[str, dict[int, bytes]] = {}
        self._closed: set[str] = set()

    def record(self, unit_key: str, window_count: int, position: int, result: bytes) -> list[bytes] | None:
        if unit_key in self._closed:
            return None
        results = self._results.setdefault(unit_key, {})
        results[position] = result
        if len(results) < window_count:
            return None
        del self._results[unit_key]
        return [results[i] for i in range(window_count)]

    def close(self, unit_key: str) -> None:
        """The video failed as a whole (its row says so): drop its windows, ignore late ones."""
        self._results.pop(unit_key, None)
        self._closed.add(unit_key)

    def in_flight(self) -> int:
        """Videos with some, not all, of their windows recorded."""
        return len(self._results)


def _stub(encoded: Encoded) -> Encoded:
    """``encoded`` without the model payload: all a step record and the time mapping read."""
    return Encoded(replace(encoded.features, data=None), cached=encoded.cached)


def first_pass_window(
    session: Any,
    source: str,
    info: VideoInfo,
    questions: Sequence[Question],
    clip: Clip,
    transcript: Transcript | None = None,
) -> tuple[Encoded, list[Generation], dict[str, float]]:
    """Encode one first-pass window and answer every question's first-pass request on it.

    The requests are those ``run_questions`` makes for this window (one window per request in both
    strategies), so :func:`finish_video` can replay them.
    """
    settings = session.settings
    first = first_pass_plan(info, settings, session.sampling)
    timer = StageTimer()
    [encoded] = session.encode_plan(source, first.plan.subset([clip.window.index]), timer, [clip])
    style = settings.prompt_style
    text = timed_text(transcript, settings, [encoded.features])
    requests = [
        GenerationRequest(
            (encoded.features,), first_pass_prompt(q, first.strategy, style=style), timed_text=text
        )
        for q in questions
    ]
    generations = session.generate(requests, timer)
    return _stub(encoded), list(generations), timer.seconds


class _Replay:
    """A :class:`~videoqa.core._passes.PassRunner` whose first pass is the recorded one.

    The first ``encode_plan`` call (the first-pass plan) returns the recorded windows, and
    ``generate`` answers requests on them from the recorded generations; everything after (fine
    windows, the single-window fallback) goes to the real session.
    """

    def __init__(
        self, session: Any, info: VideoInfo, results: Sequence[WindowResult], questions: dict[int, Question]
    ):
        self._session = session
        self.settings = session.settings
        self.model_id = session.model_id
        self.sampling = session.sampling
        self._first: list[Encoded] | None = [r.encoded for r in results]  # type: ignore[misc]
        self._position = {id(r.encoded.features): r.position for r in results}  # type: ignore[union-attr]
        strategy = first_pass_plan(info, self.settings, self.sampling).strategy
        style = self.settings.prompt_style
        self._recorded: dict[tuple[int, str], collections.deque] = collections.defaultdict(collections.deque)
        for r in results:
            for i, q in questions.items():
                self._recorded[(r.position, first_pass_prompt(q, strategy, style=style))].append(
                    r.generations[i]
                )

    def encode_plan(
        self, source: str, plan: SamplingPlan, timer: StageTimer, clips: Sequence[Clip] | None = None
    ) -> list[Encoded]:
        if self._first is None:
            return self._session.encode_plan(source, plan, timer, clips)
        first, self._first = self._first, None
        wanted = [window_fingerprint(w) for w in plan.windows]
        if wanted != [window_fingerprint(e.features.window) for e in first]:
            raise RuntimeError(
                f"{source}: the first-pass plan differs from the windows the decode stage sent"
            )
        return first

    def generate(self, requests: Sequence[GenerationRequest], timer: StageTimer) -> list[Generation]:
        positions = [[self._position.get(id(f)) for f in r.features] for r in requests]
        recorded = [p != [None] * len(p) for p in positions]
        if not any(recorded):
            return self._session.generate(requests, timer)
        if not all(recorded) or any(len(p) != 1 for p in positions):
            raise RuntimeError("a request mixes replayed first-pass windows with others")
        return [self._recorded[(p[0], r.prompt)].popleft() for p, r in zip(positions, requests, strict=True)]

    def make_step(
        self, name: str, encoded: Sequence[Encoded], generations: Sequence[Generation], spans: Sequence = ()
    ) -> Step:
        return self._session.make_step(name, encoded, generations, spans)


def finish_video(
    session: Any,
    source: str,
    info: VideoInfo,
    questions: dict[int, Question],
    results: Sequence[WindowResult],
    transcript: Transcript | None = None,
) -> list[Analysis]:
    """The analyses of ``questions`` (by position in the unit) from their recorded first pass; the
    fine pass (or the single-window fallback) and the answers run here."""
    timer = StageTimer()
    for r in results:
        for stage, seconds in r.seconds.items():
            timer.seconds[stage] = timer.seconds.get(stage, 0.0) + seconds
    started = time.perf_counter() - sum(timer.seconds.values())
    replay = _Replay(session, info, results, questions)
    return run_questions(replay, source, info, list(questions.values()), None, timer, started, transcript)
