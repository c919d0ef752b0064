"""Session and analyze end to end: real encoded videos, our decoder, the scripted model, the cache.

The key test of issue 3: a red square shown from 37.0 s to 44.5 s in a 2-hour video comes back
through coarse windows, a fine re-look and the time mapping as a span within one second of the
truth (exactly 37.0-44.0 s: the last 2 fps frame showing it is at 44.0 s).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import videoqa
import videoqa.core._session as session_module
from tests.media import CACHE_DIR
from videoqa import Session
from videoqa.analysis import Question, Span
from videoqa.core.settings import Settings, config_hash
from videoqa.errors import ModelError
from videoqa.model._protocol import Generation, GenerationOptions
from videoqa.model._scripted import ScriptedModel
from videoqa.synthetic import Event, write_video_once

SMALL = {"min_pixels": 8 * 28 * 28, "max_pixels": 8 * 28 * 28}
RED = "When is the red square shown?"


def _cached_video(name: str, **write_kwargs) -> Path:
    """A test video generated once into tests/.media-cache (built under a temporary name, then renamed)."""
    return write_video_once(CACHE_DIR / f"session-v1-{name}", **write_kwargs)


def long_red_blue_video() -> Path:
    """Two hours at 2 fps: a red square at 37-44.5 s and a blue one at 5437-5444.5 s."""
    return _cached_video(
        "long-red-blue.mp4",
        duration_seconds=7200.0,
        fps=2,
        width=112,
        height=64,
        gop_seconds=10.0,
        events=(Event(37.0, 44.5, "red"), Event(5437.0, 5444.5, "blue")),
    )


def _spy_decode(monkeypatch) -> list[list[int]]:
    """Record the window indices of every videoqa.decode call made through the session's seam."""
    import videoqa.video as media

    calls: list[list[int]] = []
    real = media.decode

    def spy(source, plan, **kwargs):
        calls.append([w.index for w in plan.windows])
        return real(source, plan, **kwargs)

    monkeypatch.setattr(media, "decode", spy)
    return calls


class RecordingModel(ScriptedModel):
    """The scripted model, recording the size of each generate() batch."""

    def __init__(self):
        super().__init__()
        self.batches: list[int] = []
        self.calls: list[tuple[int, GenerationOptions | None]] = []

    def generate(self, requests, *, max_new_tokens, options=None):
        self.batches.append(len(requests))
        self.calls.append((max_new_tokens, options))
        return super().generate(requests, max_new_tokens=max_new_tokens)


class FixedTextModel(ScriptedModel):
    """Encodes like the scripted model but always answers ``text``."""

    def __init__(self, text: str, drop: bool = False):
        super().__init__()
        self.text, self.drop = text, drop

    def generate(self, requests, *, max_new_tokens, options=None):
        out = [Generation(self.text, 1, 1) for _ in requests]
        return out[:-1] if self.drop else out


# ------------------------------------------------------------------------------- 2-hour video


@pytest.fixture(scope="module")
def long_runs(tmp_path_factory):
    video = long_red_blue_video()
    cache_dir = tmp_path_factory.mktemp("visual-cache")
    with pytest.MonkeyPatch.context() as mp:
        calls = _spy_decode(mp)
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
    calls = _spy_decode(monkeypatch)
    with pytest.warns(VisualCacheWarning, match="ignoring unreadable visual cache entry"):
        second = session.analyze(event_video, RED, task="grounding", strategy="coarse_to_fine")
    assert calls == [[1]]  # only the damaged window is decoded again
    assert [w.cached for w in second.windows] == [True, False, True, True]
    assert second.spans == first.spans == [Span(start_seconds=37.0, end_seconds=44.0)]
    assert session.cache.get(key, window) is not None  # rewritten


