"""Prefix reuse: model seconds per question with and without one shared prefill of the video.

A small random-weight Qwen2.5-VL (the ``builtin:tiny-qwen2.5-vl`` checkpoint widened to
``--hidden`` and ``--layers`` so that a prefill costs what it costs relative to decoding in a real
model; saved with ``save_pretrained`` and loaded through ``load_model(path)``, the real runner,
processor and model code) gets one window of several thousand visual tokens, so the video prefix
dominates a prompt as it does on a real long video, and 1, 4, 8 and 16 different questions about it in one
``generate`` call, once with ``prefix_reuse`` and once without (every request prefilled in full,
batched as usual). Prints the model seconds per question of both, their ratio, whether the answers
are identical, and the prefill tokens computed; then the GPU estimate for Qwen2.5-VL-7B at default
budgets from the same token counts.

Reuse copies the prefix's cache per request and generates each request in a call of its own, so on
short prompts it loses to plain batched prefills; the runner decides per call
(:func:`videoqa.model._prefix.reuse_pays`). The second table measures both sides on the shipped
``builtin:tiny-grounder`` (a 90-frame window: 90 visual tokens, 114 shared prompt tokens), 200
grounding questions about one video: plain batched prefills, reuse forced, and the runner's choice.
Both tables print the runner's choice next to the measured ratio.

    python benchmarks/prefix.py                         # 512 frames at 112x112: 4,096 visual tokens
    python benchmarks/prefix.py --frames 512 --repeat 3
    python benchmarks/prefix.py --questions 4 16 --grounder-questions 200
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

QUESTIONS = [
    "When does the red square appear?",
    "What colour is the square?",
    "How many squares are shown in the video?",
    "Describe the background.",
    "Does the square move? Answer yes or no.",
    "At what time does the video end?",
    "List the main events with their start and end times.",
    "Which colour appears first, red or blue?",
    "Is there any text on screen?",
    "What is the first thing that happens?",
    "Give a one-sentence summary of the video.",
    "When does the blue square disappear?",
    "How long is the red square visible, in seconds?",
    "Is the video in colour or black and white?",
    "Where in the frame is the square?",
    "What happens in the last ten seconds?",
]

# GPU estimate (not measured): Qwen2.5-VL-7B on one H100 in bf16.
H100_BF16_FLOPS = 989e12 * 0.4  # dense peak x an assumed 40% utilisation in prefill
PARAMS_7B = 7.6e9  # language model parameters (the prefill runs through these)
LAYERS_7B, HIDDEN_7B = 28, 3584
DEFAULT_WINDOW_TOKENS = 105_984  # a 10-minute 720p window at default budgets
PROMPT_TOKENS = 60  # question and chat markup after the video
DECODE_SECONDS_PER_ANSWER = 0.5  # ~50 new tokens, each reading weights + KV cache (memory bound)


def prefill_seconds_7b(tokens: int, *, past: int = 0) -> float:
    """2 x params FLOPs per token plus attention (4 x layers x hidden x tokens x context)."""
    dense = 2 * PARAMS_7B * tokens
    attention = 4 * LAYERS_7B * HIDDEN_7B * tokens * (past + tokens / 2)
    return (dense + attention) / H100_BF16_FLOPS


def gpu_estimate(questions: int) -> tuple[float, float]:
    """Model seconds per question for 7B without and with reuse, from the token counts above."""
    full = prefill_seconds_7b(DEFAULT_WINDOW_TOKENS + PROMPT_TOKENS) + DECODE_SECONDS_PER_ANSWER
    shared = prefill_seconds_7b(DEFAULT_WINDOW_TOKENS)
    suffix = prefill_seconds_7b(PROMPT_TOKENS, past=DEFAULT_WINDOW_TOKENS) + DECODE_SECONDS_PER_ANSWER
    return full, shared / questions + suffix


WORK = Path(__file__).parent / ".work"


def _bench_model(hidden: int, layers: int) -> str:
    """The tiny checkpoint with a wider, deeper language model (same head size, tokenizer, processor)."""
    import shutil

    from transformers import AutoConfig, Qwen2_5_VLForConditionalGeneration

    from videoqa.model import build_tiny_model

    target = WORK / f"prefix-bench-qwen2.5-vl-h{hidden}-l{layers}"
    if (target / "config.json").is_file():
        return str(target)
    base = build_tiny_model(WORK / "tiny-qwen2.5-vl", kind="qwen2.5-vl")
    config = AutoConfig.from_pretrained(base)
    text = config.text_config
    head_dim = text.hidden_size // text.num_attention_heads  # keeps the mrope sections valid
    text.hidden_size, text.intermediate_size, text.num_hidden_layers = hidden, 4 * hidden, layers
    text.num_attention_heads, text.num_key_value_heads = hidden // head_dim, hidden // head_dim // 4
    text.layer_types = [text.layer_types[0]] * layers
    config.vision_config.out_hidden_size = hidden
    Qwen2_5_VLForConditionalGeneration(config).save_pretrained(target)
    for item in base.iterdir():
        if item.suffix != ".safetensors" and item.name != "config.json":
            shutil.copy(item, target / item.name)
    return str(target)


def _features(model, frames: int, size: int, width: int | None = None, fps: float = 2.0):
    import numpy as np

    from videoqa.video._types import Clip, Window

    pts = tuple(k / fps for k in range(frames))
    window = Window(
        index=0,
        start_seconds=0.0,
        end_seconds=frames / fps,
        pts_seconds=pts,
        height=size,
        width=width or size,
        sampled_fps=fps,
    )
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (frames, size, width or size, 3), dtype=np.uint8)
    return model.encode(Clip(window=window, frames=pixels, pts_seconds=np.array(pts)))


def _timed(model, requests, max_new_tokens: int, *, reuse: bool | str, repeat: int):
    """Median seconds of ``generate``: ``reuse`` False (plain), True (the runner decides) or "forced"."""
    from videoqa.model._prefix import ReuseCost

    original = model.load_options
    model.load_options = dataclasses.replace(original, prefix_reuse=bool(reuse))
    if reuse == "forced":
        model.reuse_cost = ReuseCost(copy_per_token=0.0, step_tokens=0.0)
    try:
        times, result = [], None
        for _ in range(repeat):
            start = time.perf_counter()
            result = model.generate(requests, max_new_tokens=max_new_tokens)
            times.append(time.perf_counter() - start)
        return statistics.median(times), result
    finally:
        model.load_options = original
        model.__dict__.pop("reuse_cost", None)


def _decision(model, requests, max_new_tokens: int) -> str:
    rows = [model._build_row(n, r) for n, r in enumerate(requests)]
    groups = model._prefix_groups(rows, max_new_tokens=max_new_tokens)
    return "reuse" if groups else "plain"


def grounder_side(count: int, repeat: int) -> None:
    """Short prompts: the tiny grounder, ``count`` questions about one 90-frame window."""
    from videoqa.model import GenerationRequest, load_model
    from videoqa.model._grounder import GROUNDER_MODEL, GROUNDER_QUERY, GROUNDER_SETTINGS
    from videoqa.synthetic import PALETTE

    model = load_model(GROUNDER_MODEL, device="cpu")
    features = _features(model, 90, 28, width=56, fps=1.0)
    colors = list(PALETTE)
    prompts = [
        GROUNDER_QUERY.format(color=colors[k % len(colors)]) + (f" ({k})" if k >= len(colors) else "")
        for k in range(count)
    ]
    requests = [GenerationRequest(features=(features,), prompt=p) for p in prompts]
    tokens = GROUNDER_SETTINGS["max_new_tokens"]
    plain_s, plain = _timed(model, requests, tokens, reuse=False, repeat=repeat)
    forced_s, forced = _timed(model, requests, tokens, reuse="forced", repeat=repeat)
    auto_s, auto = _timed(model, requests, tokens, reuse=True, repeat=repeat)
    same = [g.text for g in plain] == [g.text for g in forced] == [g.text for g in auto]
    print(
        f"tiny grounder, {count} questions on one window of {features.window.visual_tokens} visual tokens, "
        f"{tokens} new tokens at most:"
    )
    print(
        "| plain batched s | reuse forced s | forced / plain | runner's choice | chosen s | chosen / plain "
        "| identical |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {plain_s:.2f} | {forced_s:.2f} | **{forced_s / plain_s:.2f}x** | "
        f"{_decision(model, requests, tokens)} | "
        f"{auto_s:.2f} | **{auto_s / plain_s:.2f}x** | {'yes' if same else 'NO'} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=512, help="frames of the window (2 per patch)")
    parser.add_argument("--hidden", type=int, default=256, help="language model width")
    parser.add_argument("--layers", type=int, default=6, help="language model depth")
    parser.add_argument("--size", type=int, default=112, help="frame side in pixels (multiple of 28)")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=1, help="runs per setting (median)")
    parser.add_argument("--questions", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--grounder-questions", type=int, default=200, help="0: skip the short-prompt side")
    args = parser.parse_args()

    if args.grounder_questions:
        grounder_side(args.grounder_questions, args.repeat)
        print()

    from videoqa.model import GenerationRequest, load_model

    model = load_model(_bench_model(args.hidden, args.layers), device="cpu")
    features = _features(model, args.frames, args.size)
    params = sum(p.numel() for p in model.model.parameters())
    print(
        f"random-weight Qwen2.5-VL ({params / 1e6:.1f}M parameters, hidden {args.hidden}, "
        f"{args.layers} layers) on the CPU, one window of {features.window.visual_tokens:,} visual tokens"
    )
    print(
        "| questions | full prefills s/q | shared prefix s/q | ratio | runner's choice | identical "
        "| tokens computed |"
    )
    print("|---|---|---|---|---|---|---|")
    for count in args.questions:
        requests = [GenerationRequest(features=(features,), prompt=q) for q in QUESTIONS[:count]]
        full_s, full = _timed(model, requests, args.max_new_tokens, reuse=False, repeat=args.repeat)
        reuse_s, reused = _timed(model, requests, args.max_new_tokens, reuse="forced", repeat=args.repeat)
        same = [g.text for g in full] == [g.text for g in reused]
        requested = sum(g.input_tokens for g in reused)
        computed = requested - sum(g.cached_prefix_tokens for g in reused)
        print(
            f"| {count} | {full_s / count:.2f} | {reuse_s / count:.2f} | **{full_s / reuse_s:.1f}x** | "
            f"{_decision(model, requests, args.max_new_tokens)} | {'yes' if same else 'NO'} | "
            f"{computed:,} of {requested:,} |"
        )
    print()
    print("GPU estimate, Qwen2.5-VL-7B on one H100, one default window (105,984 tokens), not measured:")
    for count in args.questions:
        full, reuse = gpu_estimate(count)
        print(f"  {count:2d} questions: {full:5.1f} s vs {reuse:5.1f} s per question ({full / reuse:.1f}x)")


if __name__ == "__main__":
    main()
