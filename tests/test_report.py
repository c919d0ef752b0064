"""The HTML reports: timeline geometry, a job's report.html from its Parquet tables, Analysis.to_html.

The job output is written the way the batch job writes it (``videoqa.records`` rows through the
batch writer's ``write_unit``) for a real generated video with known events, a video that does not
exist and a failed item, so every number on the page is known exactly. The browser checks
(screenshot, rendered positions, scripts not run) are in ``test_report_browser.py``, the analysis page
and ``videoqa report`` on other folders in ``test_report_pages.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.report_util import (
    EVENT_VIDEO_SECONDS,
    MISSING_VIDEO_SECONDS,
    MODEL_ID,
    SCRIPT_ANSWER,
    SCRIPT_LABEL,
    SCRIPT_QUESTION,
    Elements,
    build_job,
    decode_data_uri,
    expected_x,
    make_analysis,
    write_job,
)
from videoqa.analysis import Analysis
from videoqa.report import render_job_html
from videoqa.report._render import DEFAULT_MAX_THUMBNAIL_SPANS
from videoqa.report._timeline import TIMELINE_LAYOUT, build_timeline, format_seconds, x_of_seconds
from videoqa.report._view import MAX_SPAN_CARDS
from videoqa.synthetic import has_square, read_frame_index


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory, event_video: Path) -> tuple[Path, list[Analysis], str]:
    output = tmp_path_factory.mktemp("report") / "out"
    analyses = build_job(output, event_video)
    return output, analyses, render_job_html(str(output))


# ------------------------------------------------------------------------------------------------ tests


def test_timeline_geometry_is_to_scale() -> None:
    assert (TIMELINE_LAYOUT.width, TIMELINE_LAYOUT.track_left, TIMELINE_LAYOUT.track_width) == (
        960,
        230.0,
        710.0,
    )
    assert x_of_seconds(37.0, start_seconds=0.0, duration_seconds=60.0) == pytest.approx(230 + 37 / 60 * 710)
    assert x_of_seconds(7.0, start_seconds=2.0, duration_seconds=10.0) == pytest.approx(230 + 355)
    assert x_of_seconds(-1.0, start_seconds=0.0, duration_seconds=60.0) == 230.0  # clamped to the track
    assert x_of_seconds(61.0, start_seconds=0.0, duration_seconds=60.0) == 940.0
    assert format_seconds(75.5, step_seconds=0.1) == "1:15.5"
    assert format_seconds(3725) == "1:02:05"


def test_timeline_ticks_and_bars() -> None:
    from videoqa.report._timeline import BarInput, LaneInput

    lanes = [LaneInput("q1", "q1", "#000", [BarInput(37.0, 44.5), BarInput(20.0, 20.0)])]
    tl = build_timeline(start_seconds=0.0, duration_seconds=60.0, lanes=lanes)
    assert [t.text for t in tl.ticks] == ["0:00", "0:10", "0:20", "0:30", "0:40", "0:50", "1:00"]
    assert [t.x for t in tl.ticks] == pytest.approx([230 + k * 710 / 6 for k in range(7)])
    bar, point = tl.lanes[0].bars
    assert (bar.x, bar.width) == (pytest.approx(667.833, abs=1e-3), pytest.approx(88.75, abs=1e-3))
    assert (point.x, point.width) == (pytest.approx(466.667, abs=1e-3), 2.0)  # zero length: still visible
    two_hours = build_timeline(start_seconds=0.0, duration_seconds=7200.0, lanes=lanes)
    assert [t.text for t in two_hours.ticks][::4] == ["0:00", "1:00:00", "2:00:00"]
    late = build_timeline(start_seconds=5.5, duration_seconds=10.0, lanes=lanes)
    assert [t.seconds for t in late.ticks] == [6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
    with pytest.raises(ValueError, match="duration_seconds must be > 0"):
        build_timeline(start_seconds=0.0, duration_seconds=0.0, lanes=lanes)


def test_job_report_summary(job: tuple[Path, list[Analysis], str]) -> None:
    _, _, html = job
    page = Elements(html)
    stats = {a["data-summary"] for a in page.find("div", "stat")}
    assert stats == {
        "videos",
        "hours-of-video",
        "questions",
        "answers",
        "no-event-answers",
        "unparsed-answers",
        "grounded-spans",
        "failures",
        "model",
    }
    text = re.sub(r"\s+", " ", " ".join(page.text))
    expected = [("3", "Videos"), ("4", "Questions"), ("4", "Answers"), ("4", "Grounded spans"),
                ("0", "No-event answers"), ("0", "Unparsed answers"),
                ("1", "Failures"), (MODEL_ID, "Model"), ("0.025 h (0:01:30)", "Hours of video")]  # fmt: skip
    for value, label in expected:
        assert f"{value} {label}" in text
    assert "1 video(s) have no answer" in text  # the broken video's duration is unknown
    settings = page.find("table", "settings")
    assert len(settings) == 1 and re.fullmatch(r"[0-9a-f]{16}", settings[0]["data-config-hash"])
    assert "coarse_to_fine" in text and "sampling_fps 2.0" in text


def test_job_view_answers_agree_with_the_spans_and_windows_tables(
    job: tuple[Path, list[Analysis], str],
) -> None:
    """Job pages draw each answer from its row's analysis_json: the same spans and windows as the tables."""
    from videoqa.report._job import build_job_view, read_job_tables

    output, _, _ = job
    tables = read_job_tables(str(output))
    view = build_job_view(str(output), tables)
    answers = {(v.video, a.question_id): a for v in view.videos for a in v.answers}
    assert sorted(q for _, q in answers) == ["q1", "q2", "q3", "q4"]
    for row in tables.answers:
        answer = answers[(row.video, row.question_id)]
        spans = sorted((s for s in tables.spans if s.item_key == row.item_key), key=lambda s: s.span_index)
        assert [(s.index, s.start_seconds, s.end_seconds, s.label) for s in answer.spans] == [
            (s.span_index, s.start_seconds, s.end_seconds, s.label) for s in spans
        ]
        windows = sorted(
            (w for w in tables.windows if w.item_key == row.item_key),
            key=lambda w: (w.step_index, w.window_index),
        )
        assert [
            (w.step, w.step_index, w.index, w.start_seconds, w.end_seconds, w.num_frames, w.visual_tokens)
            for w in answer.windows
        ] == [
            (
                w.step,
                w.step_index,
                w.window_index,
                w.start_seconds,
                w.end_seconds,
                w.num_frames,
                w.visual_tokens,
            )
            for w in windows
        ]
        assert (answer.visual_tokens, answer.attempts, answer.strategy) == (
            row.visual_tokens,
            row.attempts,
            row.strategy_used,
        )
    q2 = next(a for a in answers.values() if a.question_id == "q2")
    assert [(s.start_seconds, s.end_seconds, s.label) for s in q2.spans] == [
        (10.0, 12.0, "blue square"),
        (37.0, 44.5, SCRIPT_LABEL),
    ]
    assert [(w.step, w.start_seconds, w.end_seconds, w.num_frames) for w in q2.windows] == [
        ("coarse", 0.0, 30.0, 15),
        ("coarse", 30.0, 60.0, 15),
        ("fine", 2.0, 20.0, 36),
    ]


