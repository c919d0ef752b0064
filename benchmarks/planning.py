"""Resume planning over a large output: read which items are finished, before and after compaction.

Generates an output as a job over ``--videos`` videos x ``--questions`` questions leaves it (one part
file per video per table; every 4th video's items failed), then times reading what ``--resume``
needs: the reference is the per-file read of the previous planner (the answers dataset, then every
failures file opened one by one), against ``read_resume_state`` (one multi-threaded dataset scan per
table) on the part files, and again after ``compact``. Prints the times and the ratios.

    python benchmarks/planning.py                        # 5,000 videos x 4 questions = 20,000 items
    python benchmarks/planning.py --videos 20000 --questions 1
    python benchmarks/planning.py --s3 --videos 500    # on moto's S3 server (loopback), as tests do
"""

from __future__ import annotations

import argparse
import posixpath
import shutil
import statistics
import time
from pathlib import Path

WORK = Path(__file__).parent / ".work"


def _template(table: str):
    from videoqa.analysis import Analysis, Question, Span, Step, WindowUsage
    from videoqa.core.settings import Settings
    from videoqa.records import analysis_to_rows, config_hash, failure_row

    window = WindowUsage(
        index=0, start_seconds=0.0, end_seconds=2.0, num_frames=4, sampled_fps=2.0, second_per_grid=1.0,
        height=56, width=84, visual_tokens=12, pts_seconds=[0.0, 0.5, 1.0, 1.5], temporal_ids=[0, 1],
    )  # fmt: skip
    span = Span(start_seconds=0.5, end_seconds=1.5)
    question = Question(question_id="q", question="When?", task="grounding")
    analysis = Analysis(
        video="v", question=question, answer="0.5-1.5 s", spans=[span], raw_text="0.5 - 1.5", model_id="m",
        strategy="single", video_duration_seconds=2.0,
        steps=[Step(name="single", windows=[window], raw_texts=["0.5 - 1.5"], spans=[span])],
    )  # fmt: skip
    settings = Settings()
    ident = dict(video="v", video_id="v", model_id="m", settings=settings, config=config_hash("m", settings))
    if table == "failures":
        return failure_row(("E", "boom"), question=question, stage="decode", attempts=1, **ident)
    return getattr(analysis_to_rows(analysis, **ident), table)[0]


def generate(output: Path, videos: int, questions: int) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from videoqa.batch._writer import part_file_name
    from videoqa.records import arrow_schema

    templates = {t: _template(t) for t in ("answers", "spans", "windows", "failures")}
    for t in templates:
        (output / t).mkdir(parents=True, exist_ok=True)
    for v in range(videos):
        video = f"s3://bucket/videos/{v:06d}.mp4"
        keys = [f"{v:06d}-{q:03d}" for q in range(questions)]
        tables = ("failures",) if v % 4 == 3 else ("answers", "spans", "windows")
        for t in tables:
            rows = [{**templates[t], "item_key": k, "video": video, "question_id": k} for k in keys]
            table = pa.Table.from_pylist(rows, schema=arrow_schema(t))
            pq.write_table(table, output / t / part_file_name(video), compression="zstd")
    return videos * questions


def previous_planner(output: str, options: dict | None = None) -> set[str]:
    """What planning read before: the answers dataset, then each failures file, one by one."""
    import fsspec
    import pyarrow.dataset as pads
    import pyarrow.parquet as pq

    fs, root = fsspec.core.url_to_fs(output, **(options or {}))
    answers = sorted(fs.glob(posixpath.join(root, "answers", "part-*.parquet")))
    done = set(pads.dataset(answers, filesystem=fs).to_table(columns=["item_key"]).column(0).to_pylist())
    for path in sorted(fs.glob(posixpath.join(root, "failures", "part-*.parquet"))):
        with fs.open(path, "rb") as f:
            done.update(pq.read_table(f, columns=["item_key"]).column("item_key").to_pylist())
    return done


def _time(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    from videoqa.batch._compact import compact
    from videoqa.batch._resume import read_resume_state

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=5000)
    parser.add_argument("--questions", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--s3", action="store_true", help="Upload the output to a moto S3 server first.")
    args = parser.parse_args()
    local = WORK / f"planning-{args.videos}x{args.questions}"
    shutil.rmtree(local, ignore_errors=True)
    started = time.perf_counter()
    items = generate(local, args.videos, args.questions)
    files = sum(1 for _ in local.rglob("*.parquet"))
    print(f"generated {items} items in {files} part files ({time.perf_counter() - started:.0f} s)")
    output, options = str(local), None
    if args.s3:
        output, options = _upload_to_moto(local)

    def new_planner() -> set[str]:
        return read_resume_state(output, storage_options=options).done(retry_failed=False)

    reference, expected = _time(lambda: previous_planner(output, options), args.repeat)
    parts, got = _time(new_planner, args.repeat)
    assert got == expected and len(got) == items
    started = time.perf_counter()
    print(compact(output, storage_options=options), f"({time.perf_counter() - started:.1f} s)")
    compacted, got = _time(new_planner, args.repeat)
    assert got == expected
    where = "moto S3" if args.s3 else "local disk"
    print(f"{where}: previous planner (per-file failures reads), part files: {reference:.2f} s")
    print(f"{where}: read_resume_state, part files: {parts:.2f} s  ({reference / parts:.2f}x)")
    print(f"{where}: read_resume_state, compacted: {compacted:.3f} s  ({reference / compacted:.0f}x)")


def _upload_to_moto(local: Path) -> tuple[str, dict]:
    import boto3
    import fsspec
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    client = {"endpoint_url": f"http://{host}:{port}", "region_name": "us-east-1"}
    options = {"key": "testing", "secret": "testing", "client_kwargs": client}
    boto3.client("s3", aws_access_key_id="testing", aws_secret_access_key="testing", **client).create_bucket(
        Bucket="bench"
    )
    started = time.perf_counter()
    fsspec.filesystem("s3", **options).put(str(local), "bench/out", recursive=True)
    print(f"uploaded to moto S3 ({time.perf_counter() - started:.0f} s)")
    return "s3://bench/out", options


if __name__ == "__main__":
    main()
