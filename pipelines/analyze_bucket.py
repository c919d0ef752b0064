"""Analyse a bucket of videos with videoqa on a Ray cluster; run it with ``ray job submit``:

    ray job submit --address http://<head>:8265 --working-dir . -- \\
        python pipelines/analyze_bucket.py \\
            --videos s3://my-bucket/videos/ --questions s3://my-bucket/questions.jsonl \\
            --output s3://my-bucket/videoqa-out/ --model Qwen/Qwen2.5-VL-7B-Instruct \\
            --replicas 8 --gpus-per-replica 1 --decode-workers 16 --resume

Inside a Ray job the script joins the job's cluster (``ray job submit`` sets ``RAY_ADDRESS``);
elsewhere it starts a local Ray for the run, like ``videoqa run``, unless ``--address`` is given.
The flags are those of ``videoqa run --help``; this file is only the entry point, the job lives in
:mod:`videoqa.batch`.
"""

from __future__ import annotations

import argparse
import logging
import sys

from videoqa.batch._cli import add_arguments, run

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