def test_job_report_draws_every_span_to_scale(job: tuple[Path, list[Analysis], str]) -> None:
    _, analyses, html = job
    page = Elements(html)
    bars = page.find("rect", "span")
    wanted = sorted(
        (a.question.question_id, s.start_seconds, s.end_seconds) for a in analyses for s in a.spans
    )
    got = sorted(
        (b["data-question-id"], float(b["data-start-seconds"]), float(b["data-end-seconds"])) for b in bars
    )
    assert got == wanted and len(bars) == 4
    durations = {"q1": EVENT_VIDEO_SECONDS, "q2": EVENT_VIDEO_SECONDS, "q4": MISSING_VIDEO_SECONDS}
    for b in bars:
        duration = durations[b["data-question-id"]]
        start, end = float(b["data-start-seconds"]), float(b["data-end-seconds"])
        assert float(b["x"]) == pytest.approx(expected_x(start, duration), abs=1e-3)
        assert float(b["width"]) == pytest.approx(
            expected_x(end, duration) - expected_x(start, duration), abs=1e-3
        )
    svgs = page.find("svg", "timeline")
    assert [s["width"] for s in svgs] == [
        "960",
        "960",
    ]  # the event video and the missing one; none for broken
    # One section per video; the broken video's section holds its failure and no timeline.
    sections = sorted(Path(a["data-video"]).name for a in page.find("section", "video"))
    assert sections == sorted(["broken.mp4", "missing.mp4", Path(analyses[0].video).name])


def test_thumbnails_are_the_spans_first_and_last_frames(job: tuple[Path, list[Analysis], str]) -> None:
    _, _, html = job
    page = Elements(html)
    images = [a for t, a in page.tags if t == "img"]
    assert all(a["src"].startswith("data:image/jpeg;base64,") for a in images)
    # Three spans on the event video (q1 red, q2 blue, q2 red) -> 6 frames; the missing video has none.
    assert len(images) == 6
    frames = {a["alt"]: decode_data_uri(a["src"]) for a in images}
    # 4 fps: the red square shows on frames 148 (37.00 s) .. 177 (44.25 s), the blue one on 40 .. 47.
    expect = {"start, 37.000 s": (148, "red"), "end, 44.250 s": (177, "red"),
              "start, 10.000 s": (40, "blue"), "end, 11.750 s": (47, "blue")}  # fmt: skip
    for alt_tail, (index, color) in expect.items():
        frame = frames[f"frame at the span's {alt_tail}"]
        assert frame.shape[1] == 168
        assert read_frame_index(frame) == index
        assert has_square(frame, color)


def test_thumbnail_limit_per_video(job: tuple[Path, list[Analysis], str]) -> None:
    output, _, _ = job
    html = render_job_html(str(output), max_thumbnail_spans=1)
    # Only the first (start, end) pair, 37.0-44.5 s, is decoded; q1 and q2 both have a span there.
    assert html.count("<img ") == 4 and "frame at the span's start, 10.000 s" not in html
    assert html.count("Thumbnails are shown for the first 1 spans only.") == 1
    with pytest.raises(ValueError, match="max_thumbnail_spans must be an int >= 0, got -1"):
        render_job_html(str(output), max_thumbnail_spans=-1)


