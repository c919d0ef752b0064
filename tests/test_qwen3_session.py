"""Qwen3-VL through the pipeline: Session strategies, time mapping, the visual cache, family records.

The scripted stand-in's Qwen3-VL mode (``builtin:scripted-qwen3-vl``) reads every time from the
``<t seconds>`` text the Qwen3-VL runner writes, so these tests fail when a timestamp is wrong;
the tiny random-weight Qwen3-VL runs the real runner (answers not meaningful, mechanics exact).
"""

from __future__ import annotations

import pytest

import videoqa
import videoqa.model._scripted as scripted_module
from tests.session_util import RED, SMALL, long_red_blue_video
from videoqa import Session
from videoqa.analysis import Question, Span
from videoqa.core.settings import Settings, config_hash
from videoqa.model._scripted import ScriptedModel
from videoqa.model._timestamps import patch_timestamps
from videoqa.synthetic import Event, write_video


@pytest.fixture(scope="module")
def long_red_blue():
    return long_red_blue_video()


def test_two_hour_video_red_square_found_to_the_second_by_qwen3(long_red_blue, tmp_path):
    model = ScriptedModel(family="qwen3-vl")
    a = Session(model, cache_dir=tmp_path, **SMALL).analyze(long_red_blue, RED, task="grounding")
    assert a.strategy == "coarse_to_fine" and a.model_family == "qwen3-vl"
    # the fine pass (34-48 s at 2 fps) states <3.2 seconds> for frames 37.0 + 37.5 s and <10.2 seconds>
    # for 44.0 + 44.5 s: 34 + 3.2 and 34 + 10.2 (truth 37.0-44.5 s)
    assert a.spans == [Span(start_seconds=37.2, end_seconds=44.2)]
    assert (a.answer, a.parse_error) == ("37.2 - 44.2 seconds", None)
    coarse, fine = a.steps
    assert [w.start_seconds for w in coarse.windows] == [600.0 * i for i in range(12)]
    # 8 x 32 x 32 pixels per frame for 64x112 video: 64x128, 2x4 tokens per patch of two frames
    assert {(w.num_frames, w.height, w.width, w.visual_tokens) for w in coarse.windows} == {
        (300, 64, 128, 1200)
    }
    assert coarse.windows[0].temporal_ids[:3] == [0, 0, 0]  # time is text, not MRoPE
    assert (
        coarse.raw_texts[0] == "The event happens in 37.0 - 45.0 seconds."
    )  # <37.0> 36+38 s, <45.0> 44+46 s
    assert [(w.start_seconds, w.end_seconds, w.num_frames) for w in fine.windows] == [(34.0, 48.0, 28)]
    assert fine.raw_texts == ["The event happens in 3.2 - 10.2 seconds."]
    blue = Session(model, cache_dir=tmp_path, **SMALL).analyze(
        long_red_blue, "When is the blue square shown?", task="grounding"
    )
    assert blue.spans == [Span(start_seconds=5437.2, end_seconds=5444.2)]
    assert model.encode_calls == 12 + 1 + 1  # the second question's coarse pass came from the cache


def test_a_wrong_timestamp_gives_a_wrong_answer(long_red_blue, monkeypatch):
    """Written as transformers would from stream indices (no window origin): the fine answer is lost."""

    def from_video_start(pts_seconds, *, origin_seconds, temporal_patch_size=2):
        return patch_timestamps(pts_seconds, origin_seconds=0.0, temporal_patch_size=temporal_patch_size)

    monkeypatch.setattr(scripted_module, "patch_timestamps", from_video_start)
    # search_budget=0: one fine look (the search would look further, each look read as wrongly)
    session = Session(ScriptedModel(family="qwen3-vl"), search_budget=0.0, **SMALL)
    a = session.analyze(long_red_blue, RED, task="grounding")
    coarse, fine = a.steps
    assert coarse.raw_texts[0] == "The event happens in 37.0 - 45.0 seconds."  # window 0 starts at 0 anyway
    assert fine.raw_texts == ["The event happens in 37.2 - 44.2 seconds."]  # read as 34 + 37.2 = 71.2 s
    assert a.spans != [Span(start_seconds=37.2, end_seconds=44.2)]


