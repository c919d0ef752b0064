"""Preprocessing cost of one window on the CPU: the work the runner now does on the model's device.

The Qwen video processor rescales, normalises and patchifies a window's uint8 frames into fp32
``pixel_values``. Inside a GPU actor (one CPU by default) that was single-threaded CPU work on the
critical path, and the fp32 tensor (4x the uint8 bytes) crossed the bus. ``QwenModel.encode`` now
passes ``device=`` to the processor, so only uint8 frames are copied and the arithmetic runs on
the GPU. This script measures the CPU side that moved (the GPU side needs a GPU to measure):

    python benchmarks/preprocess.py                 # 192 frames of 644x336 (a quarter of a default window)
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=192)
    parser.add_argument("--width", type=int, default=644)
    parser.add_argument("--height", type=int, default=336)
    args = parser.parse_args()

    import torch

    from videoqa.model import load_model

    model = load_model("builtin:tiny-qwen2.5-vl", device="cpu")  # the processor is the real one
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (args.frames, args.height, args.width, 3), dtype=np.uint8)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        model.preprocess(frames[:8])  # warm up
        start = time.perf_counter()
        pixels, _ = model.preprocess(frames)
        seconds = time.perf_counter() - start
        fp32_mib = pixels.numel() * pixels.element_size() / 2**20
        print(
            f"{threads} thread(s): {args.frames} frames {args.width}x{args.height}: "
            f"{seconds:.2f} s on the CPU; "
            f"fp32 pixels {fp32_mib:.0f} MiB vs uint8 frames {frames.nbytes / 2**20:.0f} MiB "
            f"({fp32_mib / (frames.nbytes / 2**20):.1f}x)"
        )


if __name__ == "__main__":
    main()
