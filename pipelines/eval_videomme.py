"""Evaluate a model on Video-MME (accuracy; short / medium / long) on a Ray cluster.

Multiple choice on videos of 11 s to 1 h: accuracy overall, per duration, domain and task.

    ray job submit --address http://<head>:8265 --working-dir . -- \\
        python pipelines/eval_videomme.py \\
            --annotations data/videomme/test.parquet \\
            --videos s3://my-bucket/videomme/data/ \\
            --output s3://my-bucket/eval/videomme/qwen2.5-vl-7b/ \\
            --model Qwen/Qwen2.5-VL-7B-Instruct --replicas 8 --gpus-per-replica 1 --decode-workers 16 --resume

The annotation files are read on the driver (ship them in the working dir); videos and output may be
any folder the workers share, or a bucket. Inside a Ray job the script joins the job's cluster; on one
machine it starts a local Ray, like ``videoqa eval videomme``.
Flags: ``videoqa eval videomme --help``.

Generated from the declaration in videoqa/eval/benchmarks/ by
``python -m videoqa.eval._pipelines --write pipelines/``; edit the declaration, not this file.
"""

from __future__ import annotations

import sys

from videoqa.eval._cli import main

if __name__ == "__main__":
    sys.exit(main(benchmark="videomme"))
