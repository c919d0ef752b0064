"""Eval planning time on the full real Charades-STA test file: what ``videoqa eval`` does before the
batch job starts (read 3,720 queries and the durations CSV, check every ground truth, list the videos
folder recursively for 1,334 videos, build every question and its lmms-eval prompt), against a
reference measured in the same run: reading the same two files with plain ``str.split`` (the least
any loader does).

    python benchmarks/eval_planning.py                       # ../shared/real_annotations/charades_sta
    python benchmarks/eval_planning.py --repeat 5 --annotations DIR

The videos folder is 1,334 empty ``<VID>.mp4`` files under ``benchmarks/.work/`` (planning never
opens them).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _default_folder() -> Path:
    for base in (ROOT.parent, ROOT.parent.parent):
        if (base / "shared" / "real_annotations" / "charades_sta").is_dir():
            return base / "shared" / "real_annotations" / "charades_sta"
    return ROOT.parent / "shared" / "real_annotations" / "charades_sta"


def _reference(folder: Path) -> int:
    lines = (folder / "charades_sta_test.txt").read_text().splitlines()
    spans = [line.split("##")[0].split() for line in lines if line.strip()]
    lengths = [
        row.rsplit(",", 1)[-1] for row in (folder / "Charades_v1_test.csv").read_text().splitlines()[1:]
    ]
    return len(spans) + len(lengths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotations", type=Path, default=_default_folder())
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from videoqa.eval import EvalConfig
    from videoqa.eval._charades import parse_charades_sta_lines
    from videoqa.eval._run import prepare

    folder = args.annotations
    videos = ROOT / "benchmarks" / ".work" / "charades_videos"
    videos.mkdir(parents=True, exist_ok=True)
    lines = (folder / "charades_sta_test.txt").read_text().splitlines()
    for vid in {item.video_id for item in parse_charades_sta_lines(lines)}:
        (videos / f"{vid}.mp4").touch()
    config = EvalConfig(
        benchmark="charades-sta", annotations=str(folder / "charades_sta_test.txt"),
        durations=str(folder / "Charades_v1_test.csv"), videos=str(videos), output=str(videos.parent / "out"),
    )  # fmt: skip
    planning, reference = [], []
    for _ in range(args.repeat):
        started = time.perf_counter()
        prep = prepare(config)
        planning.append(time.perf_counter() - started)
        started = time.perf_counter()
        _reference(folder)
        reference.append(time.perf_counter() - started)
    plan, ref = statistics.median(planning), statistics.median(reference)
    print(f"queries {len(prep.items)}, videos found {len(prep.urls)}, missing {len(prep.missing_videos)}")
    print(f"planning (median of {args.repeat}): {plan:.3f} s; plain split of the same files: {ref:.4f} s")
    print(f"ratio planning / plain split: {plan / ref:.0f}x")


if __name__ == "__main__":
    main()
