"""Evaluate a model on LongVideoBench (accuracy per duration group, seconds) on a Ray cluster.

Multiple choice with interleaved subtitles: accuracy per duration group (15/60/600/3600 s).

    ray job submit --address http://<head>:8265 --working-dir . -- \\
        python pipelines/eval_longvideobench.py \\
            --annotations data/lvb_val.json \\
            --videos s3://my-bucket/longvideobench/videos/ \\
            --output s3://my-bucket/eval/longvideobench/qwen2.5-vl-7b/ \\
            --model Qwen/Qwen2.5-VL-7B-Instruct --replicas 8 --gpus-per-replica 1 --decode-workers 16 --resume

The annotation files are read on the driver (ship them in the working dir); videos and output may be
any folder the workers share, or a bucket. Inside a Ray job the script joins the job's cluster; on one
machine it starts a local Ray, like ``videoqa eval longvideobench``.
Flags: ``videoqa eval longvideobench --help``.

Generated from the declaration in videoqa/eval/benchmarks/ by
``python -m videoqa.eval._pipelines --write pipelines/``; edit the declaration, not this file.
"""

from __future__ import annotations

import sys

from videoqa.eval._cli import main

if __name__ == "__main__":
    sys.exit(main(benchmark="longvideobench"))
