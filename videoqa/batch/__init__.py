"""Batch jobs over buckets of videos on Ray Data, with Parquet output (see ``schemas/``).

    from videoqa.batch import JobConfig, run_job
    summary = run_job(JobConfig(videos="s3://bucket/videos/", questions="questions.jsonl",
                                output="s3://bucket/out/", model="Qwen/Qwen2.5-VL-7B-Instruct"))
    print(summary)

The same job runs from the shell as ``videoqa run`` or ``ray job submit ... -- python
pipelines/analyze_bucket.py``. Ray is imported only when a job runs.
"""

from videoqa.batch._config import JobConfig
from videoqa.batch._job import run_job
from videoqa.batch._progress import JobSummary
from videoqa.batch._read import read_tables

__all__ = ["JobConfig", "JobSummary", "read_tables", "run_job"]
