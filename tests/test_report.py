"""The HTML reports: timeline geometry, a job's report.html from its Parquet tables, Analysis.to_html.

The job output is written the way the batch job writes it (``videoqa.records`` rows through the
batch writer's ``write_unit``) for a real generated video with known events, a video that does not
exist and a failed item, so every number on the page is known exactly. The browser checks
(screenshot, rendered positions, scripts not run) are in ``test_report_browser.py``.
"""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from videoqa.analysis import Analysis, Question, Span, Step, WindowUsage
from videoqa.core.settings import Settings
from videoqa.records import TableRows, analysis_to_rows, config_hash, failure_row
from videoqa.report import render_job_html, render_job_report
from videoqa.report._render import DEFAULT_MAX_THUMBNAIL_SPANS
from videoqa.report._timeline import TIMELINE_LAYOUT, build_timeline, format_seconds, x_of_seconds
from videoqa.report._view import MAX_SPAN_CARDS
from videoqa.synthetic import has_square, read_frame_index

MODEL_ID = "builtin:scripted"
EVENT_VIDEO_SECONDS = 60.0  # tests/media.py "events_mp4": 4 fps, red 37.0-44.5 s, blue 10.0-12.0 s
EVENT_VIDEO_FPS = 4.0
MISSING_VIDEO_SECONDS = 30.0
SCRIPT_QUESTION = (
    "When is the <script>document.title='pwned';"
    "document.body.appendChild(document.createElement('xss-ran'))</script> shown?"
)
SCRIPT_ANSWER = '<img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"</script>'
SCRIPT_LABEL = "</text><script>document.title='pwned'</script>"

# --------------------------------------------------------------------------------------- job helpers


def _window(index: int, start: float, end: float, fps: float) -> WindowUsage:
    n = round((end - start) * fps)
    return WindowUsage(
        index=index,
        start_seconds=start,
        end_seconds=end,
        num_frames=n,
        sampled_fps=fps,
        second_per_grid=2 / fps,
        height=56,
        width=84,
        visual_tokens=n // 2 * 6,
        pts_seconds=[start + k / fps for k in range(n)],
        temporal_ids=[int(k * 2 / fps * 2) for k in range(n // 2)],
    )


def make_analysis(
    video: str,
    question_id: str,
    question: str,
    task: str,
    spans: list[tuple[float, float, str | None]],
    *,
    duration: float,
    answer: str | None = None,
    options: list[str] | None = None,
    choice: str | None = None,
) -> Analysis:
    """A coarse-to-fine Analysis: a coarse pass over two halves at 0.5 fps, then a fine pass at 2 fps
    over the first span +- 8 s (the whole video when there is no span)."""
    final = [Span(start_seconds=a, end_seconds=b, label=label) for a, b, label in spans]
    half = duration / 2
    coarse = Step(
        name="coarse",
        windows=[_window(0, 0.0, half, 0.5), _window(1, half, duration, 0.5)],
        raw_texts=["coarse text A", "coarse text B"],
        spans=[Span(start_seconds=max(0.0, a - 4), end_seconds=min(duration, b + 4)) for a, b, _ in spans],
    )
    fine_window = (max(0.0, spans[0][0] - 8), min(duration, spans[0][1] + 8)) if spans else (0.0, duration)
    fine = Step(name="fine", windows=[_window(0, *fine_window, 2.0)], raw_texts=["fine text"], spans=final)
    return Analysis(
        video=video,
        question=Question(question_id=question_id, question=question, task=task, options=options),
        answer=answer if answer is not None else "; ".join(f"{a:g}-{b:g} s" for a, b, _ in spans),
        choice=choice,
        spans=final,
        raw_text=f"final raw text of {question_id}",
        model_id=MODEL_ID,
        strategy="coarse_to_fine",
        video_duration_seconds=duration,
        steps=[coarse, fine],
    )


def write_job(output: Path, analyses: list[Analysis], failures: list[tuple[str, str, Exception]]) -> None:
    """Write a job's tables as the batch job does: records rows, one writer unit per video."""
    from videoqa.batch._writer import write_unit

    settings = Settings(strategy="coarse_to_fine", fps=2.0)
    config = config_hash(MODEL_ID, settings)
    units: dict[str, TableRows] = {}
    for a in analyses:
        rows = analysis_to_rows(
            a, video=a.video, video_id=Path(a.video).name, model_id=MODEL_ID, settings=settings, config=config
        )
        units.setdefault(a.video, TableRows()).extend(rows)
    for video, question_id, error in failures:
        row = failure_row(
            error,
            video=video,
            video_id=Path(video).name,
            question=Question(question_id=question_id, question="What happens?"),
            model_id=MODEL_ID,
            settings=settings,
            config=config,
            stage="probe",
            attempts=1,
        )
        units.setdefault(video, TableRows()).failures.append(row)
    for rows in units.values():
        write_unit(str(output), rows)


def build_job(output: Path, event_video: Path) -> list[Analysis]:
    """Three answers on the event video, one on a missing video, and one failed item."""
    from videoqa.errors import TruncatedVideoError

    video, missing = str(event_video), str(output.parent / "gone" / "missing.mp4")
    analyses = [
        make_analysis(video, "q1", "When is the red square shown?", "grounding", [(37.0, 44.5, None)],
                      duration=EVENT_VIDEO_SECONDS),
        make_analysis(video, "q2", "List the coloured squares.", "events",
                      [(10.0, 12.0, "blue square"), (37.0, 44.5, SCRIPT_LABEL)],
                      duration=EVENT_VIDEO_SECONDS),
        make_analysis(video, "q3", "Which colour comes first?", "choice", [], duration=EVENT_VIDEO_SECONDS,
                      answer="A", options=["blue", "red"], choice="A"),
        make_analysis(missing, "q4", SCRIPT_QUESTION, "grounding", [(5.0, 9.0, None)],
                      duration=MISSING_VIDEO_SECONDS, answer=SCRIPT_ANSWER),
    ]  # fmt: skip
    broken = str(output.parent / "broken.mp4")
    write_job(
        output,
        analyses,
        [(broken, "q1", TruncatedVideoError(broken, "the file ends before its index <moov>"))],
    )
    return analyses


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory, event_video: Path) -> tuple[Path, list[Analysis], str]:
    output = tmp_path_factory.mktemp("report") / "out"
    analyses = build_job(output, event_video)
    return output, analyses, render_job_html(str(output))


# ------------------------------------------------------------------------------------------ HTML parsing


class Elements(HTMLParser):
    """Every start tag as (tag, attrs) and the text inside elements of interest."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def find(self, tag: str, cls: str | None = None) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag and (cls is None or cls in a.get("class", "").split())]


def expected_x(t: float, duration: float, start: float = 0.0) -> float:
    """Independent of the code under test: 230 px label column, 20 px right margin, 960 px svg."""
    return 230 + (t - start) / duration * (960 - 230 - 20)


def decode_data_uri(uri: str) -> np.ndarray:
    from PIL import Image

    assert uri.startswith("data:image/jpeg;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB"))


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
