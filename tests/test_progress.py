"""Progress bars of long work (issue 26): on a terminal only, silent when asked or when piped."""

from __future__ import annotations

import io

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