def test_nonzero_start_video(monkeypatch):
    video = _cached_video(
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


# ------------------------------------------------------------------------------- short video


@pytest.fixture
def short_session():
    return Session(RecordingModel(), **SMALL)


def test_every_analysis_records_its_effective_settings_and_hash(event_video):
    model = RecordingModel()
    session = Session(model, Settings(max_new_tokens=40, **SMALL), fps=1.0)  # keywords apply over settings
    expected = Settings(fps=1.0, max_new_tokens=40, **SMALL)
    assert session.settings == expected
    a = session.analyze(event_video, RED, task="grounding")
    assert (a.settings, a.config_hash) == (expected, config_hash("builtin:scripted", expected))
    assert a.settings.strategy == "auto" and a.strategy == "single"  # asked for vs used
    assert model.calls == [(40, GenerationOptions(repetition_penalty=1.05))]  # greedy by default
    b = session.analyze(event_video, RED, task="grounding", strategy="single")  # a per-call override
    overridden = Settings(**{**expected.model_dump(), "strategy": "single"})
    assert (b.settings, b.config_hash) == (overridden, config_hash("builtin:scripted", overridden))
    assert b.config_hash != a.config_hash and session.settings == expected
    assert type(a).model_validate_json(a.model_dump_json()) == a  # settings round-trip in the JSON


def test_generation_settings_reach_the_model(event_video):
    model = RecordingModel()
    settings = Settings(do_sample=True, temperature=0.7, top_k=20, repetition_penalty=1.0, **SMALL)
    Session(model, settings).analyze(event_video, RED, task="grounding")
    options = GenerationOptions(do_sample=True, temperature=0.7, top_k=20, repetition_penalty=1.0)
    assert model.calls == [(512, options)]


def test_single_strategy_on_a_short_video(event_video, short_session):
    a = short_session.analyze(event_video, RED, task="grounding")
    assert a.strategy == "single"
    assert a.spans == [Span(start_seconds=37.0, end_seconds=44.0)]
    (step,) = a.steps
    (w,) = step.windows
    assert (step.name, w.index, w.start_seconds, w.end_seconds) == ("single", 0, 0.0, 60.0)
    assert (w.num_frames, w.sampled_fps, w.second_per_grid, w.height, w.width) == (120, 2.0, 1.0, 56, 84)
    assert w.visual_tokens == 60 * 2 * 3
    assert w.pts_seconds == [k / 2 for k in range(120)]
    assert w.temporal_ids == list(range(0, 120, 2))
    assert step.raw_texts == [a.raw_text] == ["The event happens in 37.0 - 44.0 seconds."]
    assert a.model_id == "builtin:scripted"
    assert set(a.timings_seconds) == {"probe", "plan", "decode", "encode", "generate", "total"}
    assert Question.model_validate_json(a.question.model_dump_json()) == a.question
    assert type(a).model_validate_json(a.model_dump_json()) == a


def test_every_task_and_batched_generation(event_video, short_session):
    questions = [
        Question(question_id="g", question="the blue square", task="grounding"),
        Question(question_id="e", question="events", task="events"),
        Question(question_id="c", question="Which colour?", task="choice", options=["green", "blue", "red"]),
        Question(question_id="q", question="What do you see?"),
    ]
    g, e, c, q = short_session.analyze_many(event_video, questions)
    model = short_session.model
    assert model.encode_calls == 1  # one window, encoded once for four questions
    assert model.batches == [4]  # one generate call; the model splits it into forward batches
    assert g.spans == [Span(start_seconds=10.0, end_seconds=11.5)]
    assert e.spans == [
        Span(start_seconds=10.0, end_seconds=11.5, label="A blue square is visible."),
        Span(start_seconds=37.0, end_seconds=44.0, label="A red square is visible."),
    ]
    assert (
        e.answer
        == "10.0 - 11.5 seconds: A blue square is visible.\n37.0 - 44.0 seconds: A red square is visible."
    )
    assert (c.choice, c.answer) == ("B", "(B) blue")
    assert (q.answer, q.spans, q.choice) == ("I see a blue and a red square in the video.", [], None)
    assert [a.question.question_id for a in (g, e, c, q)] == ["g", "e", "c", "q"]


def test_predecoded_clips_are_used_instead_of_decoding(event_video, short_session, monkeypatch):
    info = videoqa.probe(event_video)
    plan = short_session.plan(info, strategy="auto")
    clips = list(videoqa.decode(event_video, plan))
    calls = _spy_decode(monkeypatch)
    (a,) = short_session.analyze_many(
        event_video, [Question(question=RED, task="grounding")], info=info, clips=clips
    )
    assert calls == []
    assert a.spans == [Span(start_seconds=37.0, end_seconds=44.0)]
    other = list(videoqa.decode(event_video, videoqa.plan_sampling(info, fps=1.0, **SMALL)))
    with pytest.raises(ValueError, match="is not a window of the first-pass plan"):
        short_session.analyze_many(event_video, [Question(question=RED)], info=info, clips=other)


@pytest.mark.parametrize(
    ("text", "spans", "error"),
    [
        ("The event happens in 70 - 50 seconds.", [Span(start_seconds=50.0, end_seconds=60.0)], None),
        ("<answer>00:05 - 00:02</answer>", [Span(start_seconds=2.0, end_seconds=5.0)], None),
        ("I do not know.", [], "no time found in the model's text 'I do not know.'"),
        # wholly beyond the 60 s video: out of range, not a zero-length span at 60 s (issue 9 item 7)
        (
            "The event happens in 100000 - 200000 seconds.",
            [],
            "the model's span(s) 100000.0 - 200000.0 s lie outside the video (0.0 - 60.0 s)",
        ),
        (
            '{"start": ' + "1" * 400 + ', "end": 2}',
            [],
            "the model's JSON holds no event with a start and an end time",
        ),
    ],
)
def test_spans_are_swapped_and_clamped_or_the_reason_recorded(event_video, text, spans, error):
    a = Session(FixedTextModel(text), **SMALL).analyze(event_video, RED, task="grounding", strategy="single")
    assert (a.spans, a.parse_error, a.raw_text) == (spans, error, text)
    assert a.outcome == ("unparsed" if error else "answered")


def test_absence_is_an_answer_not_a_parse_error(event_video):
    text = "The event does not occur in this video."
    a = Session(FixedTextModel(text), **SMALL).analyze(event_video, RED, task="grounding", strategy="single")
    assert (a.spans, a.answer, a.parse_error, a.outcome) == ([], "", None, "no_event")


def test_coarse_to_fine_with_nothing_found(event_video):
    session = Session(ScriptedModel(), coarse_window_seconds=20.0, **SMALL)
    a = session.analyze(event_video, "the green square", task="grounding", strategy="coarse_to_fine")
    assert [s.name for s in a.steps] == ["coarse"] and len(a.steps[0].windows) == 3
    # every coarse window says "The event does not occur in this video.": an answer, not an error
    assert (a.spans, a.answer, a.parse_error, a.outcome) == ([], "", None, "no_event")
    b = Session(FixedTextModel("No idea."), coarse_window_seconds=20.0, **SMALL).analyze(
        event_video, "the green square", task="grounding", strategy="coarse_to_fine"
    )
    assert (b.spans, b.outcome) == ([], "unparsed")
    assert b.parse_error.startswith("the coarse pass found no span in any of its 3 windows (no time found")
    q = session.analyze(
        event_video,
        "What is shown?",
        task="choice",
        options=["a green square", "a cat"],
        strategy="coarse_to_fine",
    )
    assert [s.name for s in q.steps] == ["coarse", "fine"]  # default colour red: found at 37-44 s
    n = session.analyze(
        event_video, "Is there a cat?", strategy="coarse_to_fine", prompt="Describe the video."
    )
    assert [s.name for s in n.steps] == ["coarse", "fine"]


def test_events_coarse_to_fine(event_video):
    session = Session(ScriptedModel(), coarse_window_seconds=20.0, **SMALL)
    a = session.analyze(event_video, "List the events.", task="events", strategy="coarse_to_fine")
    coarse, fine = a.steps
    # coarse frames every 2 s: blue seen at 10 s; red at 38 s (window 1) and 40-44 s (window 2)
    assert coarse.spans == [
        Span(start_seconds=10.0, end_seconds=10.0, label="A blue square is visible."),
        Span(start_seconds=38.0, end_seconds=38.0, label="A red square is visible."),
        Span(start_seconds=40.0, end_seconds=44.0, label="A red square is visible."),
    ]
    assert [(w.start_seconds, w.end_seconds, w.sampled_fps) for w in fine.windows] == [
        (7.0, 13.0, 2.0),
        (35.0, 47.0, 2.0),
    ]
    assert a.spans == [
        Span(start_seconds=10.0, end_seconds=11.5, label="A blue square is visible."),
        Span(start_seconds=37.0, end_seconds=44.0, label="A red square is visible."),
    ]
    assert a.raw_text == "\n".join(fine.raw_texts)


class FineOverreachModel(ScriptedModel):
    """Finds 30-40 s in the coarse pass (below 1 fps); in the fine window (27-43 s) answers ``fine_text``."""

    def __init__(self, fine_text: str):
        super().__init__()
        self.fine_text = fine_text

    def generate(self, requests, *, max_new_tokens, options=None):
        coarse = "The event happens in 30 - 40 seconds."
        return [
            Generation(coarse if r.features[0].window.sampled_fps < 1 else self.fine_text, 1, 1)
            for r in requests
        ]


def test_fine_pass_without_answer_keeps_the_coarse_span(event_video):
    # search_budget=0: the single fine look (the search's own behaviour: tests/test_search.py)
    session = Session(FineOverreachModel("No."), search_budget=0.0, **SMALL)
    a = session.analyze(event_video, RED, task="grounding", strategy="coarse_to_fine")
    assert a.spans == [Span(start_seconds=30.0, end_seconds=40.0)]
    assert a.steps[1].windows[0].start_seconds == 27.0
    assert a.parse_error == (
        "the fine pass found no span (no time found in the model's text 'No.'); "
        "these spans are the coarse pass's"
    )


@pytest.mark.parametrize(
    ("fine_text", "spans"),
    [
        # relative 0-100 s from 27 s is 27-127 s: clamped to the fine window, not to the video's 60 s
        ("The event happens in 0 - 100 seconds.", [Span(start_seconds=27.0, end_seconds=43.0)]),
        # 127-147 s lies wholly outside what the model saw: dropped, so the coarse span stands
        ("The event happens in 100 - 120 seconds.", [Span(start_seconds=30.0, end_seconds=40.0)]),
    ],
)
def test_fine_spans_are_clamped_to_the_fine_window(event_video, fine_text, spans):
    session = Session(FineOverreachModel(fine_text), search_budget=0.0, **SMALL)
    a = session.analyze(event_video, RED, task="grounding", strategy="coarse_to_fine")
    (w,) = a.steps[1].windows
    assert (w.start_seconds, w.end_seconds) == (27.0, 43.0)
    assert a.spans == spans


def test_qa_with_no_candidate_falls_back_to_one_window(event_video):
    session = Session(FixedTextModel("(A)"), **SMALL)
    a = session.analyze(event_video, "Which?", task="choice", options=["x", "y"], strategy="coarse_to_fine")
    assert [s.name for s in a.steps] == ["coarse", "fallback_single"]
    (w,) = a.steps[1].windows
    assert (w.start_seconds, w.end_seconds, w.num_frames) == (0.0, 60.0, 120)
    assert (a.choice, a.answer) == ("A", "(A) x")


def test_bad_arguments_are_named(event_video):
    with pytest.raises(ValueError, match="task must be one of"):
        Session(ScriptedModel()).analyze(event_video, RED, task="count")
    with pytest.raises(ValueError, match="task='choice' needs options"):
        Session(ScriptedModel()).analyze(event_video, RED, task="choice")
    with pytest.raises(ValueError, match="task='choice' needs options"):
        Question(question="Which?", task="choice")  # up front, before any video is read
    with pytest.raises(ValueError, match="options must be a list of option texts, not one string: got 'abc'"):
        Session(ScriptedModel()).analyze(event_video, RED, task="choice", options="abc")
    with pytest.raises(ValueError, match="decode_backend\n  Input should be 'pyav' or 'decord'"):
        Session(ScriptedModel(), decode_backend="opencv")
    with pytest.raises(ValueError, match="batch_size\n  Extra inputs are not permitted"):
        Session(ScriptedModel(), batch_size=3)  # not a setting: load_model(requests_per_batch=...)
    with pytest.raises(TypeError, match=r"settings must be a videoqa\.Settings, got dict"):
        Session(ScriptedModel(), {"fps": 1.0})
    with pytest.raises(ValueError, match="num_threads must be an integer >= 1, got True"):
        Session(ScriptedModel(), num_threads=True)
    with pytest.raises(ValueError, match="max_frames must be an integer >= 2, got 1"):
        Session(ScriptedModel(), max_frames=1)  # budgets fail when the session is built
    with pytest.raises(TypeError, match="model must be a model string or a VideoLanguageModel"):
        Session(object())
    with pytest.raises(ModelError, match="returned 0 answers for 1 requests"):
        Session(FixedTextModel("x", drop=True), **SMALL).analyze(event_video, RED)
    with pytest.raises(videoqa.errors.VideoNotFoundError):
        Session(ScriptedModel()).analyze(event_video.parent / "missing.mp4", RED)


def test_analyze_shortcut_keeps_the_model_loaded(event_video, monkeypatch):
    monkeypatch.setattr(session_module, "_MODELS", {})
    a = videoqa.analyze(event_video, RED, model="builtin:scripted", task="grounding", **SMALL)
    (model,) = session_module._MODELS.values()
    b = videoqa.analyze(
        event_video, "the blue square", model="builtin:scripted", task="grounding", fps=1.0, **SMALL
    )
    assert list(session_module._MODELS.values()) == [model]  # other session options: same loaded model
    assert model.encode_calls == 2  # no cache_dir: each call encodes its window
    assert a.spans == [Span(start_seconds=37.0, end_seconds=44.0)]
    assert b.spans == [Span(start_seconds=10.0, end_seconds=11.0)]  # 1 fps: frames at 10 and 11 s
    other = ScriptedModel()
    videoqa.analyze(event_video, RED, model=other, **SMALL)
    assert list(session_module._MODELS.values()) == [model] and other.encode_calls == 1
    with pytest.raises(ValueError, match="unknown built-in model"):
        videoqa.analyze(event_video, RED, model="builtin:nothing")
    assert session_module._MODELS == {}  # the previous model was let go before loading the next


# ------------------------------------------------------------------------------- scripted model


def test_scripted_model_perceives_time_from_the_window_sampling(event_video):
    info = videoqa.probe(event_video)
    plan = videoqa.plan_sampling(info, fps=2.0, start_seconds=30.0, end_seconds=50.0, **SMALL)
    (clip,) = videoqa.decode(event_video, plan)
    model = ScriptedModel()
    features = model.encode(clip)
    assert [f.relative_seconds for f in features.data][:3] == [0.0, 0.5, 1.0]
    assert features.pts_seconds.tolist() == [30.0 + k / 2 for k in range(40)]
    from videoqa.model._protocol import GenerationRequest

    (g,) = model.generate(
        [GenerationRequest((features,), "When does the red square start and end?")], max_new_tokens=64
    )
    assert g.text == "The event happens in 7.0 - 14.0 seconds."  # relative to the window start, 30 s
    assert model.fingerprint() == ScriptedModel().fingerprint() == "builtin:scripted/v1"
    assert isinstance(model, videoqa.model.VideoLanguageModel)


# ------------------------------------------------------------------------------- tiny real model


def test_tiny_qwen25_end_to_end_with_the_cache(h264_mp4, tiny_qwen25, tmp_path):
    session = Session(tiny_qwen25, cache_dir=tmp_path, max_new_tokens=6, **SMALL)
    first = session.analyze(h264_mp4, "What happens in the video?", strategy="auto")
    second = session.analyze(h264_mp4, "What happens in the video?")
    for a in (first, second):
        assert (a.strategy, a.model_id, a.video_duration_seconds) == ("single", tiny_qwen25.model_id, 10.0)
        (step,) = a.steps
        (w,) = step.windows
        assert (w.num_frames, w.sampled_fps, w.second_per_grid, w.height, w.width) == (20, 2.0, 1.0, 56, 84)
        assert w.visual_tokens == 10 * 2 * 3
        assert w.pts_seconds == [k / 2 for k in range(20)]
        assert w.temporal_ids == list(range(0, 20, 2))
        assert isinstance(a.raw_text, str) and a.answer == a.raw_text.strip()
        assert step.raw_texts == [a.raw_text]
    assert (first.steps[0].windows[0].cached, second.steps[0].windows[0].cached) == (False, True)
    assert second.raw_text == first.raw_text  # greedy decoding on the cached features: the same answer
    assert "decode" not in second.timings_seconds


def test_scripted_model_clock_starts_at_the_first_window_of_a_request(event_video):
    import dataclasses

    from videoqa.model._protocol import GenerationRequest

    info = videoqa.probe(event_video)
    early = videoqa.plan_sampling(info, fps=2.0, start_seconds=0.0, end_seconds=20.0, **SMALL)
    late = videoqa.plan_sampling(info, fps=2.0, start_seconds=30.0, end_seconds=50.0, **SMALL).windows[0]
    plan = dataclasses.replace(early, windows=(early.windows[0], dataclasses.replace(late, index=1)))
    model = ScriptedModel()
    features = tuple(model.encode(clip) for clip in videoqa.decode(event_video, plan))
    request = GenerationRequest(features, "When does the red square start and end?")
    (g,) = model.generate([request], max_new_tokens=64)
    assert g.text == "The event happens in 37.0 - 44.0 seconds."  # (30 - 0) + 7.0 .. (30 - 0) + 14.0


def test_tiny_qwen2_records_patch_index_temporal_ids(h264_mp4, tiny_qwen2):
    a = Session(tiny_qwen2, max_new_tokens=2, **SMALL).analyze(h264_mp4, "What happens?", strategy="single")
    (w,) = a.windows
    # Qwen2-VL numbers the temporal patches 0, 1, 2, ... whatever the sampled fps
    assert (w.num_frames, w.sampled_fps, w.temporal_ids) == (20, 2.0, list(range(10)))
    assert a.model_id == tiny_qwen2.model_id


def test_windows_say_how_many_targets_show_a_stale_frame_also_from_the_cache(tmp_path):
    """A damaged stretch repeats the last good frame: the window record and its row say so."""
    from tests.media import media_path
    from videoqa.records import analysis_to_rows

    path = media_path("corrupt_middle")  # packets in [2.0, 3.0) are damaged; next keyframe at 3.0 s
    session = Session(ScriptedModel(), fps=4.0, cache_dir=tmp_path / "cache")
    first = session.analyze(path, "When does the red square appear?", task="grounding", strategy="single")
    # 4 fps: the targets at 2.0, 2.25, 2.5 and 2.75 s show the frame of 1.9 s.
    assert [w.stale_targets for w in first.windows] == [4]
    again = session.analyze(path, "Is there a square?", task="qa", strategy="single")
    assert [(w.cached, w.stale_targets) for w in again.windows] == [(True, 4)]
    rows = analysis_to_rows(
        again,
        video=str(path),
        video_id="corrupt_middle",
        model_id="builtin:scripted",
        settings=again.settings,
        config=again.config_hash,
    )
    assert [row["stale_targets"] for row in rows.windows] == [4]
