"""Session and analyze end to end: real encoded videos, our decoder, the scripted model, the cache.

The key test of issue 3: a red square shown from 37.0 s to 44.5 s in a 2-hour video comes back
through coarse windows, a fine re-look and the time mapping as a span within one second of the
truth (exactly 37.0-44.0 s: the last 2 fps frame showing it is at 44.0 s).
"""

from __future__ import annotations

import pytest

import videoqa
from tests.session_util import (
    RED,
    SMALL,
    cached_video,
    long_red_blue_video,
    spy_decode,
)
from videoqa import Session
from videoqa.analysis import Span
from videoqa.model._scripted import ScriptedModel
from videoqa.synthetic import Event

# ------------------------------------------------------------------------------- 2-hour video


@pytest.fixture(scope="module")
def long_runs(tmp_path_factory):
    video = long_red_blue_video()
    cache_dir = tmp_path_factory.mktemp("visual-cache")
    with pytest.MonkeyPatch.context() as mp:
        calls = spy_decode(mp)
        first = Session(ScriptedModel(), cache_dir=cache_dir, **SMALL).analyze(
            video, RED, task="grounding", strategy="coarse_to_fine"
        )
        first_calls = list(calls)
        calls.clear()
        model = ScriptedModel()
        later = Session(model, cache_dir=cache_dir, **SMALL)  # a new session: only the disk cache is shared
        again = later.analyze(video, RED, task="grounding")
        choice = later.analyze(
            video, "What colour is the square?", task="choice", options=["blue", "red", "green"]
        )
        later_calls, later_encodes = list(calls), model.encode_calls
        calls.clear()
        blue = later.analyze(video, "When is the blue square shown?", task="grounding")
        return {
            "blue": blue,
            "blue_calls": list(calls),
            "first": first,
            "first_calls": first_calls,
            "again": again,
            "choice": choice,
            "later_calls": later_calls,
            "later_encodes": later_encodes,
        }


def test_two_hour_video_red_square_found_to_the_second(long_runs):
    a = long_runs["first"]
    assert a.strategy == "coarse_to_fine"
    assert a.spans == [Span(start_seconds=37.0, end_seconds=44.0)]
    assert abs(a.spans[0].start_seconds - 37.0) <= 1.0 and abs(a.spans[0].end_seconds - 44.5) <= 1.0
    assert (a.answer, a.parse_error, a.video_duration_seconds) == ("37.0 - 44.0 seconds", None, 7200.0)
    coarse, fine = a.steps
    assert coarse.name == "coarse" and fine.name == "fine"
    assert [w.start_seconds for w in coarse.windows] == [600.0 * i for i in range(12)]
    assert {(w.num_frames, w.sampled_fps, w.second_per_grid) for w in coarse.windows} == {(300, 0.5, 4.0)}
    assert coarse.windows[0].pts_seconds[:3] == [0.0, 2.0, 4.0]
    assert coarse.windows[0].temporal_ids[:4] == [0, 8, 16, 24]  # floor(g * 4 s * 2 per s)
    # the coarse pass sees the square at 38, 40, 42, 44 s (every 2 s) in window 0 only
    assert coarse.raw_texts[0] == "The event happens in 38.0 - 44.0 seconds."
    assert set(coarse.raw_texts[1:]) == {"The event does not occur in this video."}
    assert coarse.spans == [Span(start_seconds=38.0, end_seconds=44.0)]
    # the fine re-look: 38 - 3 .. 44 + 3 s at 2 fps; the model answers in window-relative seconds
    (w,) = fine.windows
    assert (w.start_seconds, w.end_seconds, w.num_frames, w.sampled_fps) == (35.0, 47.0, 24, 2.0)
    assert w.pts_seconds == [35.0 + k / 2 for k in range(24)]
    assert w.temporal_ids == list(range(0, 24, 2))
    assert fine.raw_texts == ["The event happens in 2.0 - 9.0 seconds."]
    assert a.raw_text == "The event happens in 2.0 - 9.0 seconds."
    assert not any(w.cached for w in a.windows)
    assert long_runs["first_calls"] == [list(range(12)), [0]]  # coarse windows, then the fine window


