"""Evaluate a model on QVHighlights moment retrieval (R1@m; mAP over ranked spans) on a Ray cluster.

Moment retrieval, several windows per query: R1@0.5/0.7, mAP@0.5/0.75 and mAP (0.5:0.95).

    ray job submit --address http://<head>:8265 --working-dir . -- \\
        python pipelines/eval_qvhighlights.py \\
            --annotations data/highlight_val_release.jsonl \\
            --videos s3://my-bucket/qvhighlights/videos/ \\
            --output s3://my-bucket/eval/qvhighlights/qwen2.5-vl-7b/ \\
            --model Qwen/Qwen2.5-VL-7B-Instruct --replicas 8 --gpus-per-replica 1 --decode-workers 16 --resume

The annotation files are read on the driver (ship them in the working dir); videos and output may be
any folder the workers share, or a bucket. Inside a Ray job the script joins the job's cluster; on one
machine it starts a local Ray, like ``videoqa eval qvhighlights``.
Flags: ``videoqa eval qvhighlights --help``.

Generated from the declaration in videoqa/eval/benchmarks/ by
``python -m videoqa.eval._pipelines --write pipelines/``; edit the declaration, not this file.
"""

from __future__ import annotations

import sys

from videoqa.eval._cli import main

if __name__ == "__main__":
    sys.exit(main(benchmark="qvhighlights"))
