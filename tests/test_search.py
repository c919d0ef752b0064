"""The grounding search of coarse_to_fine (issue 26): a wrong coarse guess recovered, candidate order,
the budget, all occurrences, stable hashes, and the visual cache under the search.

A 300 s video (2 fps) read as three 100 s coarse windows at 0.5 fps (second_per_grid 4 s, so the
coarse uncertainty u = 4 + 2 = 6 s); the coarse answers are scripted (a wrong first answer), the
fine looks are the scripted model's real reading of the frames.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import pytest

from tests.media import CACHE_DIR
from videoqa import Session
from videoqa.analysis import Question, Span
from videoqa.core.settings import Settings, config_hash, digest
from videoqa.model._scripted import ScriptedModel
from videoqa.records import question_hash
from videoqa.synthetic import Event, write_video

SMALL = {"min_pixels": 8 * 28 * 28, "max_pixels": 8 * 28 * 28}
SEARCH = {"strategy": "coarse_to_fine", "coarse_window_seconds": 100.0, **SMALL}
RED = "When is the red square shown?"
GREEN = "When is the green square shown?"
ABSENT = "The event does not occur in this video."


def _video() -> Path:
    """300 s at 2 fps: red 200-210 s; green 60-70 s and 220-230 s."""
    path = CACHE_DIR / "search-v1-300s.mp4"
    if not path.exists():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=CACHE_DIR) as tmp:
            tmp_path = Path(tmp) / path.name
            events = (Event(200.0, 210.0, "red"), Event(60.0, 70.0, "green"), Event(220.0, 230.0, "green"))
            write_video(tmp_path, duration_seconds=300.0, fps=2, width=112, height=64, events=events)
            os.replace(tmp_path, path)
    return path


class CoarseScript(ScriptedModel):
    """Answers the coarse windows (sampled below 1 fps) from ``coarse``, keyed by window start;
    a fine look is the scripted model's own reading of the frames unless ``fine`` has its start."""

    def __init__(self, coarse: dict[float, str], fine: dict[float, str] | None = None):
        super().__init__()
        self.coarse, self.fine = coarse, fine or {}

    def generate(self, requests, *, max_new_tokens, options=None):
        out = super().generate(requests, max_new_tokens=max_new_tokens, options=options)
        for k, r in enumerate(requests):
            w = r.features[0].window
            if w.sampled_fps < 1:
                out[k] = dataclasses.replace(out[k], text=self.coarse.get(w.start_seconds, ABSENT))
            elif w.start_seconds in self.fine:
                out[k] = dataclasses.replace(out[k], text=self.fine[w.start_seconds])
        return out


WRONG = {200.0: "The event happens in 40 - 44 seconds."}  # says 240-244 s; the red square is at 200-210 s


def _regions(analysis) -> list[tuple[str, float, float]]:
    return [(s.name, w.start_seconds, w.end_seconds) for s in analysis.steps[1:] for w in s.windows]


def test_wrong_coarse_guess_recovered_by_the_search_and_not_by_one_look():
    video = _video()
    today = Session(CoarseScript(WRONG), search_budget=0.0, **SEARCH).analyze(video, RED, task="grounding")
    # one fine look at 237-247 s sees nothing; the coarse span comes back, 40 s from the truth
    assert _regions(today) == [("fine", 237.0, 247.0)]
    assert today.spans == [Span(start_seconds=240.0, end_seconds=244.0)]
    a = Session(CoarseScript(WRONG), search_budget=2.0, **SEARCH).analyze(video, RED, task="grounding")
    # first look, then scans of 32 s (16 coarse intervals) overlapping by u = 6 s, after/before in
    # turn, inside the coarse window 200-300 s widened by u (194-300 s)
    assert _regions(a) == [
        ("fine", 237.0, 247.0),
        ("search", 241.0, 273.0),
        ("search", 211.0, 243.0),
        ("search", 267.0, 299.0),
        ("search", 194.0, 217.0),
    ]
    assert a.spans == [Span(start_seconds=200.0, end_seconds=209.5)]  # last 2 fps frame showing it
    assert (a.outcome, a.parse_error) == ("answered", None)
    assert a.raw_text == "The event happens in 6.0 - 15.5 seconds."
    notes = [n for s in a.steps for n in s.notes]
    assert notes[0] == "lead 0: first look 237.0-247.0 s: no event; search on"
    assert notes[-1] == "lead 0: found 200.0-209.5 s; kept"
    assert a.model_calls == 3 + 5  # three coarse windows, five fine looks
    coarse_tokens = sum(w.visual_tokens for w in a.steps[0].windows)
    assert coarse_tokens == 600  # 150 frames x 4 tokens
    assert a.visual_tokens == coarse_tokens + (20 + 64 + 64 + 64 + 46) * 4


