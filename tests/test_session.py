"""Session and analyze end to end on short videos: every task, batching, parsing and clamping, the
scripted and tiny real models (the 2-hour video's coarse-to-fine search is in ``test_session_long.py``)."""

from __future__ import annotations

import pytest

import videoqa
import videoqa.core._session as session_module
from tests.session_util import (
    RED,
    SMALL,
    FixedTextModel,
    RecordingModel,
    spy_decode,
)
from videoqa import Session
from videoqa.analysis import Question, Span
from videoqa.core.settings import Settings, config_hash
from videoqa.errors import ModelError
from videoqa.model._protocol import Generation, GenerationOptions
from videoqa.model._scripted import ScriptedModel

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
    calls = spy_decode(monkeypatch)
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
