"""A failures row whose message holds markup is shown as text in the job report (never as HTML)."""

from __future__ import annotations

from pathlib import Path

from videoqa.analysis import Question
from videoqa.batch._writer import write_unit
from videoqa.core.settings import Settings
from videoqa.records import TableRows, config_hash, failure_row
from videoqa.report import render_job_report


def test_failure_message_markup_is_escaped_in_the_failures_table(tmp_path):
    settings = Settings()
    row = failure_row(
        ("ValueError", "bad <b>x</b> & <script>alert(1)</script>"),
        video=str(tmp_path / "a.mp4"), video_id="a.mp4", question=Question(question_id="q1", question="?"),
        model_id="m", settings=settings, config=config_hash("m", settings), stage="probe", attempts=1,
    )  # fmt: skip
    write_unit(str(tmp_path / "out"), TableRows(failures=[row]))
    path = render_job_report(str(tmp_path / "out"))
    html = Path(path).read_text(encoding="utf-8")
    assert "bad &lt;b&gt;x&lt;/b&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>x</b>" not in html and "<script>alert(1)" not in html
