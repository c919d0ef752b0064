"""Evaluate a model on ActivityNet Captions grounding (R@1, IoU >= m; mIoU) on a Ray cluster.

Grounding on minutes-long videos, many sentences each: R@1 at IoU 0.3/0.5/0.7 and mIoU.

    ray job submit --address http://<head>:8265 --working-dir . -- \\
        python pipelines/eval_activitynet_captions.py \\
            --annotations data/val_1.json \\
            --videos s3://my-bucket/activitynet/videos/ \\
            --output s3://my-bucket/eval/activitynet-captions/qwen2.5-vl-7b/ \\
            --model Qwen/Qwen2.5-VL-7B-Instruct --replicas 8 --gpus-per-replica 1 --decode-workers 16 --resume

The annotation files are read on the driver (ship them in the working dir); videos and output may be
any folder the workers share, or a bucket. Inside a Ray job the script joins the job's cluster; on one
machine it starts a local Ray, like ``videoqa eval activitynet-captions``.
Flags: ``videoqa eval activitynet-captions --help``.

Generated from the declaration in videoqa/eval/benchmarks/ by
``python -m videoqa.eval._pipelines --write pipelines/``; edit the declaration, not this file.
"""

from __future__ import annotations

import sys

from videoqa.eval._cli import main

if __name__ == "__main__":
    sys.exit(main(benchmark="activitynet-captions"))
