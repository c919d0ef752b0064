"""The results page of an evaluation (``videoqa report EVAL_OUTPUT``), from real evaluation runs.

Two real runs through the Ray batch job with the scripted model on generated videos (coloured
squares over known intervals, as in ``test_eval_e2e.py``), so every number on the page is known:

- Charades-STA (TimeChat's JSON variant), six queries: a shifted ground truth (IoU 5.5/14), a
  missing video, a colour that never appears (no-event answer, IoU 0), a broken file (failed, IoU
  0), a perfect one (IoU 0.95) and one whose sentence carries a ``<script>`` (IoU 0.9);
- LVBench, three questions, one of them under two capabilities (a list-valued category).

The page is checked in its HTML (exact cells, buckets, worst items, the ground truth drawn to scale)
and in headless Chromium (the bars' rendered positions and colours; the script payload inert).
"""

from __future__ import annotations

import html as html_module
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.report_util import Elements, decode_data_uri, expected_x
from tests.test_eval_e2e import SHIFTED_MISSING_BROKEN
from videoqa.eval import EvalConfig, run_eval
from videoqa.eval._page import TRUTH_COLOR, build_eval_page, render_eval_html
from videoqa.synthetic import Event, has_square, write_video

pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
]  # two real runs (~45 s); the fast page tests: test_eval_report_page.py

PAYLOAD = (
    "<script>document.title='pwned';document.body.appendChild(document.createElement('xss-ran'))</script>"
)
SHIFTED = 5.5 / 14  # prediction 5.0-14.5 s against the annotated 9-19 s


def _job() -> dict:
    return {"local_num_cpus": 2, "decode_workers": 1, "progress_interval_seconds": 60.0}


