"""Progress bars of long work (issue 26): on a terminal only, silent when asked or when piped."""

from __future__ import annotations

import io
import sys

import pytest

from tests.test_search import RED, SEARCH, WRONG, CoarseScript, _video
from videoqa import Session
from videoqa.core._progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_shown_on_a_terminal_only():
    assert Progress(None, stream=_Terminal()).enabled
    assert not Progress(None, stream=io.StringIO()).enabled  # piped or redirected: quiet
    assert not Progress(False, stream=_Terminal()).enabled  # --quiet


def test_analyze_reports_each_pass_and_the_search_rounds(capsys):
    session = Session(CoarseScript(WRONG), search_budget=2.0, progress=True, **SEARCH)
    a = session.analyze(_video(), RED, task="grounding")
    err = capsys.readouterr().err
    assert "coarse pass: windows decoded+encoded" in err and "3/3" in err
    assert "search round 1: windows decoded+encoded" in err
    assert [line for line in err.splitlines() if line.startswith("search round") and "checked" in line] == [
        f"search round {k}: {k} fine looks checked" for k in range(1, 6)
    ]
    assert len(a.steps) == 6
    quiet = Session(CoarseScript(WRONG), search_budget=2.0, **SEARCH)  # stderr is not a terminal here
    quiet.analyze(_video(), RED, task="grounding")
    assert capsys.readouterr().err == ""


def test_cli_all_occurrences_and_quiet(capsys):
    import json

    from tests.test_analyze_cli import _cli

    argv = [
        str(_video()),
        "When is the green square shown?",
        "--task",
        "grounding",
        "--model",
        "builtin:scripted",
    ]
    flags = ["--strategy", "coarse_to_fine", "--coarse-window-seconds", "100", "--min-pixels", "6272"]
    code, out, err = _cli(
        [*argv, *flags, "--max-pixels", "6272", "--occurrences", "all", "--quiet", "--json"], capsys
    )
    assert code == 0 and err == ""
    a = json.loads(out)
    assert a["question"]["occurrences"] == "all"
    assert [(s["start_seconds"], s["end_seconds"]) for s in a["spans"]] == [(60.0, 69.5), (220.0, 229.5)]


def test_a_batch_job_counts_items_answered_or_failed_on_its_bar():
    from videoqa.batch._progress import Progress as JobProgress

    stream = _Terminal()
    bars = Progress(True, stream=stream)
    bars.stage("job")
    counts = JobProgress(
        total_videos=2,
        total_items=5,
        interval_seconds=1e9,
        bar=bars.bar(5, unit="item", done="answered"),
    )
    unit = dict(answers=2, no_event=0, prompt_tokens=0, reused_prompt_tokens=0, failures=1, spans=0,
                model_calls=3, decode_seconds=0.0, model_seconds=0.0, duration_seconds=5.0,
                failure_types_json='{"E": 1}')  # fmt: skip
    counts.update(unit)
    counts.bar.refresh()
    assert "job: items answered:  60%" in stream.getvalue() and "3/5" in stream.getvalue()
    counts.update({**unit, "answers": 0, "failures": 2})
    counts.bar.close()
    assert "job: items answered: 100%" in stream.getvalue() and "5/5" in stream.getvalue()


@pytest.mark.ray
def test_eval_shows_items_answered_on_a_terminal_unless_quiet(ray_cluster, tmp_path, monkeypatch):
    from videoqa.eval._cli import main
    from videoqa.synthetic import Event, write_video

    videos = tmp_path / "videos"
    write_video(videos / "AAAA1.mp4", duration_seconds=20, fps=2.0,
                events=[Event(2.0, 4.0, "red"), Event(5.0, 15.0, "green")])  # fmt: skip
    annotations = tmp_path / "charades_sta_test.txt"
    annotations.write_text("AAAA1 2.0 4.0##a red square appears.\nAAAA1 5.0 15.0##a green square appears.\n")
    argv = ["charades-sta", "--annotations", str(annotations), "--videos", str(videos),
            "--model", "builtin:scripted", "--local-num-cpus", "2", "--decode-workers", "1"]  # fmt: skip
    shown, quiet = _Terminal(), _Terminal()
    monkeypatch.setattr(sys, "stderr", shown)
    assert main([*argv, "--output", str(tmp_path / "shown")]) == 0
    assert "job: items answered: 100%" in shown.getvalue() and "2/2" in shown.getvalue()
    monkeypatch.setattr(sys, "stderr", quiet)
    assert main([*argv, "--output", str(tmp_path / "quiet"), "--quiet"]) == 0
    assert "items answered" not in quiet.getvalue()
