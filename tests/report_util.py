"""Shared by the report tests: a job output with known numbers (written as the batch job writes it) and
an HTML reader for the rendered pages."""

from __future__ import annotations

import base64
import io
from html.parser import HTMLParser
from pathlib import Path

import numpy as np

from videoqa.analysis import Analysis, Question, Span, Step, WindowUsage
from videoqa.core.settings import Settings
from videoqa.records import TableRows, analysis_to_rows, config_hash, failure_row

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
