"""Evaluate a model on MLVU multiple choice (accuracy per task; M-Avg) on a Ray cluster.

Long-video multiple choice, seven tasks: accuracy per task (TR AR NQA ER PQA AO AC) and M-Avg.

    ray job submit --address http://<head>:8265 --working-dir . -- \\
        python pipelines/eval_mlvu.py \\
            --annotations data/MLVU/json \\
            --videos s3://my-bucket/mlvu/video/ \\
            --output s3://my-bucket/eval/mlvu/qwen2.5-vl-7b/ \\
            --model Qwen/Qwen2.5-VL-7B-Instruct --replicas 8 --gpus-per-replica 1 --decode-workers 16 --resume

The annotation files are read on the driver (ship them in the working dir); videos and output may be
any folder the workers share, or a bucket. Inside a Ray job the script joins the job's cluster; on one
machine it starts a local Ray, like ``videoqa eval mlvu``.
Flags: ``videoqa eval mlvu --help``.

Generated from the declaration in videoqa/eval/benchmarks/ by
``python -m videoqa.eval._pipelines --write pipelines/``; edit the declaration, not this file.
"""

from __future__ import annotations

import sys

from videoqa.eval._cli import main

if __name__ == "__main__":
    sys.exit(main(benchmark="mlvu"))
