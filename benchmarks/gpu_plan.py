"""What the runner will do on a GPU: placement, tokens per call, windows per call, expected peak memory.

Pure arithmetic with the runner's own decision functions (``videoqa.model._devices`` and
``_batching``) and the sampling plan of a video of the given length and size; no GPU, no weights.
Run from the repository root, for example::

    .venv/bin/python benchmarks/gpu_plan.py --model 7b --gpu-gib 80 --video-minutes 60
    .venv/bin/python benchmarks/gpu_plan.py --model 72b --gpu-gib 80 --gpus 4 --total-pixels 19267584
    .venv/bin/python benchmarks/gpu_plan.py --model 7b --gpu-gib 24   # an A10G: does one window fit?
    .venv/bin/python benchmarks/gpu_plan.py --model 7b --gpu-gib 24 --window-seconds 0 \
        --total-pixels 19267584 --min-pixels 12544    # the report's 24,576-token cap

The memory model is an estimate (see ``videoqa/model/_batching.py``): weights from the parameter
count, per prompt token the KV cache plus one decoder layer's activations, a fixed allowance for the
CUDA context. It has not been checked on a GPU here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from videoqa.errors import ModelError
from videoqa.model import _batching, _devices
from videoqa.synthetic import planned_info
from videoqa.video import plan_sampling
from videoqa.video._sampling import DEFAULT_FPS, DEFAULT_MIN_PIXELS, DEFAULT_TOTAL_PIXELS
from videoqa.video._types import VideoInfo

GIB = 1024**3
CUDA_CONTEXT_BYTES = 1 * GIB  # CUDA context + allocator slack, per GPU (typical, not measured here)
PROMPT_TEXT_TOKENS = 120  # system prompt, question and chat markup around the video tokens

# Dimensions of the released Qwen2.5-VL-Instruct checkpoints (their config.json files).
CHECKPOINTS = {
    "3b": dict(hidden=2048, inter=11008, layers=36, heads=16, kv=2, vocab=151936, tie=True, out=2048),
    "7b": dict(hidden=3584, inter=18944, layers=28, heads=28, kv=4, vocab=152064, tie=False, out=3584),
    "72b": dict(hidden=8192, inter=29568, layers=80, heads=64, kv=8, vocab=152064, tie=False, out=8192),
}


def checkpoint_config(name: str):
    from transformers import Qwen2_5_VLConfig

    d = CHECKPOINTS[name]
    return Qwen2_5_VLConfig(
        text_config={
            "hidden_size": d["hidden"],
            "intermediate_size": d["inter"],
            "num_hidden_layers": d["layers"],
            "num_attention_heads": d["heads"],
            "num_key_value_heads": d["kv"],
            "vocab_size": d["vocab"],
        },
        vision_config={
            "depth": 32,
            "hidden_size": 1280,
            "intermediate_size": 3420,
            "out_hidden_size": d["out"],
        },
        tie_word_embeddings=d["tie"],
    )


def video(minutes: float, width: int, height: int) -> VideoInfo:
    return planned_info(
        duration_seconds=minutes * 60, width=width, height=height, num_frames=int(minutes * 60 * 30),
        source="<planned>",
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(CHECKPOINTS), default="7b")
    parser.add_argument("--gpu-gib", type=float, default=80.0, help="memory of one GPU in GiB")
    parser.add_argument("--gpus", type=int, default=1, help="GPUs per replica")
    parser.add_argument("--video-minutes", type=float, default=60.0)
    parser.add_argument("--size", default="1280x720", help="video WIDTHxHEIGHT")
    parser.add_argument("--fps", type=float, default=DEFAULT_FPS)
    parser.add_argument("--total-pixels", type=float, default=DEFAULT_TOTAL_PIXELS)
    parser.add_argument("--min-pixels", type=int, default=DEFAULT_MIN_PIXELS)
    parser.add_argument("--window-seconds", type=float, default=600.0, help="0: one window")
    parser.add_argument("--questions", type=int, default=4, help="requests per generate call")
    args = parser.parse_args()

    config = checkpoint_config(args.model)
    params = _devices.estimate_parameter_count(config)
    weights = params * 2
    free_per_gpu = int(args.gpu_gib * GIB) - CUDA_CONTEXT_BYTES
    name = f"Qwen2.5-VL-{args.model.upper()}"
    print(f"{name}: {params / 1e9:.2f}e9 parameters, bf16 weights {weights / GIB:.1f} GiB")
    try:
        choice, _ = _devices.choose_device_map(
            None, device="cuda", free_bytes_per_device=[free_per_gpu] * args.gpus, model_bytes=weights
        )
    except ModelError as exc:
        print(f"placement: REFUSED: {exc}")
        return
    print(f"placement on {args.gpus} x {args.gpu_gib:g} GiB: device_map {choice.value} ({choice.reason})")

    per_token = _batching.bytes_per_prompt_token(config, dtype_bytes=2)
    free_after = args.gpus * free_per_gpu - weights
    budget = _batching.token_budget(free_after, per_token_bytes=per_token)
    print(
        f"per prompt token {per_token / 1024:.0f} KiB; free after weights {free_after / GIB:.1f} GiB; "
        f"token budget per call {budget:,} padded tokens ({_batching.GENERATE_MEMORY_FRACTION:.0%} of free)"
    )

    width, height = (int(x) for x in args.size.split("x"))
    plan = plan_sampling(
        video(args.video_minutes, width, height),
        fps=args.fps,
        total_pixels=args.total_pixels,
        min_pixels=args.min_pixels,
        window_seconds=args.window_seconds or None,
    )
    lengths = [w.visual_tokens + PROMPT_TEXT_TOKENS for w in plan.windows]
    print(
        f"{args.video_minutes:g} min {args.size} at fps {args.fps:g}: {len(plan.windows)} window(s), "
        f"{plan.windows[0].num_frames} frames {plan.windows[0].width}x{plan.windows[0].height}, "
        f"{plan.windows[0].visual_tokens:,} visual tokens in the first"
    )
    batches = _batching.plan_batches(lengths, max_requests=args.questions, max_padded_tokens=budget)
    largest = max(len(b) * max(lengths[i] for i in b) for b in batches)
    sizes = sorted({len(b) for b in batches})
    peak = weights + args.gpus * CUDA_CONTEXT_BYTES + largest * per_token
    print(f"generate calls: {len(batches)}, windows per call {sizes}, largest call {largest:,} padded tokens")
    print(f"expected peak: {peak / GIB:.1f} GiB of {args.gpus * args.gpu_gib:g} GiB")
    if min(lengths) > budget:
        print("WARNING: one window alone exceeds the budget: lower --total-pixels or use more GPUs")


if __name__ == "__main__":
    main()
