"""Qwen3-VL parity with the reference stack: qwen-vl-utils 0.0.14 (``image_patch_size=16``) and
transformers' ``Qwen3VLProcessor`` / ``Qwen3VLForConditionalGeneration`` (written against 5.25.0).

The prompt layout is tested as a fact first (the token sequence written out, with its source), then
against the installed processor where that processor is known to write the reference layout
(``tests/peers.py``: transformers 5.10.1-5.24.0 do not, and those comparisons are skipped there).

On constant-rate video starting at 0, our path (``probe`` -> the model family's plan -> ``decode``
-> the Qwen3-VL runner) reads the same frames as qwen-vl-utils, at the same size, and builds the
same prompt text, token ids and position ids as the processor and ``get_rope_index``; generation
from our cached embeddings and DeepStack features equals transformers' own pixel path.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import videoqa
from tests.peers import peer_note, recipe_inputs, skip_unless_reference_qwen3_processor
from tests.test_sampling import monkeypatch_module, qwen_decord  # noqa: F401 (module fixtures used here)
from videoqa.model import GenerationRequest
from videoqa.model._batching import plan_batches
from videoqa.model._protocol import GenerationOptions
from videoqa.model._timestamps import read_timestamps
from videoqa.model.families import family
from videoqa.synthetic import Event, write_video

QWEN3_SAMPLING = family("qwen3-vl").sampling

PROMPT = "When does the red square appear?"
# 4 and 8 tokens per frame: the same budgets in Qwen2.5-VL pixels (Settings) and Qwen3-VL pixels (reference).
SETTINGS = {"min_pixels": 4 * 28 * 28, "max_pixels": 8 * 28 * 28}
REFERENCE = {"min_pixels": 4 * 32 * 32, "max_pixels": 8 * 32 * 32}

SAMPLING_CASES = {
    # name: (write_video kwargs, qwen-vl-utils video options)
    "160x90_10fps_10s": (dict(duration_seconds=10.0, fps=10, width=160, height=90), {}),
    "1280x720_2fps_3s": (dict(duration_seconds=3.0, fps=2, width=1280, height=720), {}),
    "854x480_24fps_3.25s": (dict(duration_seconds=3.25, fps=24, width=854, height=480), {}),
    "320x240_1fps_12s": (dict(duration_seconds=12.0, fps=1, width=320, height=240), {}),
    "640x360_fps0.5_minpx": (
        dict(duration_seconds=20.0, fps=2, width=640, height=360),
        dict(fps=0.5, min_pixels=16 * 32 * 32, max_pixels=256 * 32 * 32),
    ),
}


@pytest.mark.parametrize("case", sorted(SAMPLING_CASES))
def test_frames_size_and_tokens_equal_qwen_vl_utils_for_qwen3(case, tmp_path_factory, request):
    fetch_video = request.getfixturevalue("qwen_decord")
    write_kwargs, options = SAMPLING_CASES[case]
    path = write_video(tmp_path_factory.mktemp("q3") / f"{case}.mp4", **write_kwargs)
    video, meta = fetch_video(
        {"type": "video", "video": str(path), **options}, image_patch_size=16, return_video_metadata=True
    )
    assert meta["video_backend"] == "decord"
    frames, _, height, width = video.shape
    plan = videoqa.plan_sampling(videoqa.probe(path), patch_factor=32, targets="source_frames", **options)
    (window,) = plan.windows
    assert (window.num_frames, window.height, window.width) == (frames, height, width)
    assert height % 32 == 0 and width % 32 == 0
    assert window.visual_tokens == frames // 2 * (height // 32) * (width // 32)
    # The instants fall on the very frames qwen-vl-utils read.
    (clip,) = list(videoqa.decode(path, plan))
    np.testing.assert_array_equal(
        np.round(clip.pts_seconds * meta["fps"]).astype(int), np.asarray(meta["frames_indices"])
    )


def test_settings_budgets_scale_to_qwen3_tokens():
    """Settings count pixels at 28 x 28 per token; Qwen3-VL gets the same token budgets at 32 x 32."""
    defaults = videoqa.Settings()
    scaled = QWEN3_SAMPLING.plan_kwargs(
        min_pixels=defaults.min_pixels, max_pixels=defaults.max_pixels, total_pixels=defaults.total_pixels
    )
    # qwen-vl-utils 0.0.14 with image_patch_size=16: VIDEO_MIN/MAX_TOKEN_NUM 128 / 768, MODEL_SEQ_LEN 128000.
    assert scaled == {
        "patch_factor": 32,
        "targets": "source_frames",
        "min_pixels": 128 * 32 * 32,
        "max_pixels": 768 * 32 * 32,
        "total_pixels": 128000 * 32 * 32 * 0.9,
    }
    assert QWEN3_SAMPLING.plan_kwargs(**SETTINGS, total_pixels=24576 * 28 * 28) == {
        "patch_factor": 32,
        "targets": "source_frames",
        **REFERENCE,
        "total_pixels": 24576 * 32 * 32,
    }


def test_sampling_profiles_name_their_bad_values():
    from videoqa.model.families import SamplingProfile

    with pytest.raises(ValueError, match=r"patch_factor must be one of \(28, 32\), got 30"):
        SamplingProfile(patch_factor=30)
    with pytest.raises(ValueError, match="targets must be one of"):
        SamplingProfile(targets="middle")


def test_linspace_equals_torch():
    from videoqa.video._linspace import torch_linspace_rounded

    for last in (1, 7, 99, 299, 1199, 7199, 86399):
        for count in sorted({2, 3, 4, 20, 37, 300, 768} & set(range(2, last + 2))):
            want = torch.linspace(0, last, count).round().long().tolist()
            assert torch_linspace_rounded(0, last, count) == want, (last, count)


def reference_inputs(model, path):
    """The official recipe: qwen-vl-utils reads and resizes, the processor writes the timestamps."""
    video_part = {"type": "video", "video": str(path), **REFERENCE}
    return recipe_inputs(model, video_part, PROMPT, vision_kwargs={"image_patch_size": 16})


@pytest.fixture(scope="module")
def cfr_video(tmp_path_factory):
    """10 s, 10 fps, 160x90, first frame at 0, red square 3.0-4.5 s."""
    path = tmp_path_factory.mktemp("q3cfr") / "cfr.mp4"
    return write_video(path, duration_seconds=10.0, fps=10, events=(Event(3.0, 4.5, "red"),))


@pytest.fixture(scope="module")
def recipe(tiny_qwen3, cfr_video, request):
    """(inputs, metadata) of the official recipe on ``cfr_video`` (qwen-vl-utils reading with decord),
    where the installed processor writes the reference layout (skipped otherwise)."""
    skip_unless_reference_qwen3_processor()
    request.getfixturevalue("qwen_decord")
    return reference_inputs(tiny_qwen3, cfr_video)


@pytest.fixture(scope="module")
def ours(tiny_qwen3, cfr_video):
    session = videoqa.Session(tiny_qwen3, **SETTINGS)
    plan = session.plan(videoqa.probe(cfr_video))
    (clip,) = list(videoqa.decode(cfr_video, plan))
    features = tiny_qwen3.encode(clip)
    request = GenerationRequest(features=(features,), prompt=PROMPT)
    return clip, request, tiny_qwen3.build_inputs([request])


# The reference layout (transformers 4.57.0 processing_qwen3_vl.py, the Qwen3-VL processor as
# released; restored in 5.25.0): the chat template's <|vision_start|><|video_pad|><|vision_end|> is
# replaced whole by, per temporal patch, "<t seconds>" + <|vision_start|> + pads + <|vision_end|>;
# no outer start/end pair encloses the patches. The tiny model's template has no system turn.
def reference_layout(seconds: list[str], tokens_per_patch: int, prompt: str = PROMPT) -> str:
    patches = "".join(
        f"<{t} seconds><|vision_start|>" + "<|video_pad|>" * tokens_per_patch + "<|vision_end|>"
        for t in seconds
    )
    return f"<|im_start|>user\n{patches}{prompt}<|im_end|>\n<|im_start|>assistant\n"


CFR_SECONDS = ["0.2", "1.3", "2.4", "3.4", "4.5", "5.5", "6.5", "7.5", "8.6", "9.7"]


def test_prompt_follows_the_reference_layout(tiny_qwen3, ours):
    m = tiny_qwen3
    _, _, built = ours
    expected = reference_layout(CFR_SECONDS, tokens_per_patch=6)
    assert m.tokenizer.decode(built["input_ids"][0]) == expected
    np.testing.assert_array_equal(built["input_ids"][0], m.tokenizer(expected)["input_ids"])
    assert expected.count("<|vision_start|>") == expected.count("<|vision_end|>") == 10


def test_a_two_window_request_follows_the_reference_layout(tiny_qwen3, cfr_video):
    """Each window's wrapper is replaced whole; times count from the request's first window."""
    m = tiny_qwen3
    session = videoqa.Session(m, **SETTINGS)
    plan = session.plan(videoqa.probe(cfr_video))
    (clip,) = list(videoqa.decode(cfr_video, plan))
    first = dataclasses_replace_clip(clip, 0, 4)  # patches at 0.2 and 1.3 s
    second = dataclasses_replace_clip(clip, 6, 10)  # frames 31-47: patches at 3.4 and 4.5 s
    request = GenerationRequest(features=(m.encode(first), m.encode(second)), prompt=PROMPT)
    text = m.tokenizer.decode(m.build_inputs([request])["input_ids"][0])
    assert text == reference_layout(["0.2", "1.3", "3.4", "4.5"], tokens_per_patch=6)


def dataclasses_replace_clip(clip, start: int, stop: int):
    """Frames ``start:stop`` of ``clip`` as a window of their own (its true pts kept)."""
    import dataclasses

    pts = clip.pts_seconds[start:stop]
    window = dataclasses.replace(
        clip.window,
        index=start,
        start_seconds=float(pts[0]),
        end_seconds=float(clip.pts_seconds[stop]),
        pts_seconds=tuple(float(t) for t in pts),
    )
    return dataclasses.replace(clip, frames=clip.frames[start:stop], pts_seconds=pts, window=window)


def test_prompt_text_and_ids_equal_the_processor_on_constant_rate_video(tiny_qwen3, recipe, ours):
    m = tiny_qwen3
    ref, meta = recipe
    clip, _, built = ours
    # 100 frames at 10 fps: qwen-vl-utils reads 20 (2 fps), indices linspace(0, 99, 20).round().
    assert meta["frames_indices"] == [
        0,
        5,
        10,
        16,
        21,
        26,
        31,
        36,
        42,
        47,
        52,
        57,
        63,
        68,
        73,
        78,
        83,
        89,
        94,
        99,
    ]
    np.testing.assert_array_equal(np.round(clip.pts_seconds * 10).astype(int), meta["frames_indices"])
    assert tuple(ref["video_grid_thw"][0].tolist()) == clip.window.grid_thw == (10, 4, 6)
    assert m.tokenizer.decode(ref["input_ids"][0]) == reference_layout(CFR_SECONDS, 6), peer_note(
        "transformers"
    )
    np.testing.assert_array_equal(
        built["input_ids"], ref["input_ids"].numpy(), err_msg=peer_note("transformers")
    )
    # Patch k: mean of frames_indices[2k], [2k+1] over 10 fps, as :.1f (0.25 -> 0.2, 2.35 -> 2.4).
    text = m.tokenizer.decode(built["input_ids"][0])
    assert read_timestamps(text) == [float(t) for t in CFR_SECONDS]
    assert text.count("<|video_pad|>") == clip.window.visual_tokens == 60


def test_position_ids_equal_get_rope_index(tiny_qwen3, recipe, ours):
    m = tiny_qwen3
    ref, _ = recipe
    _, _, built = ours
    theirs, _ = m.model.model.get_rope_index(
        ref["input_ids"], mm_token_type_ids=ref["mm_token_type_ids"], video_grid_thw=ref["video_grid_thw"]
    )
    np.testing.assert_array_equal(
        theirs[:, 0].numpy(), built["position_ids"][1:, 0], err_msg=peer_note("transformers")
    )
    # Each temporal patch starts its own positions: 10 patches of 2x3 tokens, then text at +3 each.
    video = built["input_ids"][0] == m.video_token_id
    starts = built["position_ids"][1, 0, video][::6]
    assert np.all(built["position_ids"][1, 0, video] == np.repeat(starts, 6))


def test_generation_equals_transformers_pixel_path(tiny_qwen3, ours):
    """Cached embeddings + DeepStack features through ``mm_encoder_outputs`` = the processor's own path."""
    from transformers.video_utils import VideoMetadata

    skip_unless_reference_qwen3_processor()

    m = tiny_qwen3
    clip, request, built = ours
    indices = [int(i) for i in np.round(clip.pts_seconds * 10)]
    text = m.processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": PROMPT}]}],
        tokenize=False,
        add_generation_prompt=True,
    )
    inputs = m.processor(
        text=[text],
        videos=[clip.frames],
        video_metadata=[VideoMetadata(total_num_frames=100, fps=10.0, frames_indices=indices)],
        do_resize=False,
        do_sample_frames=False,
        return_tensors="pt",
    )
    np.testing.assert_array_equal(
        inputs["input_ids"].numpy(), built["input_ids"], err_msg=peer_note("transformers")
    )
    with torch.inference_mode():
        want = m.model.generate(**inputs, max_new_tokens=12, do_sample=False, repetition_penalty=1.0)
    got = m.generate([request], max_new_tokens=12, options=GenerationOptions(repetition_penalty=1.0))
    want_text = m.tokenizer.decode(want[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert got[0].text == want_text and got[0].output_tokens == 12


def test_deepstack_features_reach_the_language_model(tiny_qwen3, ours):
    """The cached DeepStack features change the logits (they are not silently dropped)."""
    import dataclasses

    m = tiny_qwen3
    _, request, built = ours
    data = request.features[0].data
    assert len(data.deepstack) == 2 and data.deepstack[0].shape == data.embeddings.shape == (60, 64)
    zeroed = dataclasses.replace(data, deepstack=tuple(torch.zeros_like(d) for d in data.deepstack))
    ids = torch.from_numpy(built["input_ids"])
    positions = torch.from_numpy(built["position_ids"])

    def logits(window_data):
        with torch.inference_mode():
            out = m.model(
                inputs_embeds=m.embed(ids, [[window_data]]),
                position_ids=positions,
                **m.visual_inputs([[window_data]]),
            )
        return out.logits[0, -1]

    assert not torch.allclose(logits(data), logits(zeroed))


def test_a_batch_of_different_windows_equals_each_alone(tiny_qwen3, ours, tmp_path):
    """Left-padded rows of different lengths: embeddings and DeepStack features land on their own row."""
    m = tiny_qwen3
    _, request, _ = ours
    other = write_video(tmp_path / "other.mp4", duration_seconds=8.0, fps=10)
    session = videoqa.Session(m, **SETTINGS)
    (clip,) = list(videoqa.decode(other, session.plan(videoqa.probe(other))))
    shorter = GenerationRequest(features=(m.encode(clip),), prompt="What is shown?")
    options = GenerationOptions(repetition_penalty=1.0)
    together = m.generate([request, shorter], max_new_tokens=8, options=options)
    alone = [m.generate([r], max_new_tokens=8, options=options)[0] for r in (request, shorter)]
    assert [g.text for g in together] == [g.text for g in alone]
    # one call (lengths within the planner's 1.25 ratio), the shorter row left-padded
    long, short = (g.input_tokens for g in together)
    assert plan_batches([long, short], max_requests=8, max_padded_tokens=None) == [[1, 0]]
    assert long > short
