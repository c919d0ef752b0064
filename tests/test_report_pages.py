"""The analysis page (``Analysis.to_html``, ``videoqa analyze --report``) and ``videoqa report`` on
folders that are, or are not, job outputs, locally and in a bucket."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.report_util import (
    EVENT_VIDEO_SECONDS,
    MODEL_ID,
    Elements,
    decode_data_uri,
    expected_x,
    make_analysis,
    write_job,
)
from videoqa.analysis import Analysis
from videoqa.core.settings import Settings
from videoqa.records import analysis_to_rows, config_hash
from videoqa.report import render_job_html, render_job_report
from videoqa.report._timeline import format_seconds
from videoqa.synthetic import has_square, read_frame_index


def test_analysis_to_html_shows_the_coarse_to_fine_steps(event_video: Path) -> None:
    analysis = make_analysis(str(event_video), "q1", "When is the red square shown?", "grounding",
                             [(37.0, 44.5, None)], duration=EVENT_VIDEO_SECONDS)  # fmt: skip
    html = analysis.to_html()
    page = Elements(html)
    (span,) = page.find("rect", "span")
    assert float(span["x"]) == pytest.approx(expected_x(37.0, 60.0), abs=1e-3)
    windows = page.find("rect", "window")
    assert [(w["data-start-seconds"], w["data-end-seconds"]) for w in windows] == [
        ("0.0", "30.0"),
        ("30.0", "60.0"),
        ("29.0", "52.5"),
    ]
    assert [float(w["x"]) for w in windows] == pytest.approx([230, 585, expected_x(29.0, 60.0)], abs=1e-3)
    assert float(windows[2]["width"]) == pytest.approx(23.5 / 60 * 710, abs=1e-3)
    assert len(page.find("rect", "step-span")) == 2  # coarse found 33-48.5, fine found 37-44.5
    assert [s["data-step"] for s in page.find("div", "step")] == ["0", "1"]
    text = re.sub(r"\s+", " ", " ".join(page.text))
    assert "step 1: coarse @ 0.5 fps" in text and "step 2: fine @ 2 fps" in text
    assert "coarse text A" in text and "coarse text B" in text and "fine text" in text
    assert "33.00–48.50 s" in text  # what the coarse step answered
    assert len([a for t, a in page.tags if t == "img"]) == 2


@pytest.mark.parametrize(
    ("key", "video_start", "span", "frames"),
    [
        # 10 fps from 2.5 s: the frame shown at 3.0 s is #5; the last one before 4.0 s is #14 (3.9 s).
        ("start_mp4", 2.5, (3.0, 4.0), (5, 14)),
        # coded 90x160 with a 90 degree display matrix: thumbnails come upright, 168 x 94.
        ("rot90_mp4", 0.0, (0.5, 1.5), (5, 14)),
    ],
)
def test_analysis_thumbnails_on_shifted_and_rotated_videos(
    media_file, key: str, video_start: float, span: tuple[float, float], frames: tuple[int, int]
) -> None:
    video = str(media_file(key))
    analysis = make_analysis(video, "q1", "When?", "grounding", [(*span, None)], duration=4.0)
    analysis = analysis.model_copy(update={"video_start_seconds": video_start, "steps": []})
    html = analysis.to_html()
    page = Elements(html)
    (bar,) = page.find("rect", "span")
    assert float(bar["x"]) == pytest.approx(expected_x(span[0], 4.0, start=video_start), abs=1e-3)
    # The axis runs from the video's first frame: 0.5 s ticks over its 4 s.
    ticks = re.findall(r'class="tick-label"[^>]*>([^<]+)<', html)
    assert ticks == [format_seconds(video_start + k / 2, step_seconds=0.5) for k in range(9)]
    assert ticks[0] == ("0:02.5" if video_start else "0:00.0")
    images = [decode_data_uri(a["src"]) for t, a in page.tags if t == "img"]
    assert [im.shape[:2] for im in images] == [(94, 168), (94, 168)]
    assert [read_frame_index(im) for im in images] == list(frames)


def test_analysis_to_html_without_thumbnails_or_spans() -> None:
    analysis = make_analysis("/nowhere/x.mp4", "q1", "What is shown? <b>bold</b>", "qa", [], duration=10.0,
                             answer="a <i>grey</i> frame")  # fmt: skip
    html = analysis.to_html(thumbnails=False)
    assert (
        "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html and "&lt;i&gt;grey&lt;/i&gt;" in html
    )
    assert 'class="span"' not in html and html.count('class="window"') == 3


def test_cli_report_writes_report_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from videoqa.cli import main

    output = tmp_path / "out"
    write_job(output, [make_analysis("/nowhere/a.mp4", "q1", "When?", "grounding", [(1.0, 2.0, None)],
                                     duration=10.0)], [])  # fmt: skip
    assert main(["report", str(output), "--no-thumbnails"]) == 0
    assert f"Wrote {output}/report.html" in capsys.readouterr().out
    assert (output / "report.html").read_text().count('class="span"') == 1
    elsewhere = tmp_path / "elsewhere.html"
    assert render_job_report(str(output), report_path=str(elsewhere)) == str(elsewhere)
    assert 'class="placeholder"' in elsewhere.read_text()  # the video does not exist: placeholders


def test_analyze_cli_writes_the_analysis_page(
    tmp_path: Path, event_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from videoqa.cli import main

    page_path = tmp_path / "answer.html"
    argv = ["analyze", str(event_video), "When does the red square appear?", "--task", "grounding",
            "--model", "builtin:scripted", "--strategy", "coarse_to_fine",
            "--json", "--html", str(page_path)]  # fmt: skip
    assert main(argv) == 0
    analysis = Analysis.model_validate_json(capsys.readouterr().out)
    assert [s.name for s in analysis.steps] == ["coarse", "fine"] and len(analysis.spans) == 1
    html = page_path.read_text(encoding="utf-8")
    page = Elements(html)
    (bar,) = page.find("rect", "span")
    span = analysis.spans[0]
    assert float(bar["x"]) == pytest.approx(expected_x(span.start_seconds, EVENT_VIDEO_SECONDS), abs=1e-3)
    assert len(page.find("rect", "window")) == len(analysis.windows)
    assert [s["data-step"] for s in page.find("div", "step")] == ["0", "1"]
    frames = [decode_data_uri(a["src"]) for t, a in page.tags if t == "img"]
    assert len(frames) == 2 and all(has_square(f, "red") for f in frames)  # the event's first and last frames


def test_report_of_a_folder_that_is_not_a_job_output(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        render_job_report(str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="neither an 'answers' nor a 'failures' table"):
        render_job_report(str(tmp_path))


def test_report_skips_foreign_parquet_files_with_a_note(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    output = tmp_path / "out"
    write_job(output, [make_analysis("/nowhere/a.mp4", "q1", "When?", "grounding", [(1.0, 2.0, None)],
                                     duration=10.0)], [])  # fmt: skip
    foreign = output / "answers" / "part-foreign.parquet"
    pq.write_table(pa.table({"x": [1, 2], "name": ["a", "b"]}), foreign)
    garbage = output / "spans" / "part-garbage.parquet"
    garbage.write_bytes(b"not parquet at all")
    # an answers file of an older videoqa, before the outcome column: still read, outcome derived
    (old,) = [p for p in (output / "answers").glob("part-*.parquet") if p != foreign]
    pq.write_table(pq.read_table(old).drop_columns(["outcome"]), old)
    with caplog.at_level("WARNING", logger="videoqa.report._job"):
        html = render_job_html(str(output), thumbnails=False)
    page = Elements(html)
    notes = [n for n in " ".join(page.text).split("Skipped ") if "part-" in n]
    assert len(notes) == 2
    assert f"{foreign}: not a videoqa answers table (it has no item_key column)." in html.replace(
        "&#39;", "'"
    )
    assert f"{garbage}: not a readable Parquet file" in html
    assert len(page.find("tr", "answer")) == 1 and html.count('class="span"') == 1
    assert sum("Skipping" in r.getMessage() for r in caplog.records) == 2


def test_report_of_a_job_in_a_bucket() -> None:
    """Any fsspec URL works for the output (memory:// here; s3:// and gs:// take the same path)."""
    import fsspec

    from videoqa.batch._writer import write_unit

    analysis = make_analysis(
        "memory://videos/a.mp4", "q1", "When?", "grounding", [(1.0, 2.0, None)], duration=10.0
    )
    settings = Settings()
    rows = analysis_to_rows(analysis, video=analysis.video, video_id="a.mp4", model_id=MODEL_ID,
                            settings=settings, config=config_hash(MODEL_ID, settings))  # fmt: skip
    write_unit("memory://bucket/job", rows)
    try:
        assert render_job_report("memory://bucket/job") == "memory://bucket/job/report.html"
        with fsspec.open("memory://bucket/job/report.html", "r", encoding="utf-8") as handle:
            html = handle.read()
        assert html.count('class="span"') == 1 and "No thumbnails for this video" in html
    finally:
        fsspec.filesystem("memory").rm("/bucket", recursive=True)
