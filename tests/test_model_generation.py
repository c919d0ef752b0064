"""The Qwen runner's generation on tiny random-weight checkpoints: cached features against the pixel path,
left-padded batches against single runs, generation config, forward batches.

Peers written against (tests/peers.py): transformers 5.25.0.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.model_util import (
    PROMPT,
    make_clip,
)
from videoqa.model import Generation, GenerationRequest, load_model

# -- generation -------------------------------------------------------------------------------------


def pixel_path_tokens(m, clip, prompt, max_new_tokens, position_ids=None):
    """The standard transformers path: processor on the frames + model.generate, greedy."""
    from transformers.video_utils import VideoMetadata

    p = m.processor
    messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": prompt}]}]
    text = p.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    n = clip.frames.shape[0]
    fps = clip.window.sampled_fps
    meta = VideoMetadata(
        total_num_frames=n,
        fps=fps,
        frames_indices=list(range(n)),
        duration=n / fps,
        height=clip.window.height,
        width=clip.window.width,
    )
    inputs = p(
        text=[text],
        videos=[clip.frames],
        video_metadata=[meta],
        do_resize=False,
        do_sample_frames=False,
        cap_pixels_per_frame=False,
        return_tensors="pt",
    )
    if position_ids is not None:
        inputs["position_ids"] = position_ids
    out = m.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return inputs, out[0, inputs["input_ids"].shape[1] :].tolist()


def as_generation(m, tokens, input_tokens):
    """The Generation the runner must return for these new tokens: cut after the first stop token."""
    eos = m.model.generation_config.eos_token_id
    used = next((i + 1 for i, t in enumerate(tokens) if t in eos), len(tokens))
    text = m.processor.tokenizer.decode(tokens[:used], skip_special_tokens=True)
    return Generation(text=text, input_tokens=input_tokens, output_tokens=used)


@pytest.mark.parametrize("model_fixture", ["tiny_qwen25", "tiny_qwen2"])
def test_cached_features_generate_like_the_pixel_path(request, model_fixture):
    m = request.getfixturevalue(model_fixture)
    # 112x112 frames: 4x4 merged tokens, so the largest spatial id (3) >= the largest temporal id (2):
    # transformers' own positions and the reference ones agree here and the comparison is end to end.
    clip = make_clip(4, 2.0, height=112, width=112, seed=3)
    inputs, expected = pixel_path_tokens(m, clip, PROMPT, 12)
    req = GenerationRequest(features=(m.encode(clip),), prompt=PROMPT)
    built = m.build_inputs([req])
    np.testing.assert_array_equal(built["input_ids"], inputs["input_ids"].numpy())
    tokens = m.model.generate(
        input_ids=torch.from_numpy(built["input_ids"]),
        inputs_embeds=m.embed(torch.from_numpy(built["input_ids"]), built["features"]),
        attention_mask=torch.from_numpy(built["attention_mask"]),
        position_ids=torch.from_numpy(built["position_ids"]),
        max_new_tokens=12,
        do_sample=False,
    )[0, built["input_ids"].shape[1] :].tolist()
    assert tokens == expected
    gen = m.generate([req], max_new_tokens=12)[0]
    assert gen == as_generation(m, expected, built["input_ids"].shape[1])
    assert gen.output_tokens >= 4  # a real continuation, not an immediate stop


def test_cached_features_generate_like_the_pixel_path_for_long_windows(tiny_qwen25):
    # 8 frames at 1 fps: temporal ids 0, 4, 8, 12 exceed the spatial ones; give the pixel path our
    # (reference) positions so the comparison isolates the features.
    m = tiny_qwen25
    clip = make_clip(8, 1.0, height=56, width=84, start=600.0, seed=4)
    req = GenerationRequest(features=(m.encode(clip),), prompt=PROMPT)
    built = m.build_inputs([req])
    _, expected = pixel_path_tokens(m, clip, PROMPT, 10, position_ids=torch.from_numpy(built["position_ids"]))
    gen = m.generate([req], max_new_tokens=10)[0]
    assert gen == as_generation(m, expected, built["input_ids"].shape[1])
    assert gen.output_tokens >= 4


def test_batch_with_left_padding_equals_single_runs(tiny_qwen25, monkeypatch):
    from videoqa.model import _batching

    m = tiny_qwen25
    # The planner keeps rows more than 1.25x apart in separate calls; lift that here so this call
    # really pads the short row to the long one.
    monkeypatch.setattr(_batching, "MAX_PAD_RATIO", 100.0)
    calls = []
    real = m.model.generate
    monkeypatch.setattr(
        m.model, "generate", lambda **kw: calls.append(kw["input_ids"].shape[0]) or real(**kw)
    )
    short = GenerationRequest(features=(m.encode(make_clip(4, 2.0, seed=5)),), prompt="Colour?")
    long = GenerationRequest(
        features=(m.encode(make_clip(8, 1.0, height=56, width=84, start=5.0, seed=6)),),
        prompt="Describe the video in detail, then say when the red square appears and disappears.",
    )
    built = m.build_inputs([short, long])
    assert built["attention_mask"][0].sum() < built["attention_mask"][1].sum()  # the short row is padded
    together = m.generate([short, long], max_new_tokens=8)
    alone = [m.generate([r], max_new_tokens=8)[0] for r in (short, long)]
    assert calls == [2, 1, 1]  # one left-padded call of both rows, then each alone
    assert together == alone
    assert all(g.output_tokens >= 1 for g in together)


@pytest.mark.needs_cuda
def test_bf16_flash_attention_generation_on_cuda(tiny_qwen25_path: Path):
    m = load_model(str(tiny_qwen25_path), attn_implementation="flash_attention_2")
    assert m.model.dtype == torch.bfloat16 and m.model.config._attn_implementation == "flash_attention_2"
    feats = m.encode(make_clip(4, 2.0))
    assert feats.data.embeddings.device.type == "cpu"
    gens = m.generate([GenerationRequest(features=(feats,), prompt=PROMPT)] * 2, max_new_tokens=4)
    assert gens[0] == gens[1] and gens[0].output_tokens >= 1


def test_checkpoint_generation_config_keeps_its_token_ids_and_only_unset_fields(tiny_qwen25, monkeypatch):
    """What a checkpoint's generation_config.json does to our calls (README, "Generation settings")."""
    from transformers import GenerationConfig

    from videoqa.core.settings import Settings
    from videoqa.model import GenerationOptions

    m = tiny_qwen25
    # Shaped like the official files (sampling on with top_k 1; Qwen2.5-VL ships repetition_penalty
    # 1.05, Qwen2-VL-7B 1.0), with another penalty and fields we ignore.
    official = GenerationConfig(
        bos_token_id=11, eos_token_id=[12, 13], pad_token_id=14, do_sample=True, temperature=0.1,
        top_p=0.001, top_k=1, repetition_penalty=1.3, max_length=7, no_repeat_ngram_size=2,
    )  # fmt: skip
    monkeypatch.setattr(m.model, "generation_config", official)
    ours = m._generation_config(12, Settings().generation_options())  # what a Session passes
    assert (ours.do_sample, ours.temperature, ours.top_p, ours.top_k) == (False, None, None, None)
    assert (ours.repetition_penalty, ours.max_new_tokens) == (1.05, 12)  # ours, not the file's 1.3
    assert (ours.eos_token_id, ours.bos_token_id, ours.pad_token_id) == ([12, 13], 11, m.pad_token_id)
    assert ours.no_repeat_ngram_size == GenerationConfig().no_repeat_ngram_size  # ignored
    assert ours.max_length == GenerationConfig().max_length  # ignored: max_new_tokens bounds the answer
    unset = m._generation_config(12, GenerationOptions())  # model-level None: the checkpoint's penalty
    assert (unset.do_sample, unset.repetition_penalty) == (False, 1.3)
    sampled = m._generation_config(12, GenerationOptions(do_sample=True, top_k=5))
    assert (sampled.do_sample, sampled.temperature, sampled.top_p, sampled.top_k) == (True, 0.1, 0.001, 5)


def test_requests_per_batch_splits_generate_into_forward_batches(tiny_qwen25, tiny_qwen25_path, monkeypatch):

    m = tiny_qwen25
    sizes: list[int] = []
    settings = dataclasses.replace(m.load_options, requests_per_batch=2, prefix_reuse=False)
    monkeypatch.setattr(m, "load_options", settings)
    monkeypatch.setattr(
        m, "_generate_batch", lambda rows, config, cache=None: sizes.append(len(rows)) or [None] * len(rows)
    )
    feats = m.encode(make_clip(4, 2.0))
    assert len(m.generate([GenerationRequest(features=(feats,), prompt=PROMPT)] * 5, max_new_tokens=2)) == 5
    assert sizes == [2, 2, 1]
    with pytest.raises(ValueError, match="requests_per_batch must be an integer >= 1, got 0"):
        load_model(str(tiny_qwen25_path), requests_per_batch=0)