def test_repeated_spans_keep_the_page_small(event_video: Path) -> None:
    # 2,000 spans at the same times used to embed the same two frames 2,000 times (82 MB)
    spans = [(37.0, 44.5, f"event {k}") for k in range(2000)]
    analysis = make_analysis(str(event_video), "q1", "List the events.", "events", spans,
                             duration=EVENT_VIDEO_SECONDS)  # fmt: skip
    html = analysis.to_html()
    assert html.count("<img ") == 2 * DEFAULT_MAX_THUMBNAIL_SPANS
    assert html.count('class="span-card"') == MAX_SPAN_CARDS
    assert "1900 more span(s) of q1 are listed in the answers table only." in html
    assert "Thumbnails are shown for the first 24 spans only." in html
    assert len(html) < 4_000_000


def test_page_size_grows_linearly_with_unlabelled_spans(tmp_path: Path) -> None:
    # Each span's tooltip used to repeat the whole answer, which lists every span: 2,000 unlabelled
    # spans gave an 87 MB page (quadratic). Both pages, N and 2N spans.
    sizes = {}
    for n in (1000, 2000):
        spans = [(k * 0.01, k * 0.01 + 0.005, None) for k in range(n)]
        analysis = make_analysis("/nowhere/x.mp4", "q1", "When?", "events", spans, duration=30.0)
        assert len(analysis.answer) > 10 * n  # "0-0.005 s; 0.01-0.015 s; ...": every span in the answer
        write_job(tmp_path / f"out{n}", [analysis], [])
        page = analysis.to_html(thumbnails=False)
        job = render_job_html(str(tmp_path / f"out{n}"), thumbnails=False)
        assert page.count('class="span"') == job.count('class="span"') == n
        sizes[n] = (len(page), len(job))
    for which in (0, 1):
        assert sizes[2000][which] / sizes[1000][which] < 2.1
        assert sizes[2000][which] < 2_500_000  # about 1 kB per span at most


def test_no_event_answer_is_not_shown_as_an_error(tmp_path: Path) -> None:
    output = tmp_path / "out"
    absent = make_analysis(
        "/nowhere/a.mp4", "q1", "the green square", "grounding", [], duration=10.0, answer=""
    )
    absent = absent.model_copy(update={"outcome": "no_event", "raw_text": "The event does not occur."})
    failed = make_analysis(
        "/nowhere/a.mp4", "q2", "the red square", "grounding", [], duration=10.0, answer=""
    )
    failed = failed.model_copy(update={"outcome": "unparsed", "parse_error": "no time found in 'Hmm.'"})
    write_job(output, [absent, failed], [])
    html = render_job_html(str(output), thumbnails=False)
    page = Elements(html)
    text = re.sub(r"\s+", " ", " ".join(page.text))
    assert "1 No-event answers" in text and "1 Unparsed answers" in text
    assert len(page.find("div", "no-event")) == 1 and len(page.find("div", "error")) == 1
    assert "no time found in 'Hmm.'" in text
    page = Elements(absent.to_html(thumbnails=False))
    assert len(page.find("td", "no-event")) == 1 and page.find("td", "error") == []


def test_missing_video_gets_placeholders_and_a_note(job: tuple[Path, list[Analysis], str]) -> None:
    output, _, html = job
    missing = html.split('data-video="' + str(output.parent / "gone" / "missing.mp4"))[1].split("</section>")[
        0
    ]
    assert missing.count('class="placeholder"') == 2
    assert re.search(r'class="note">No thumbnails for this video: \w+Error: ', missing)
    assert 'class="span"' in missing  # its span is still drawn from the tables


def test_everything_from_videos_questions_and_model_output_is_escaped(
    job: tuple[Path, list[Analysis], str],
) -> None:
    _, _, html = job
    assert "<script" not in html and "<img src=x" not in html
    escaped = "&lt;script&gt;document.title=&#39;pwned&#39;;document.body.appendChild(document.createElement"
    assert escaped + "(&#39;xss-ran&#39;))&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;document.title=&#39;pwned&#39;&#34;&gt;" in html
    assert "&lt;/text&gt;&lt;script&gt;" in html  # an events label inside the SVG
    text = " ".join(Elements(html).text)
    assert SCRIPT_QUESTION in text and SCRIPT_ANSWER in text and SCRIPT_LABEL in text  # shown as text


def test_job_report_is_self_contained(job: tuple[Path, list[Analysis], str]) -> None:
    _, _, html = job
    page = Elements(html)
    for tag, attrs in page.tags:
        for name in ("src", "href"):
            value = attrs.get(name)
            assert value is None or value.startswith(("data:", "#")), (tag, attrs)
        assert tag not in ("script", "link", "iframe", "object", "embed")
    assert "http://" not in html and "https://" not in html and "@import" not in html
    csp = next(a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv"))
    assert "default-src 'none'" in csp and "img-src data:" in csp
