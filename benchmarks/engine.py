"""The same questions through both engines: seconds per question, prefill computed, identical answers.

    VIDEOQA_VLLM_PYTHON=/path/to/vllm-venv/bin/python python benchmarks/engine.py \\
        [--model builtin:tiny-grounder | --tiny qwen3-vl --head-dim 32] [--device cpu] [--repeat 2]

Loads ``--model`` with ``engine="vllm"`` (which holds the transformers runner it wraps as
``.inner``), writes the demo bucket, and asks every demo question (grounding, the grounder's own
query, per colour) of every demo video through a ``Session`` on each engine, ``--repeat`` times
with the visual cache warm, so the figures are the language side only. Prints, per engine, the
median seconds per question, prompt tokens, prefill tokens computed (prompt minus tokens served
from a cache: videoqa's prefix reuse, or vLLM's prefix caching) and whether every answer is
identical. ``--tiny KIND`` builds a random-weight tiny checkpoint of that kind instead, widened
with ``--head-dim`` (vLLM's CPU attention needs at least 32). On a GPU machine (vLLM's CUDA build
in the same environment) the same script gives the real comparison; the estimates for 7B and 72B
are in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import videoqa
from videoqa.model import load_model


def ask_all(session, videos, questions):
    out = []
    for video in videos:
        out.extend(session.analyze_many(str(video), questions))
    return out


def measure(session, videos, questions, repeat):
    ask_all(session, videos, questions)  # warm: decode + encode into the visual cache
    times, results = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        results = ask_all(session, videos, questions)
        times.append((time.perf_counter() - start) / len(results))
    prompt = sum(sum(s.prompt_tokens) for r in results for s in r.steps)
    reused = sum(sum(s.reused_prompt_tokens) for r in results for s in r.steps)
    return statistics.median(times), prompt, prompt - reused, results


def main() -> None:
    from videoqa.batch._demo import DEMO_VIDEOS, write_demo_bucket
    from videoqa.model._grounder import GROUNDER_QUERY

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin:tiny-grounder")
    parser.add_argument("--tiny", choices=["qwen2.5-vl", "qwen2-vl", "qwen3-vl"], default=None)
    parser.add_argument("--head-dim", type=int, default=32, help="head size of a --tiny checkpoint")
    parser.add_argument("--max-pixels", type=int, default=None, help="frame area cap (Session max_pixels)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="engine-bench-"))
    bucket, _ = write_demo_bucket(work)
    videos = [bucket / name for name in DEMO_VIDEOS]
    questions = [
        videoqa.Question(question_id=c, question=GROUNDER_QUERY.format(color=c), task="grounding")
        for c in ("red", "blue")
    ]
    if args.tiny:
        from videoqa.model import build_tiny_model

        args.model = str(build_tiny_model(work / args.tiny, kind=args.tiny, head_dim=args.head_dim))
    started = time.perf_counter()
    engine = load_model(args.model, device=args.device, engine="vllm")
    print(f"load (transformers runner + vLLM + self-check): {time.perf_counter() - started:.1f} s")
    try:
        rows = {}
        for name, model in (("transformers", engine.inner), ("vllm", engine)):
            pixels = {} if args.max_pixels is None else {"max_pixels": args.max_pixels, "min_pixels": 3136}
            session = videoqa.Session(model, fps=1.0, cache_dir=work / "cache", **pixels)
            rows[name] = measure(session, videos, questions, args.repeat)
    finally:
        engine.close()
    ref = rows["transformers"]
    print(f"{len(ref[3])} questions x {args.repeat} repeats, model {args.model}")
    print(f"{'engine':<14}{'s/question':>12}{'prompt tok':>12}{'prefill tok':>13}{'vs transformers':>17}")
    for name, (seconds, prompt, computed, _results) in rows.items():
        print(f"{name:<14}{seconds:>12.3f}{prompt:>12}{computed:>13}{ref[0] / seconds:>16.2f}x")
    pairs = zip(ref[3], rows["vllm"][3], strict=True)
    same = [(a.raw_text, a.spans) == (b.raw_text, b.spans) for a, b in pairs]
    print(f"identical answers: {sum(same)}/{len(same)}")


if __name__ == "__main__":
    main()
