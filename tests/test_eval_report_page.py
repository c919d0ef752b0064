"""The evaluation results page without Ray (fast): an evaluation output written the way ``run_eval``
writes it (the declaration's scorer, ``write_report``, the batch job's tables through the batch
writer), for a Charades-STA run of three queries with known IoUs. The real-run and browser checks
are in ``test_eval_page.py`` (slow)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.report_util import MODEL_ID, Elements, expected_x, make_analysis, write_job
from videoqa.core.settings import Settings
from videoqa.eval import get_benchmark
from videoqa.eval._charades import GroundingItem
from videoqa.eval._page import TRUTH_COLOR, build_eval_page, render_eval_html
from videoqa.eval._report import write_report
from videoqa.eval._score import Prediction
from videoqa.records import config_hash


def _eval_output(root: Path) -> Path:
    items = [
        GroundingItem("q0", "AAAA1", "a red square appears.", 10.0, 20.0, 40.0),  # predicted 12-20: IoU 0.8
        GroundingItem("q1", "BBBB2", "a blue square appears.", 100.0, 110.0, 900.0),  # predicted 0-5: IoU 0
        GroundingItem("q2", "GONE9", "a cat sits.", 1.0, 2.0, 20.0),  # missing video
    ]
    spans = {"q0": (12.0, 20.0), "q1": (0.0, 5.0)}
    analyses = [
        make_analysis(
            f"/nowhere/{i.video_id}.mp4",
            i.query_id,
            i.sentence,
            "grounding",
            [(*spans[i.query_id], None)],
            duration=i.duration_seconds,
        )
        for i in items[:2]
    ]
    preds = {
        q: Prediction("ok", raw_text=f"final raw text of {q}", span=s, spans=(s,)) for q, s in spans.items()
    }
    preds["q2"] = Prediction("missing_video", error="no GONE9 video")
    config = SimpleNamespace(scoring="native", clip_ground_truth=False)
    rows, scores = get_benchmark("charades-sta").score(items, preds, {k: "p" for k in preds}, config)
    summary = {
        "benchmark": "charades-sta", "title": "Charades-STA", "model": MODEL_ID, "prompt_style": "native",
        "strategy": "coarse_to_fine", "sampling_note": "2 fps", "limit": None, "num_videos": 3,
        "num_missing_videos": 1, "num_items_missing_video": 1, "missing_videos": ["GONE9"],
        "clip_ground_truth_to_duration": False, "num_set_aside": 0,
        "config_hash": config_hash(MODEL_ID, Settings(strategy="coarse_to_fine", fps=2.0)), **scores,
    }  # fmt: skip
    out = root / "eval"
    write_report(out, rows, summary)
    write_job(out / "batch", analyses, [])  # the same settings as the config hash above
    return out


def test_eval_page_from_the_declaration(tmp_path: Path) -> None:
    out = _eval_output(tmp_path)
    page = build_eval_page(str(out), worst=5)
    assert page.columns == ("R@0.3", "R@0.5", "R@0.7", "mIoU")
    assert page.rows[0] == (f"{MODEL_ID} (this run, all 3 queries)", [pytest.approx(100 / 3)] * 3
                            + [pytest.approx(80 / 3)])  # fmt: skip
    assert page.rows[1][0] == f"{MODEL_ID} (this run, answerable subset, 2 queries)"
    durations = {b.name: (b.count, b.score) for b in page.durations.buckets}
    assert durations["30 s - 1 min"] == (1, pytest.approx(80.0))
    assert durations["10 - 30 min"] == (1, 0.0) and durations["< 30 s"] == (1, 0.0)  # GONE9: annotated 20 s
    assert durations["1 - 3 min"] == (0, None)
    assert [(w.item_id, w.score_text) for w in page.worst] == [("q1", "0.000"), ("q0", "0.800")]
    assert page.worst_notes == ["Not listed: 1 query whose video is missing (scored 0)."]
    html = render_eval_html(str(out), thumbnails=False, worst=5)
    bars = [
        (a["data-question-id"], a.get("fill"), float(a["x"])) for a in Elements(html).find("rect", "span")
    ]
    assert bars == [  # per item: the ground truth, then the model's span, to scale on that video
        ("q1", TRUTH_COLOR, pytest.approx(expected_x(100.0, 900.0), abs=1e-3)),
        ("q1", "#0072B2", pytest.approx(expected_x(0.0, 900.0), abs=1e-3)),
        ("q0", TRUTH_COLOR, pytest.approx(expected_x(10.0, 40.0), abs=1e-3)),
        ("q0", "#0072B2", pytest.approx(expected_x(12.0, 40.0), abs=1e-3)),
    ]
    assert html.count('class="window"') == 6  # make_analysis: two coarse windows and one fine, per item


def test_report_cli_on_an_eval_output_and_on_neither(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from videoqa.cli import main

    out = _eval_output(tmp_path)
    assert main(["report", str(out), "--no-thumbnails", "--worst", "1"]) == 0
    assert f"Wrote {out}/report.html" in capsys.readouterr().out
    assert (out / "report.html").read_text().count('class="worst-item"') == 1
    assert main(["report", str(tmp_path / "nothing-here")]) == 2
    said = capsys.readouterr().out
    assert "does not exist" in said and "OUTPUT must be the --output of `videoqa run`" in said


def _one_item(name: str) -> tuple[list, dict[str, Prediction]]:
    """One scored item of each benchmark not covered above (the loaders' item types)."""
    from videoqa.eval._choice import ChoiceQuestion
    from videoqa.eval.benchmarks.mlvu import MLVUItem
    from videoqa.eval.benchmarks.qvhighlights import MomentItem

    ok = Prediction("ok", raw_text="t", span=(1.0, 4.0), spans=((1.0, 4.0),))
    videomme = {"duration": "short", "domain": "Art", "task_type": "OCR Problems"}
    lvb = {"duration_group": "15", "question_category": "E2O"}
    return {
        "qvhighlights": ([MomentItem(1, "v_0_150", "girl", ((10.0, 20.0), (30.0, 40.0)), 150.0)], {"1": ok}),
        "mlvu": ([MLVUItem("count_0", "count_1", "AC", "count", "How many?", ("1", "2"), "2")],
                 {"count_0": Prediction("ok", raw_text="(B)", letter="B")}),
        "videomme": ([ChoiceQuestion("001-1", "001", "Q?", ("a", "b", "c", "d"), ("B",), groups=videomme)],
                     {"001-1": Prediction("ok", raw_text="A", letter="A")}),
        "longvideobench": ([ChoiceQuestion("v_0", "v", "Q?", ("a", "b"), ("B",), groups=lvb)],
                           {"v_0": Prediction("failed", error="boom")}),
        "activitynet-captions": ([GroundingItem("v_x#0", "v_x", "A man.", 1.0, 5.0, 100.0)], {"v_x#0": ok}),
    }[name]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "categories"),
    [("qvhighlights", []), ("mlvu", ["AC"]), ("videomme", ["short", "Art", "OCR Problems"]),
     ("longvideobench", ["15", "E2O"]), ("activitynet-captions", [])],
)  # fmt: skip
def test_every_benchmark_gets_its_page_from_its_declaration(
    tmp_path: Path, name: str, categories: list
) -> None:
    items, preds = _one_item(name)
    declared = get_benchmark(name)
    config = SimpleNamespace(scoring="native", clip_ground_truth=False)
    rows, scores = declared.score(items, preds, {k: "p" for k in preds}, config)
    summary = {"benchmark": name, "title": declared.title, "model": "m", "prompt_style": "native",
               "strategy": "single", "sampling_note": "x", "limit": None, "num_videos": 1,
               "num_missing_videos": 0, "num_items_missing_video": 0, "clip_ground_truth_to_duration": False,
               "num_set_aside": 0, "config_hash": "h", **scores}  # fmt: skip
    write_report(tmp_path, rows, summary)
    page = build_eval_page(str(tmp_path))
    assert [b.name for group in page.breakdowns for b in group.buckets] == categories
    assert [w.item_id for w in page.worst] == [items[0].item_id]
    assert page.columns == (declared.table_columns(summary) if declared.table_columns else declared.columns)
    html = render_eval_html(str(tmp_path), thumbnails=False)
    truth = declared.page.truth_spans(rows[0])
    drawn = [a for a in Elements(html).find("rect", "span") if a.get("fill") == TRUTH_COLOR]
    assert len(drawn) == len(truth)  # the ground truth drawn, when the benchmark has spans