def test_candidates_are_looked_at_in_time_order_then_searched_one_at_a_time():
    script = {0.0: "The event happens in 50 - 54 seconds.", **WRONG}  # a false lead first, then the wrong one
    a = Session(CoarseScript(script), search_budget=4.0, **SEARCH).analyze(_video(), RED, task="grounding")
    regions = _regions(a)
    # round 1: both first looks, earliest first; then the earliest lead's coarse window (0-106 s) is
    # scanned to its ends before the next lead is
    assert regions[:2] == [("fine", 47.0, 57.0), ("fine", 237.0, 247.0)]
    lead0 = [r for r in regions[2:] if r[2] <= 106.0]
    assert regions[2 : 2 + len(lead0)] == lead0
    assert lead0 == [
        ("search", 51.0, 83.0),
        ("search", 21.0, 53.0),
        ("search", 77.0, 106.0),
        ("search", 0.0, 27.0),
    ]
    assert regions[2 + len(lead0) :] == [
        ("search", 241.0, 273.0),
        ("search", 211.0, 243.0),
        ("search", 267.0, 299.0),
        ("search", 194.0, 217.0),
    ]
    notes = [n for s in a.steps for n in s.notes]
    assert "lead 0: scanned its whole bound 0.0-106.0 s; not found" in notes
    assert a.spans == [Span(start_seconds=200.0, end_seconds=209.5)]


def test_budget_limits_the_fine_tokens_and_says_what_was_dropped():
    a = Session(CoarseScript(WRONG), search_budget=0.5, **SEARCH).analyze(_video(), RED, task="grounding")
    fine_tokens = a.visual_tokens - 600
    assert fine_tokens == 80 <= 0.5 * 600  # the first look; the first scan (256 tokens) would exceed 300
    assert _regions(a) == [("fine", 237.0, 247.0)]
    notes = [n for s in a.steps for n in s.notes]
    assert notes[-1] == (
        "lead 0: scan look 241.0-273.0 s dropped: 256 tokens over the budget (80 of 300 spent)"
    )
    assert a.spans == [Span(start_seconds=240.0, end_seconds=244.0)]  # unconfirmed: the coarse span, said so
    assert a.parse_error.startswith(
        "the fine search did not confirm any of 1 coarse lead(s) within its budget"
    )


LONG_LEAD = {100.0: "The event happens in 50 - 99 seconds."}  # 150-199 s; the red square is at 200-210 s


def test_a_refine_window_reaches_8_coarse_intervals_past_the_edge_not_half_a_long_first_look():
    a = Session(CoarseScript(LONG_LEAD), search_budget=2.0, **SEARCH).analyze(_video(), RED, task="grounding")
    # the first look (147-202 s, 55 s) ends 2 s into the event: 200.0-201.5 s touches its end; the
    # refine window is the span -u (6 s) to +16 s (8 intervals of 2 s), on the 1 s grid: the whole
    # event with a margin, as the fine model is trained to read it (half the first look: 194-229 s)
    assert _regions(a) == [("fine", 147.0, 202.0), ("search", 194.0, 218.0)]
    assert a.spans == [Span(start_seconds=200.0, end_seconds=209.5)]
    notes = [n for s in a.steps for n in s.notes]
    assert notes == [
        "lead 0: found 200.0-201.5 s; its end touches the window edge: refine",
        "lead 0: found 200.0-209.5 s; kept",
    ]


def test_a_refine_look_that_names_another_place_keeps_the_span_it_refines():
    misread = {194.0: "The event happens in 20.0 - 23.0 seconds."}  # 214-217 s: not where the span was
    model = CoarseScript(LONG_LEAD, fine=misread)
    a = Session(model, search_budget=2.0, **SEARCH).analyze(_video(), RED, task="grounding")
    assert _regions(a) == [("fine", 147.0, 202.0), ("search", 194.0, 218.0)]
    assert a.spans == [Span(start_seconds=200.0, end_seconds=201.5)]
    assert a.steps[-1].notes == [
        "lead 0: refine look found 214.0-217.0 s, apart from 200.0-201.5 s; kept 200.0-201.5 s"
    ]


GREEN_COARSE = {0.0: "The event happens in 62 - 68 seconds.", 200.0: "The event happens in 45 - 50 seconds."}