def test_later_coarse_window_maps_back_through_its_offset(long_runs):
    b = long_runs["blue"]
    coarse, fine = b.steps
    assert coarse.raw_texts[9] == "The event happens in 38.0 - 44.0 seconds."  # window 9 starts at 5400 s
    assert coarse.spans == [Span(start_seconds=5438.0, end_seconds=5444.0)]
    assert all(w.cached for w in coarse.windows)
    assert [(w.start_seconds, w.cached) for w in fine.windows] == [(5435.0, False)]
    assert fine.raw_texts == ["The event happens in 2.0 - 9.0 seconds."]
    assert b.spans == [Span(start_seconds=5437.0, end_seconds=5444.0)]
    assert long_runs["blue_calls"] == [[0]]  # only the new fine window is decoded


def test_cache_hit_skips_decoding_and_gives_identical_answers(long_runs):
    first, again = long_runs["first"], long_runs["again"]
    assert again.strategy == "coarse_to_fine"  # auto: 768 frames / 7200 s = 0.107 fps < 0.5
    assert long_runs["later_calls"] == []  # nothing decoded: every window came from the disk cache
    assert long_runs["later_encodes"] == 0
    assert all(w.cached for w in again.windows) and len(again.windows) == 13
    assert again.spans == first.spans
    assert [s.raw_texts for s in again.steps] == [s.raw_texts for s in first.steps]
    assert "decode" not in again.timings_seconds and "encode" not in again.timings_seconds
    strip = {"cached": False}
    assert [w.model_copy(update=strip) for w in again.windows] == first.windows


def test_choice_question_reuses_the_cached_windows(long_runs):
    c = long_runs["choice"]
    assert (c.choice, c.answer, c.raw_text) == ("B", "(B) red", "(B) red")
    coarse, fine = c.steps
    assert coarse.spans == [Span(start_seconds=38.0, end_seconds=44.0)]  # found through the search prompt
    assert [(w.start_seconds, w.end_seconds, w.cached) for w in fine.windows] == [(35.0, 47.0, True)]


def test_corrupt_cache_entry_is_decoded_again_alone(event_video, tmp_path, monkeypatch):
    from videoqa.core._cache import VisualCacheWarning, video_fingerprint

    session = Session(ScriptedModel(), cache_dir=tmp_path, coarse_window_seconds=20.0, **SMALL)
    first = session.analyze(event_video, RED, task="grounding", strategy="coarse_to_fine")
    assert len(list((tmp_path / "visual").rglob("*.safetensors"))) == 4  # 3 coarse windows + 1 fine window
    window = session.plan(videoqa.probe(event_video), strategy="coarse_to_fine").windows[1]
    key = session.cache.key(
        video_fingerprint(event_video), window, session.model.fingerprint(), decoder="pyav"
    )
    session.cache.path(key).write_bytes(b"not an entry")
    calls = spy_decode(monkeypatch)
    with pytest.warns(VisualCacheWarning, match="ignoring unreadable visual cache entry"):
        second = session.analyze(event_video, RED, task="grounding", strategy="coarse_to_fine")
    assert calls == [[1]]  # only the damaged window is decoded again
    assert [w.cached for w in second.windows] == [True, False, True, True]
    assert second.spans == first.spans == [Span(start_seconds=37.0, end_seconds=44.0)]
    assert session.cache.get(key, window) is not None  # rewritten


def test_nonzero_start_video(monkeypatch):
    video = cached_video(
        "start-12.25.mp4",
        duration_seconds=2400.0,
        fps=2,
        width=112,
        height=64,
        gop_seconds=10.0,
        start_seconds=12.25,
        events=(Event(1337.0, 1344.5, "red"),),
    )
    a = Session(ScriptedModel(), **SMALL).analyze(video, "a red square", task="grounding")
    assert (a.strategy, a.video_start_seconds, a.video_duration_seconds) == ("coarse_to_fine", 12.25, 2400.0)
    assert [w.start_seconds for w in a.steps[0].windows] == [12.25 + 600.0 * i for i in range(4)]
    assert a.steps[0].raw_texts[2] == "The event happens in 126.0 - 132.0 seconds."  # 1212.25 + 126 = 1338.25
    assert a.steps[0].spans == [Span(start_seconds=1338.25, end_seconds=1344.25)]
    assert a.steps[1].windows[0].start_seconds == 1335.25
    assert a.spans == [Span(start_seconds=1337.25, end_seconds=1344.25)]
    assert a.answer == "1337.25 - 1344.25 seconds"