def test_single_pass_on_a_late_first_frame(tmp_path):
    """First frame at 2.5 s: times stated from the window start, answers on the video's timeline."""
    path = write_video(
        tmp_path / "late.mp4",
        duration_seconds=10.0,
        fps=10,
        start_seconds=2.5,
        events=(Event(6.0, 8.0, "red"),),
    )
    a = videoqa.analyze(path, RED, task="grounding", model="builtin:scripted-qwen3-vl")
    # 20 of 100 frames (qwen-vl-utils' indices): the first patch showing red is 5.6 + 6.1 s, stated
    # <3.3 seconds> (mean 3.35 - float noise), the last 7.7 + 8.2 s, <5.4 seconds>; + 2.5 s each
    assert a.strategy == "single" and a.video_start_seconds == 2.5
    assert a.spans == [Span(start_seconds=5.8, end_seconds=7.9)]


@pytest.fixture(scope="module")
def small_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("q3s") / "small.mp4"
    return write_video(path, duration_seconds=8.0, fps=10, events=(Event(2.0, 5.0, "red"),))


def test_tiny_qwen3_cache_prefix_reuse_and_records(tiny_qwen3, small_video, tmp_path, monkeypatch):
    from videoqa.model._prefix import ReuseCost

    # the tiny prompts are far too short for reuse to pay; its mechanics are what is tested here
    monkeypatch.setattr(tiny_qwen3, "reuse_cost", ReuseCost(copy_per_token=0.0, step_tokens=0.0))
    questions = [
        Question(question_id="g", question=RED, task="grounding"),
        Question(question_id="q", question="What is shown?", task="qa"),
        Question(question_id="c", question="Which colour?", task="choice", options=["red", "blue"]),
    ]
    settings = Settings(max_new_tokens=6, **SMALL)
    session = Session(tiny_qwen3, settings, cache_dir=tmp_path)
    together = session.analyze_many(small_video, questions)
    assert sum(together[1].steps[0].reused_prompt_tokens) > 0  # the video block was prefilled once
    alone = [session.analyze(small_video, q) for q in questions]  # each from the cache, prefilled alone
    assert [a.raw_text for a in alone] == [a.raw_text for a in together]
    assert all(w.cached for a in alone for w in a.windows)
    a = alone[0]
    assert (a.model_family, a.windows[0].num_frames, a.windows[0].height % 32, a.windows[0].width % 32) == (
        "qwen3-vl",
        16,
        0,
        0,
    )
    assert a.config_hash == config_hash(tiny_qwen3.model_id, settings, family="qwen3-vl")
    assert a.config_hash != config_hash(tiny_qwen3.model_id, settings)  # the family is in the hash
    # Qwen2/2.5-VL hashes are what they were before the family existed
    assert config_hash("m", settings, family="qwen2.5-vl") == config_hash("m", settings)


def test_model_family_from_the_model_string(tiny_qwen3_path, tiny_qwen25_path, tmp_path):
    from videoqa.errors import ModelError
    from videoqa.model.families import family, model_family, sampling_profile_for

    assert model_family(str(tiny_qwen3_path)) == "qwen3-vl"
    assert model_family(str(tiny_qwen25_path)) == "qwen2.5-vl"
    assert sampling_profile_for("builtin:tiny-qwen3-vl") == family("qwen3-vl").sampling
    assert sampling_profile_for("builtin:scripted") == family("qwen2.5-vl").sampling
    (tmp_path / "config.json").write_text('{"model_type": "llava"}')
    with pytest.raises(ModelError, match="model_type 'llava' is not supported"):
        model_family(str(tmp_path))


class _Requests(ScriptedModel):
    """The scripted model, keeping the requests it was given."""

    def __init__(self, family):
        super().__init__(family=family)
        self.requests = []

    def generate(self, requests, *, max_new_tokens, options=None):
        self.requests += list(requests)
        return super().generate(requests, max_new_tokens=max_new_tokens)