def test_all_occurrences_searches_every_lead_and_ranks_in_time_order():
    session = Session(CoarseScript(GREEN_COARSE), search_budget=3.0, **SEARCH)
    q_all = Question(question_id="all", question=GREEN, task="grounding", occurrences="all")
    q_first = Question(question_id="first", question=GREEN, task="grounding")
    every, first = session.analyze_many(_video(), [q_all, q_first])
    assert _regions(every) == [
        ("fine", 59.0, 71.0),
        ("fine", 242.0, 253.0),
        ("search", 44.0, 86.0),  # lead 0 refined: its span touched both edges of 59-71 s
        ("search", 247.0, 279.0),  # lead 1 (245-250 s, wrong) scanned until it shows the event
        ("search", 216.0, 248.0),
    ]
    assert every.spans == [
        Span(start_seconds=60.0, end_seconds=69.5),
        Span(start_seconds=220.0, end_seconds=229.5),
    ]
    assert every.answer == "60.0 - 69.5 seconds\n220.0 - 229.5 seconds"
    # first: the lead at 59-71 s is confirmed in round 1 (its span touches the window edges: refined),
    # so the wrong lead at 245-250 s is not searched
    assert first.spans == [Span(start_seconds=60.0, end_seconds=69.5)]
    assert _regions(first) == [("fine", 59.0, 71.0), ("fine", 242.0, 253.0), ("search", 44.0, 86.0)]
    assert first.visual_tokens < every.visual_tokens


def test_new_settings_and_question_fields_keep_existing_hashes():
    settings = Settings()
    later = ("search_budget", "video_stream", "subtitles_max_tokens")  # added after hashes were published
    old_payload = {k: v for k, v in settings.model_dump().items() if k not in later}
    assert config_hash("m", settings) == digest({"model_id": "m", "settings": old_payload})
    assert config_hash("m", Settings(search_budget=1.0)) != config_hash("m", settings)
    q = Question(question="x", task="grounding")
    assert question_hash(q) == digest(q.model_dump(exclude={"question_id", "occurrences"}))
    assert question_hash(q.model_copy(update={"occurrences": "all"})) != question_hash(q)
    with pytest.raises(ValueError, match="search_budget must be >= 0"):
        Settings(search_budget=-0.1)


def test_later_questions_reuse_the_coarse_and_search_windows_from_the_cache(tmp_path):
    video = _video()
    first = Session(CoarseScript(WRONG), cache_dir=tmp_path, search_budget=2.0, **SEARCH)
    a = first.analyze(video, RED, task="grounding")
    model = CoarseScript(WRONG)
    later = Session(model, cache_dir=tmp_path, search_budget=2.0, **SEARCH)
    again = later.analyze(video, RED, task="grounding")
    assert model.encode_calls == 0 and all(w.cached for w in again.windows)
    assert again.spans == a.spans and _regions(again) == _regions(a)
    # another question, with the same wrong coarse guess: coarse windows and the search windows it
    # shares with the red search (237-247, 241-273, 211-243 s: green at 220-230 s) from the cache
    green = later.analyze(video, GREEN, task="grounding")
    assert _regions(green)[-1] == ("search", 211.0, 243.0)
    assert green.spans == [Span(start_seconds=220.0, end_seconds=229.5)]
    assert all(w.cached for w in green.windows) and model.encode_calls == 0


def test_unreadable_fine_answers_keep_the_coarse_span_and_say_why():
    class Unreadable(CoarseScript):
        def generate(self, requests, *, max_new_tokens, options=None):
            out = super().generate(requests, max_new_tokens=max_new_tokens, options=options)
            fine = [r.features[0].window.sampled_fps >= 1 for r in requests]
            return [dataclasses.replace(g, text="No.") if f else g for g, f in zip(out, fine, strict=True)]

    a = Session(Unreadable(WRONG), search_budget=10.0, **SEARCH).analyze(_video(), RED, task="grounding")
    assert min(r[1] for r in _regions(a)) == 194.0 and max(r[2] for r in _regions(a)) == 300.0
    assert "lead 0: scanned its whole bound 194.0-300.0 s; not found" in [n for s in a.steps for n in s.notes]
    # as with one fine look: the coarse span stands, flagged by parse_error
    assert (a.spans, a.outcome) == ([Span(start_seconds=240.0, end_seconds=244.0)], "answered")
    assert a.parse_error == (
        "the fine search did not confirm any of 1 coarse lead(s) (no fine look gave a readable span); "
        "these spans are the coarse pass's"
    )
