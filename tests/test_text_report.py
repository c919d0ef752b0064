"""Timed text at the user's end: ``videoqa analyze --subtitles``, the transcript lane of the HTML report."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from videoqa import _analyze_cli
from videoqa.synthetic import Event, write_video

SRT = "1\n00:00:01,000 --> 00:00:02,500\nthe red square appears\n\n2\n00:00:05,000 --> 00:00:06,000\ngone\n"


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    _analyze_cli.add_arguments(parser)
    code = _analyze_cli.run(parser.parse_args(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _video(tmp_path: Path) -> Path:
    video = write_video(
        tmp_path / "talk.mp4",
        duration_seconds=8.0,
        fps=4,
        start_seconds=1.5,
        events=(Event(3.0, 5.0, "red"),),
    )
    (tmp_path / "talk.srt").write_text(SRT, encoding="utf-8")
    return video


def test_analyze_cli_reads_the_sidecar_unless_told_not_to(tmp_path: Path, capsys) -> None:
    video = _video(tmp_path)
    args = [str(video), "the red square", "--task", "grounding", "--model", "builtin:scripted"]
    code, out, _ = _cli(args, capsys)
    assert code == 0
    assert f"subtitles: 2 cues from {tmp_path / 'talk.srt'} (sidecar)" in out.splitlines()
    code, out, _ = _cli([*args, "--subtitles", "none"], capsys)
    assert code == 0 and not any(line.startswith("subtitles:") for line in out.splitlines())
    (tmp_path / "bad.srt").write_text("1\n00:00:01,000 --> 00:00:0x,500\nbroken\n", encoding="utf-8")
    code, _, err = _cli([*args, "--subtitles", str(tmp_path / "bad.srt")], capsys)
    assert code == 1 and err.startswith(f"error: {tmp_path / 'bad.srt'} line 2: expected a SubRip timing")


def test_report_draws_the_transcript_lane_at_the_cue_times(tmp_path: Path) -> None:
    import videoqa

    video = _video(tmp_path)
    analysis = videoqa.analyze(video, "the red square", task="grounding", model="builtin:scripted")
    # sidecar times count from the first frame (1.5 s)
    assert [(c.start_seconds, c.end_seconds) for c in analysis.subtitles.cues] == [(2.5, 4.0), (6.5, 7.5)]
    html = analysis.to_html(thumbnails=False)
    cues = re.findall(
        r'<rect class="cue"[^>]*data-start-seconds="([\d.]+)" data-end-seconds="([\d.]+)"', html
    )
    assert cues == [("2.5", "4.0"), ("6.5", "7.5")]
    assert "transcript (2 cues)" in html
    plain = videoqa.analyze(
        video, "the red square", task="grounding", model="builtin:scripted", subtitles=None
    )
    assert 'class="cue"' not in plain.to_html(thumbnails=False)
    assert plain.spans == analysis.spans  # the scripted model reads frames only: same answer
