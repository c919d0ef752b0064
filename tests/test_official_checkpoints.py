"""Released checkpoints' own files: shrunk configs, the shipped chat template, the real token ids.

The official non-weight files live in ``tests/data/official/<model>/`` (sources in its README).
Each checkpoint is rebuilt by :func:`videoqa.model.build_tiny_model` with ``official=``: only the
sizes shrink, every other field, the chat template, the processor, generation and tokenizer
configs are the shipped ones, and the special tokens sit at their official ids. Then the whole
pipeline runs on it (``load_model(path)`` + ``analyze``), and the prompt the model receives is
compared, token for token, with what the official chat template renders for the same messages.

Peers written against (tests/peers.py): transformers 5.25.0 (chat templates rendered by its processors).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import pytest

import videoqa
from videoqa.core import prompts
from videoqa.model import OFFICIAL_FILES, TemporalConfig, load_model, shrink_official_config
from videoqa.synthetic import Event, write_video

# The `official` fixture (tests/fixtures_models.py) builds each of OFFICIAL_CHECKPOINTS shrunk.
SIZE_KEYS = {
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
}
VISION_SIZE_KEYS = {
    "qwen2_5_vl": {"depth", "hidden_size", "intermediate_size", "num_heads", "out_hidden_size"},
    "qwen2_vl": {"depth", "embed_dim", "num_heads", "hidden_size"},  # hidden_size: the merger's output
}


class Shipped(NamedTuple):
    """What a released checkpoint ships, read off its vendored files (tests/data/official/README.md)."""

    model_type: str
    vocab_size: int
    tied_embeddings: bool
    special_tokens: int  # entries of added_tokens_decoder
    repetition_penalty: float  # of generation_config.json
    temporal_ids: list[int]  # of 8 temporal patches at 2 fps, t = 0, 1, ..., 7 s


SHIPPED = {
    # Qwen2.5-VL: floor(tokens_per_second * t) with tokens_per_second 2
    "Qwen2.5-VL-3B-Instruct": Shipped("qwen2_5_vl", 151936, True, 22, 1.05, [0, 2, 4, 6, 8, 10, 12, 14]),
    "Qwen2.5-VL-7B-Instruct": Shipped("qwen2_5_vl", 152064, False, 22, 1.05, [0, 2, 4, 6, 8, 10, 12, 14]),
    # Qwen2-VL: the temporal patch index
    "Qwen2-VL-7B-Instruct": Shipped("qwen2_vl", 152064, False, 14, 1.0, [0, 1, 2, 3, 4, 5, 6, 7]),
}
QUESTIONS = {
    "qa": {"question": "What colour is the square?"},
    "choice": {"question": "What colour is the square?", "options": ["red", "green", "blue"]},
    "grounding": {"question": "the red square is shown"},
    "events": {"question": "List the events."},
}
SMALL = {"min_pixels": 8 * 28 * 28, "max_pixels": 8 * 28 * 28, "max_new_tokens": 8}


@pytest.fixture(scope="module")
def official_model(official):
    return load_model(str(official[2]), device="cpu")


@pytest.fixture(scope="module")
def square_video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "square.mp4"
    write_video(path, duration_seconds=8.0, fps=8, width=112, height=84, events=[Event(2.0, 5.0, "red")])
    return path


def test_only_sizes_change(official):
    name, source, built = official
    shipped = json.loads((source / "config.json").read_text())
    shrunk = json.loads((built / "config.json").read_text())
    assert list(shrunk) == list(shipped)  # same fields, same order
    changed = {k for k in shipped if shipped[k] != shrunk[k]}
    assert changed == SIZE_KEYS | {"vision_config", "rope_scaling"}
    vision, shrunk_vision = shipped["vision_config"], shrunk["vision_config"]
    assert list(shrunk_vision) == list(vision)
    vision_changed = {k for k in vision if vision[k] != shrunk_vision[k]}
    assert shrunk["rope_scaling"] == {"type": "mrope", "mrope_section": [2, 3, 3]}  # 16:24:24 of 64 -> of 8
    model_type, vocab_size = SHIPPED[name].model_type, SHIPPED[name].vocab_size
    assert shipped["model_type"] == model_type and shrunk["vocab_size"] == vocab_size
    if model_type == "qwen2_5_vl":
        assert vision_changed == VISION_SIZE_KEYS[model_type] | {"fullatt_block_indexes"}
        assert vision["fullatt_block_indexes"] == [7, 15, 23, 31]
        assert shrunk_vision["fullatt_block_indexes"] == [1, 3, 5, 7]  # same relative depth of 8
        assert shrunk_vision["tokens_per_second"] == 2 and shrunk_vision["window_size"] == 112
    else:  # Qwen2-VL: a ViT of embed_dim * mlp_ratio, merged into the text model's hidden size
        assert vision_changed == VISION_SIZE_KEYS[model_type]
        assert (vision["depth"], vision["embed_dim"], vision["num_heads"]) == (32, 1280, 16)
        assert (shrunk_vision["depth"], shrunk_vision["embed_dim"], shrunk_vision["num_heads"]) == (2, 32, 2)
        assert shrunk_vision["hidden_size"] == shrunk["hidden_size"] == 64 and shrunk_vision["mlp_ratio"] == 4
    assert shrunk == shrink_official_config(shipped)
    for file in OFFICIAL_FILES[1:]:  # byte for byte as shipped
        assert (built / file).read_bytes() == (source / file).read_bytes(), file


def test_loaded_model_has_the_shipped_settings(official, official_model):
    name, _, _ = official
    model_type = SHIPPED[name].model_type
    config = official_model.model.config
    assert config.model_type == model_type
    assert config.text_config.rope_parameters["mrope_section"] == [2, 3, 3]
    if model_type == "qwen2_5_vl":
        assert config.vision_config.fullatt_block_indexes == [1, 3, 5, 7]
        assert config.vision_config.window_size == 112 and config.vision_config.tokens_per_second == 2
        assert official_model.temporal == TemporalConfig("absolute_time", 2.0, 2)
    else:
        assert (config.vision_config.depth, config.vision_config.embed_dim) == (2, 32)
        assert official_model.temporal == TemporalConfig("patch_index", 1.0, 2)
    assert config.tie_word_embeddings is SHIPPED[name].tied_embeddings
    gen = official_model.model.generation_config
    assert (gen.repetition_penalty, gen.eos_token_id, gen.pad_token_id) == (
        SHIPPED[name].repetition_penalty,
        [151645, 151643],
        151643,
    )
    vp = official_model.processor.video_processor
    assert (vp.patch_size, vp.temporal_patch_size, vp.merge_size) == (14, 2, 2)
    assert dict(vp.size) == {"shortest_edge": 3136, "longest_edge": 12845056}


def test_official_generation_config_under_our_settings(official, official_model):
    """What the shipped generation_config.json does to our calls: token IDs kept, greedy, our penalty."""
    from videoqa.model import GenerationOptions

    shipped = json.loads((official[1] / "generation_config.json").read_text())
    assert (
        shipped["do_sample"] is True
        and shipped["repetition_penalty"] == SHIPPED[official[0]].repetition_penalty
    )
    ours = official_model._generation_config(8, videoqa.Settings().generation_options())
    assert (ours.do_sample, ours.temperature, ours.top_p, ours.top_k) == (False, None, None, None)
    # ours, whatever the checkpoint ships (Qwen2.5-VL: 1.05 too; Qwen2-VL-7B: 1.0)
    assert ours.repetition_penalty == videoqa.Settings().repetition_penalty == 1.05
    assert (ours.eos_token_id, ours.bos_token_id) == (shipped["eos_token_id"], shipped["bos_token_id"])
    sampled = official_model._generation_config(8, GenerationOptions(do_sample=True))
    assert (
        sampled.repetition_penalty == shipped["repetition_penalty"]
    )  # sampling, all unset: the checkpoint's
    for field in ("temperature", "top_p", "top_k"):  # Qwen2-VL-7B: 0.01, 0.001, 1 (greedy in effect)
        if field in shipped:
            assert getattr(sampled, field) == shipped[field], field
    none = official_model._generation_config(8, videoqa.Settings(repetition_penalty=1.0).generation_options())
    assert none.repetition_penalty == 1.0


def test_special_tokens_sit_at_official_ids(official, official_model):
    _, source, _ = official
    shipped = json.loads((source / "tokenizer_config.json").read_text())["added_tokens_decoder"]
    tokenizer = official_model.tokenizer
    assert (
        len(shipped) == SHIPPED[official[0]].special_tokens
    )  # Qwen2.5-VL adds <|fim_prefix|> ... <|file_sep|>
    for token_id, entry in shipped.items():
        assert tokenizer.convert_tokens_to_ids(entry["content"]) == int(token_id), entry["content"]
    assert official_model.video_token_id == 151656 == tokenizer.convert_tokens_to_ids("<|video_pad|>")
    assert tokenizer.eos_token_id == 151645 and official_model.pad_token_id == 151643
    assert (
        tokenizer.decode([151644, 151652, 151656, 151653])
        == "<|im_start|><|vision_start|><|video_pad|><|vision_end|>"
    )


def official_rendering(source: Path, tokenizer, prompt: str, token_counts: list[int]) -> str:
    """The shipped chat_template.json rendered by transformers for one user turn: videos, then text."""
    template = json.loads((source / "chat_template.json").read_text())["chat_template"]
    content = [{"type": "video"} for _ in token_counts] + [{"type": "text", "text": prompt}]
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": content}],
        chat_template=template,
        tokenize=False,
        add_generation_prompt=True,
    )
    pieces = text.split("<|video_pad|>")
    assert len(pieces) == len(token_counts) + 1
    return pieces[0] + "".join(
        "<|video_pad|>" * n + rest for n, rest in zip(token_counts, pieces[1:], strict=True)
    )


def spy_build_inputs(model, monkeypatch) -> list[tuple[str, list[int], list[int]]]:
    """Record (prompt, input ids, video token counts) of every request the model turns into tokens."""
    seen = []
    real = model._build_row

    def spy(n, request):
        row = real(n, request)
        seen.append((request.prompt, list(row.ids), [int(f.window.visual_tokens) for f in request.features]))
        return row

    monkeypatch.setattr(model, "_build_row", spy)
    return seen


# The 3B checkpoint is rendered with the 7B's template and tokenizer config files (see the README).
@pytest.mark.parametrize("official", ["Qwen2.5-VL-7B-Instruct", "Qwen2-VL-7B-Instruct"], indirect=True)
@pytest.mark.parametrize("style", prompts.PROMPT_STYLES)
@pytest.mark.parametrize("strategy", ["single", "coarse_to_fine"])
def test_prompt_equals_the_official_template_token_for_token(
    official, official_model, square_video, monkeypatch, style, strategy
):
    _, source, _ = official
    seen = spy_build_inputs(official_model, monkeypatch)
    options = {"coarse_window_seconds": 4.0, "coarse_fps": 1.0} if strategy == "coarse_to_fine" else {}
    for task, q in QUESTIONS.items():
        videoqa.analyze(
            square_video, q["question"], model=official_model, task=task, options=q.get("options"),
            strategy=strategy, prompt_style=style, **{**SMALL, "max_new_tokens": 1}, **options,
        )  # fmt: skip
    assert {prompt for prompt, _, _ in seen} >= {
        prompts.build_prompt(videoqa.Question(task=t, **q), style=style) for t, q in QUESTIONS.items()
    }
    tokenizer = official_model.tokenizer
    for prompt, ids, counts in seen:
        text = official_rendering(source, tokenizer, prompt, counts)
        assert tokenizer.decode(ids, skip_special_tokens=False) == text
        assert ids == tokenizer(text)["input_ids"]
        head = tokenizer("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n")
        tail = tokenizer("<|im_end|>\n<|im_start|>assistant\n")["input_ids"]
        assert ids[: len(head["input_ids"])] == head["input_ids"] and ids[-len(tail) :] == tail


def test_rendered_prompt_exact_text(official, official_model, square_video, monkeypatch):
    seen = spy_build_inputs(official_model, monkeypatch)
    videoqa.analyze(square_video, "the red square is shown", model=official_model, task="grounding", **SMALL)
    ((_, ids, counts),) = seen
    # 16 frames at 2 fps, 112x84 capped at 8 * 28 * 28 pixels -> 84x56: 8 temporal patches of 3x2 tokens
    assert counts == [48]
    expected = (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|>" + "<|video_pad|>" * 48 + "<|vision_end|>"
        "Give the query: 'the red square is shown', when does the described content occur in the video? "
        "Answer with its start and end time in seconds, in the format "
        "'The event happens in <start time> - <end time> seconds'. "
        "If it does not occur, say that it does not occur.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert official_model.tokenizer.decode(ids) == expected
    tail = official_model.tokenizer("<|im_end|>\n<|im_start|>assistant\n")["input_ids"]
    assert ids[0] == 151644 and ids[-len(tail) :] == tail and (tail[0], tail[2]) == (151645, 151644)
    assert ids.count(151656) == 48 and ids.count(151652) == 1 and ids.count(151653) == 1


@pytest.mark.parametrize("task", list(QUESTIONS))
def test_analyze_runs_every_task(official, official_model, square_video, task):
    q = QUESTIONS[task]
    analysis = videoqa.analyze(
        square_video, q["question"], model=official_model, task=task, options=q.get("options"), **SMALL
    )
    (window,) = analysis.steps[-1].windows
    assert (window.num_frames, window.sampled_fps, window.visual_tokens) == (16, 2.0, 48)
    assert (window.width, window.height) == (84, 56)
    assert window.temporal_ids == SHIPPED[official[0]].temporal_ids
    assert analysis.model_id.endswith(official_model.model_id.split("/")[-1])
    assert isinstance(analysis.raw_text, str)


def test_model_uses_the_temporal_ids(official_model, square_video, monkeypatch):
    """The position ids the language model receives equal videoqa.temporal_ids of the window."""
    seen = spy_build_inputs(official_model, monkeypatch)
    used = []
    hook = official_model.model.model.language_model.register_forward_pre_hook(
        lambda module, args, kwargs: used.append(kwargs["position_ids"].detach().clone()), with_kwargs=True
    )
    try:
        analysis = videoqa.analyze(square_video, "What is shown?", model=official_model, task="qa", **SMALL)
    finally:
        hook.remove()
    (window,) = analysis.steps[-1].windows
    ((_, ids, _),) = seen
    video = [i for i, t in enumerate(ids) if t == official_model.video_token_id]
    offset = video[0]
    per_patch = window.visual_tokens // len(window.temporal_ids)
    temporal = used[0][1, 0, video].tolist()  # prefill call: (4, 1, L), rows t/h/w after the text row
    assert temporal == [offset + t for t in window.temporal_ids for _ in range(per_patch)]
    plan = videoqa.plan_sampling(videoqa.probe(square_video), fps=2.0, min_pixels=SMALL["min_pixels"],
                                 max_pixels=SMALL["max_pixels"])  # fmt: skip
    t = official_model.temporal
    ids = videoqa.temporal_ids(plan.windows[0], tokens_per_second=t.tokens_per_second, kind=t.kind)
    assert ids.tolist() == window.temporal_ids
