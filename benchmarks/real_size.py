"""One real-size run: Qwen2.5-VL-3B-Instruct at its official dimensions, random weights, bf16, CPU.

The checkpoint is built once from the official files in ``tests/data/official`` with
``build_tiny_model(..., official=DIR, shrink=False)`` (the official config.json unchanged, the
shipped chat template, processor, generation and tokenizer configs, the special tokens at their
official ids; random weights constructed in bfloat16 and ``save_pretrained``), into
``benchmarks/.work/``. Then a fresh child process loads it through ``videoqa.load_model(path,
dtype="bfloat16")`` (the path a downloaded checkpoint takes) and answers one grounding question
about a 4-second video with the default sampling (2 fps, the qwen-vl-utils pixel limits).

It prints the child's peak RSS (``ru_maxrss`` from ``os.wait4``) against the bf16 weight bytes
(the reference: what any loader must hold), load time, encode and generate seconds, the
visual-token count, and checks that the temporal position ids the language model received equal
``videoqa.temporal_ids`` of the planned window.

    python benchmarks/real_size.py                      # build if needed, then run
    python benchmarks/real_size.py --model 7B           # Qwen2.5-VL-7B-Instruct (about 16.6 GB bf16)

Needs about 2x the bf16 weights in free RAM while building (3B: ~7.5 GB of weights).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(__file__).parent / ".work"
OFFICIAL = ROOT / "tests" / "data" / "official"
MODELS = {"3B": "Qwen2.5-VL-3B-Instruct", "7B": "Qwen2.5-VL-7B-Instruct"}
FALLBACK = "Qwen2.5-VL-7B-Instruct"  # template, processor and tokenizer configs (see the data README)
QUESTION = "the red square is shown"


def _available_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024**2
    return float("nan")


def build(name: str, target: Path) -> None:
    from videoqa.model import OFFICIAL_FILES, build_tiny_model

    source = WORK / f"official-{name}"
    source.mkdir(parents=True, exist_ok=True)
    for file in OFFICIAL_FILES:
        own = OFFICIAL / name / file
        shutil.copyfile(own if own.is_file() else OFFICIAL / FALLBACK / file, source / file)
    start = time.perf_counter()
    build_tiny_model(target, official=source, shrink=False)
    print(f"built {target} in {time.perf_counter() - start:.0f} s", file=sys.stderr)


def _video() -> Path:
    from videoqa.synthetic import Event, write_video_once

    return write_video_once(
        WORK / "real-size-4s-320x240.mp4", duration_seconds=4.0, fps=25, width=320, height=240,
        events=[Event(1.0, 3.0, "red")],
    )  # fmt: skip


def run(target: Path, max_new_tokens: int) -> dict:
    """In the child: load, analyze once, check the position ids; returns the figures."""
    import videoqa
    from videoqa.model import load_model

    video = _video()
    start = time.perf_counter()
    model = load_model(str(target), device="cpu", dtype="bfloat16")
    load_seconds = time.perf_counter() - start
    used, rows = [], []
    real_build = model.build_inputs

    def recording_build_inputs(requests):
        rows.append(real_build(requests))
        return rows[-1]

    model.build_inputs = recording_build_inputs
    hook = model.model.model.language_model.register_forward_pre_hook(
        lambda module, args, kwargs: used.append(kwargs["position_ids"].detach().clone()), with_kwargs=True
    )
    try:
        analysis = videoqa.analyze(
            video, QUESTION, model=model, task="grounding", strategy="single", max_new_tokens=max_new_tokens
        )
    finally:
        hook.remove()
    (window,) = analysis.steps[-1].windows
    plan = videoqa.plan_sampling(videoqa.probe(video))
    expected = videoqa.temporal_ids(plan.windows[0], tokens_per_second=2).tolist()
    ids = rows[0]["input_ids"][0].tolist()
    video_at = [i for i, t in enumerate(ids) if t == model.video_token_id]
    per_patch = window.visual_tokens // len(expected)
    got = used[0][1, 0, video_at] - video_at[0]
    return {
        "model_dir": str(target),
        "weights_gb": sum(p.stat().st_size for p in target.glob("*.safetensors")) / 1e9,
        "parameters": sum(p.numel() for p in model.model.parameters()),
        "load_seconds": load_seconds,
        "encode_seconds": analysis.timings_seconds.get("encode"),
        "generate_seconds": analysis.timings_seconds.get("generate"),
        "decode_seconds": analysis.timings_seconds.get("decode"),
        "frames": window.num_frames,
        "size": f"{window.width}x{window.height}",
        "visual_tokens": window.visual_tokens,
        "input_tokens": len(ids),
        "temporal_ids": window.temporal_ids,
        "position_ids_equal_temporal_ids": got.tolist() == [t for t in expected for _ in range(per_patch)]
        and window.temporal_ids == expected,
        "answer": analysis.raw_text[:200],
    }


def _child(args: list[str]) -> tuple[dict, float]:
    command = [sys.executable, __file__, *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(
            f"{' '.join(command)} failed (status {status}); peak RSS {usage.ru_maxrss / 1024:.0f} MB"
        )
    return (json.loads(out) if out.strip() else {}), usage.ru_maxrss / 1024**2  # KiB -> GiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="3B")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--child", choices=["build", "run"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    name = MODELS[args.model]
    target = WORK / f"random-{name}"
    if args.child == "build":
        build(name, target)
        return
    if args.child == "run":
        print(json.dumps(run(target, args.max_new_tokens)))
        return
    print(f"MemAvailable before: {_available_gib():.1f} GiB")
    if not (target / "config.json").is_file():
        _, build_rss = _child(["--model", args.model, "--child", "build"])
        print(f"build peak RSS: {build_rss:.2f} GiB")
    result, rss = _child(
        ["--model", args.model, "--child", "run", "--max-new-tokens", str(args.max_new_tokens)]
    )
    result["peak_rss_gib"] = rss
    result["peak_rss_over_weights"] = rss * 1024**3 / 1e9 / result["weights_gb"]
    print(json.dumps(result, indent=2))
    if not result["position_ids_equal_temporal_ids"]:
        raise SystemExit("the position ids the model used differ from videoqa.temporal_ids")


if __name__ == "__main__":
    main()