@pytest.mark.parametrize(
    ("family", "style", "system"),
    [
        ("qwen3-vl", "lmms_eval", "You are a helpful assistant."),
        ("qwen3-vl", "qwen_cookbook", None),
        ("qwen2.5-vl", "lmms_eval", None),  # its template renders that system prompt by itself
    ],
)
def test_lmms_eval_style_sends_qwen3_the_system_prompt_lmms_eval_sends(small_video, family, style, system):
    model = _Requests(family)
    Session(model, prompt_style=style, **SMALL).analyze(small_video, RED, task="grounding")
    assert [r.system_prompt for r in model.requests] == [system]


def test_system_prompt_renders_as_lmms_eval_renders_it(tiny_qwen3, small_video):
    """lmms-eval's qwen3_vl: a system message, then the video and the text, through the chat template."""
    from videoqa.model import GenerationRequest

    session = Session(tiny_qwen3, **SMALL)
    (clip,) = list(videoqa.decode(small_video, session.plan(videoqa.probe(small_video))))
    request = GenerationRequest(
        (tiny_qwen3.encode(clip),), "Q?", system_prompt="You are a helpful assistant."
    )
    text = tiny_qwen3.tokenizer.decode(tiny_qwen3.build_inputs([request])["input_ids"][0])
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Q?"}]},
    ]
    template = tiny_qwen3.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    # The template's <|vision_start|><|video_pad|><|vision_end|> is replaced whole (the reference layout).
    head, tail = template.split("<|vision_start|><|video_pad|><|vision_end|>")
    assert text.startswith(head + "<0.2 seconds><|vision_start|><|video_pad|>") and text.endswith(
        "<|vision_end|>" + tail
    )
    assert head == "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    assert tail == "Q?<|im_end|>\n<|im_start|>assistant\n"


def test_results_page_lists_published_qwen3_numbers_with_sources():
    from videoqa.eval._metrics import grounding_scores
    from videoqa.eval._report import markdown_table

    scores = grounding_scores([1.0, 0.5]).as_dict()
    summary = {
        "benchmark": "charades-sta", "title": "Charades-STA", "model": "m", "prompt_style": "lmms_eval",
        "strategy": "single", "sampling_note": "sampling 2 fps", "limit": None, "comparable": True,
        "clip_ground_truth_to_duration": False, "num_missing_videos": 0, "num_items_missing_video": 0,
        "num_unparsed": 0, "num_failed": 0, "all": scores, "answerable": scores,
    }  # fmt: skip
    table = markdown_table(summary)
    assert "| Qwen2.5-VL-7B (published) | – | – | – | 43.6 |" in table
    assert "| Qwen3-VL-8B (published) | – | – | – | 56.0 |" in table
    assert "| Qwen3-VL-2B (published) | – | 54.5 | – | – |" in table
    assert (
        "Qwen3-VL-8B: Qwen3-VL-8B-Instruct: Charades-STA 56 (Qwen3-VL blog, quoted in QwenLM/Qwen3-VL#1718)"
        in table
    )
    lvbench = markdown_table(
        {**summary, "benchmark": "lvbench", "num_without_letter": 0, "all": {"num_questions": 1}}
    )
    assert "| Qwen3-VL-8B (published) | – | – | – | – | – | – | 58.0 |" in lvbench


def test_tiny_qwen3_moe_loads_by_config_and_answers(tiny_models_dir, small_video):
    """qwen3_vl_moe takes the same path: class from the config, timestamps, DeepStack, generation."""
    from videoqa.model import build_tiny_model, load_model

    path = build_tiny_model(tiny_models_dir / "tiny-qwen3-vl-moe", kind="qwen3-vl-moe")
    model = load_model(str(path), device="cpu")
    assert type(model.model).__name__ == "Qwen3VLMoeForConditionalGeneration"
    assert (model.sampling.family, model.temporal.kind) == ("qwen3-vl", "timestamp_text")
    a = Session(model, max_new_tokens=4, **SMALL).analyze(small_video, RED, task="grounding")
    assert a.model_family == "qwen3-vl" and a.windows[0].height % 32 == 0
    assert len(a.steps[0].prompt_tokens) == 1 and a.steps[0].prompt_tokens[0] > a.windows[0].visual_tokens