@pytest.fixture(scope="module")
def runs(ray_cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("eval_page")
    videos = root / "videos"
    write_video(videos / "AAAA1.mp4", duration_seconds=30, fps=4.0,
                events=[Event(10.0, 20.0, "red"), Event(3.0, 8.0, "blue")])  # fmt: skip
    write_video(videos / "BBBB2.mp4", duration_seconds=20, fps=4.0, events=[Event(5.0, 15.0, "green")])
    (videos / "BROKE.mp4").write_bytes(b"not a video at all " * 64)
    annotations = root / "test.caption_coco_format.json"
    payload = {
        "image_id": "AAAA1.mp4",
        "caption": f"a {PAYLOAD} blue square.",
        "timestamp": [3.0, 8.0],
        "id": 5,
    }
    annotations.write_text(json.dumps({"annotations": [*SHIFTED_MISSING_BROKEN, payload]}))
    charades = root / "charades"
    run_eval(EvalConfig(benchmark="charades-sta", annotations=str(annotations), videos=str(videos),
                        output=str(charades), model="builtin:scripted", job=_job()))  # fmt: skip

    def qa(uid: str, stem: str, options: list[str], answer: str, types: list[str]) -> dict:
        lines = "\n".join(f"({letter}) {text}" for letter, text in zip("ABCD", options, strict=True))
        return {"uid": uid, "question": f"{stem}\n{lines}", "answer": answer, "question_type": types,
                "time_reference": "00:10-00:20"}  # fmt: skip

    lvbench_annotations = root / "video_info.meta.jsonl"
    lvbench_annotations.write_text(json.dumps({"key": "AAAA1", "type": "cartoon", "qa": [
        qa("1", "Which colour is the first square?", ["red", "blue", "yellow", "cyan"], "B",
           ["entity recognition", "temporal grounding"]),  # picks A (red, named first): wrong
        qa("2", "Which colour?", ["magenta", "red", "orange", "cyan"], "B", ["entity recognition"]),  # right
        qa("3", "What passes by?", ["a cat", "a dog", "a car", "a tree"], "C", ["summarization"]),  # A: wrong
    ]}) + "\n")  # fmt: skip
    lvbench = root / "lvbench"
    run_eval(EvalConfig(benchmark="lvbench", annotations=str(lvbench_annotations), videos=str(videos),
                        output=str(lvbench), model="builtin:scripted", job=_job()))  # fmt: skip
    return {"root": root, "charades": charades, "lvbench": lvbench, "videos": videos}


def _table_rows(html: str, cls: str, attr: str) -> dict[str, tuple[str, str]]:
    """{data-<attr>: (items, score)} of every row of class ``cls``."""
    found = re.findall(
        rf'<tr class="{cls}" data-{attr}="([^"]*)"><td class="text">[^<]*</td>'
        r'<td class="num">([^<]*)</td><td class="num">([^<]*)</td></tr>',
        html,
    )
    return {html_module.unescape(k): (n, s) for k, n, s in found}


def test_grounding_page_numbers(runs: dict[str, Any]) -> None:
    out = runs["charades"]
    summary = json.loads((out / "summary.json").read_text())
    html = render_eval_html(str(out), thumbnails=False, worst=3)
    # overall: this run's row is the summary's numbers, one decimal (R@0.3 R@0.5 R@0.7 mIoU)
    miou = 100 * (SHIFTED + 0.95 + 0.9) / 6
    assert summary["all"]["mIoU"] == pytest.approx(miou)
    this_run = (
        r'<tr class="result"><td class="text">builtin:scripted \(this run, all 6 queries\)</td>(.*?)</tr>'
    )
    row = re.search(this_run, html).group(1)
    assert re.findall(r'<td class="num">([^<]*)</td>', row) == ["50.0", "33.3", "33.3", f"{miou:.1f}"]
    assert "Qwen2.5-VL-7B (published)" in html
    # per duration: the probed durations (20 s, 30 s); the missing and the broken video have none
    durations = _table_rows(html, "bucket", "bucket")
    assert durations["< 30 s"] == ("1", f"{100 * SHIFTED:.1f}")
    assert durations["30 s - 1 min"] == ("3", f"{100 * (0 + 0.95 + 0.9) / 3:.1f}")
    assert durations["unknown duration"] == ("2", "0.0")
    assert durations[">= 60 min"] == ("0", "–")
    assert "The benchmark declares no categories." in html
    # worst: IoU 0 (no event, then the failed one, in file order), then the shifted one; missing not listed
    page = build_eval_page(str(out), worst=3)
    assert [(w.item_id, w.score_text, w.status) for w in page.worst] == [
        ("2", "0.000", "ok"), ("3", "0.000", "failed"), ("0", f"{SHIFTED:.3f}", "ok")
    ]  # fmt: skip
    assert page.worst_notes == ["Not listed: 1 query whose video is missing (scored 0)."]
    assert page.worst[0].prediction == "The event does not occur in this video."
    assert "BROKE.mp4" in (page.worst[1].error or "") and page.worst[2].expected == "9.0-19.0 s"


def test_grounding_page_draws_the_truth_and_the_answer_to_scale(runs: dict[str, Any]) -> None:
    html = render_eval_html(str(runs["charades"]), worst=3)
    page = Elements(html)
    bars = [
        (a["data-question-id"], a.get("fill"), float(a["x"]), float(a["width"]))
        for a in page.find("rect", "span")
    ]
    truth = [b for b in bars if b[1] == TRUTH_COLOR]
    # ground truth: item 2 at 1-2 s of the 30 s video, item 3 (failed, duration unknown: the timeline ends
    # at the span's end, 2 s) at 1-2 s, item 0 at 9-19 s of the 20 s video
    assert [(q, x, w) for q, _, x, w in truth] == [
        ("2", pytest.approx(expected_x(1.0, 30.0), abs=1e-3), pytest.approx(710 / 30, abs=1e-3)),
        ("3", pytest.approx(expected_x(1.0, 2.0), abs=1e-3), pytest.approx(355.0)),
        ("0", pytest.approx(expected_x(9.0, 20.0), abs=1e-3), pytest.approx(355.0, abs=1e-3)),
    ]
    answered = [b for b in bars if b[1] != TRUTH_COLOR]  # only item 0 has a span: 5.0-14.5 s
    assert [(q, x, w) for q, _, x, w in answered] == [
        ("0", pytest.approx(expected_x(5.0, 20.0), abs=1e-3), pytest.approx(9.5 / 20 * 710, abs=1e-3))
    ]
    assert len(page.find("rect", "window")) == 2  # items 2 and 0: one window over the whole video each
    assert "duration is unknown; the timeline ends at the last span" in html
    frames = [decode_data_uri(a["src"]) for t, a in page.tags if t == "img"]
    assert len(frames) == 2 and all(has_square(f, "green") for f in frames)  # item 0's span: 5.0, 14.5 s


def test_choice_page_categories_from_the_declaration(runs: dict[str, Any]) -> None:
    html = render_eval_html(str(runs["lvbench"]), thumbnails=False)
    # capabilities is a list: question 1 counts under ER and TG
    assert _table_rows(html, "bucket", "bucket")["ER"] == ("2", "50.0")
    assert _table_rows(html, "bucket", "bucket")["TG"] == ("1", "0.0")
    assert _table_rows(html, "bucket", "bucket")["Sum"] == ("1", "0.0")
    assert _table_rows(html, "bucket", "bucket")["cartoon"] == ("3", f"{100 / 3:.1f}")
    assert _table_rows(html, "bucket", "bucket")["30 s - 1 min"] == ("3", f"{100 / 3:.1f}")
    page = build_eval_page(str(runs["lvbench"]))
    assert [(w.item_id, w.score_text, w.expected) for w in page.worst] == [
        ("1", "wrong", "B"), ("3", "wrong", "C"), ("2", "right", "B")
    ]  # fmt: skip
    # the time_reference (10-20 s) is the ground-truth lane; the window the model saw is drawn too
    spans = Elements(html).find("rect", "span")
    assert [(float(a["x"]), float(a["width"])) for a in spans] == [
        (pytest.approx(expected_x(10.0, 30.0), abs=1e-3), pytest.approx(710 / 3, abs=1e-3))
    ] * 3
    assert len(Elements(html).find("rect", "window")) == 3


CHROMIUM = shutil.which("chromium")
MEASURE = """<script>
window.addEventListener("load", () => {
  const rects = [...document.querySelectorAll("svg.timeline rect.span")].map((r) => {
    const s = r.ownerSVGElement.getBoundingClientRect(), b = r.getBoundingClientRect();
    return {item: r.closest("div.worst-item").dataset.itemId, dx: b.left - s.left, width: b.width,
            cx: Math.round(b.left + b.width / 2 + scrollX), cy: Math.round(b.top + b.height / 2 + scrollY),
            fill: getComputedStyle(r).fill};
  });
  const pre = document.createElement("pre");
  pre.id = "measure";
  const xss = document.querySelectorAll("xss-ran").length;
  pre.textContent = JSON.stringify({rects, title: document.title, xss});
  document.body.appendChild(pre);
});
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)")
def test_eval_page_in_the_browser(runs: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    from tests import test_report_browser
    from tests.test_report_browser import run_chromium

    monkeypatch.setattr(test_report_browser, "WINDOW", (1100, 8000))  # the whole page in one screenshot
    from videoqa.eval._page import render_eval_report

    root = runs["root"]
    report = Path(render_eval_report(str(runs["charades"]), worst=10))
    html = report.read_text(encoding="utf-8")
    assert PAYLOAD not in html and "a &lt;script&gt;document.title=&#39;pwned&#39;;" in html
    csp = re.search(r'<meta http-equiv="Content-Security-Policy"[^>]*>', html)
    measured = root / "measured.html"
    measured.write_text(html.replace(csp.group(0), "").replace("</body>", MEASURE + "</body>"), "utf-8")
    dom = run_chromium(root / "profile", measured.as_uri(), "--dump-dom")
    m = json.loads(html_module.unescape(re.search(r'<pre id="measure">(.*?)</pre>', dom, re.S).group(1)))
    assert m["xss"] == 0 and m["title"].startswith("videoqa evaluation")
    truth = [r for r in m["rects"] if r["fill"] == "rgb(17, 119, 51)"]  # TRUTH_COLOR
    assert [r["item"] for r in truth] == ["2", "3", "0", "5", "4"]  # worst first; 5 (IoU 0.9) before 4
    assert truth[2]["dx"] == pytest.approx(expected_x(9.0, 20.0), abs=1) and truth[2][
        "width"
    ] == pytest.approx(355, abs=1)
    shot = root / "page.png"
    run_chromium(root / "profile", report.as_uri(), f"--screenshot={shot}")
    image = Image.open(shot).convert("RGB")
    for r in truth:  # the rendered pixels at each ground-truth bar's centre are the truth colour
        assert image.getpixel((r["cx"], r["cy"])) == (17, 119, 51)
