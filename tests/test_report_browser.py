"""A real job's report.html looked at in a real browser (headless Chromium), as a person would.

The job is a real tiny Ray job (``videoqa.batch.run_job`` with the scripted model) over generated
videos with known coloured-square events and a broken file; its questions carry a ``<script>``, and
so does a choice option, which the scripted model repeats in its answer (model output with a
script). One video is deleted after the job, as if moved away. Chromium renders the report
twice: a screenshot of the page as is, and ``--dump-dom`` of a copy whose Content-Security-Policy is
removed and which carries one measuring script (otherwise byte-identical), so that (a) scripts
provably run on it and the payloads still do not: escaping alone keeps them inert, and (b) the
rendered position of every span is read back with ``getBoundingClientRect``.
Skipped only when ``chromium`` is absent (.ci/run installs it).
"""

from __future__ import annotations

import html as html_module
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.report_util import Elements, expected_x
from videoqa.report import render_job_report

CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="headless Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)",
    ),
    pytest.mark.ray,
]

WINDOW = (1100, 2400)
SVG_WIDTH = 960
PAYLOAD = (
    "<script>document.title='pwned';document.body.appendChild(document.createElement('xss-ran'))</script>"
)

# Runs after the page has loaded (images decoded); writes its findings into the DOM for --dump-dom.
MEASURE = """<script>
window.addEventListener("load", () => {
  document.body.setAttribute("data-scripts-ran", "yes");
  const rects = [...document.querySelectorAll("svg.timeline rect.span")].map((r) => {
    const s = r.ownerSVGElement.getBoundingClientRect(), b = r.getBoundingClientRect();
    return {question_id: r.dataset.questionId, start: +r.dataset.startSeconds, end: +r.dataset.endSeconds,
            video: r.closest("section").dataset.video, dx: b.left - s.left, width: b.width,
            svg_width: s.width, cx: b.left + b.width / 2 + scrollX, cy: b.top + b.height / 2 + scrollY,
            fill: getComputedStyle(r).fill};
  });
  const result = {rects, title: document.title, text: document.body.innerText,
                  images: [...document.images].map((i) => [i.naturalWidth, i.naturalHeight]),
                  xss: document.querySelectorAll("xss-ran").length};
  const pre = document.createElement("pre");
  pre.id = "measure";
  pre.textContent = JSON.stringify(result);
  document.body.appendChild(pre);
});
</script>"""


def run_chromium(profile: Path, url: str, *args: str) -> str:
    command = [
        CHROMIUM or "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        *args,
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise AssertionError(f"chromium exited {done.returncode}: {done.stderr[-3000:]}")
    return done.stdout


def _run_job(root: Path) -> str:
    from tests.batch_util import GOOD, write_good_videos
    from videoqa.batch import JobConfig, run_job

    # a.mp4: 24 s, red square 10-14 s; b.mp4: 16 s, blue square 3-6 s (4 fps, 160x90 H.264).
    videos = write_good_videos(root / "videos", {name: GOOD[name] for name in ("a.mp4", "b.mp4")})
    (videos / "broken.mp4").write_bytes(b"not a video\n" * 100)
    questions = [
        {"question_id": "red", "question": f"When does a red square appear? {PAYLOAD}", "task": "grounding"},
        {"question_id": "squares", "question": "List the coloured squares.", "task": "events"},
        {
            "question_id": "pick",
            "question": "Which colour?",
            "task": "choice",
            "options": [f"red {PAYLOAD}", "blue"],
        },
    ]
    (root / "questions.jsonl").write_text("".join(json.dumps({**q, "videos": "*"}) + "\n" for q in questions))
    output = str(root / "out")
    run_job(JobConfig(videos=str(videos), questions=str(root / "questions.jsonl"), output=output,
                      model="builtin:scripted", local_num_cpus=2))  # fmt: skip
    (videos / "b.mp4").unlink()  # moved away after the job: the report must still render
    return output


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from videoqa.batch import read_tables

    root = tmp_path_factory.mktemp("report_browser")
    output = _run_job(root)
    report = Path(render_job_report(output))
    html = report.read_text(encoding="utf-8")
    csp = re.search(r'<meta http-equiv="Content-Security-Policy"[^>]*>', html)
    assert csp is not None
    measured_copy = root / "measured.html"
    measured_copy.write_text(html.replace(csp.group(0), "").replace("</body>", MEASURE + "</body>"), "utf-8")
    screenshot = root / "report.png"
    run_chromium(root / "profile", report.as_uri(), f"--screenshot={screenshot}")
    measured_dom = run_chromium(root / "profile", measured_copy.as_uri(), "--dump-dom")
    found = re.search(r'<pre id="measure">(.*?)</pre>', measured_dom, re.S)
    assert found is not None, f"the measuring script did not run: {measured_dom[-2000:]}"
    return {
        "output": output,
        "tables": {
            t: v.to_pylist() for t, v in read_tables(output, tables=("answers", "spans", "failures")).items()
        },
        "screenshot": screenshot,
        "dom": measured_dom,
        "m": json.loads(html_module.unescape(found.group(1))),
    }


def test_the_job_answered_with_spans(job: dict[str, Any]) -> None:
    tables = job["tables"]
    assert sorted((a["video_id"], a["question_id"]) for a in tables["answers"]) == [
        (v, q) for v in ("a.mp4", "b.mp4") for q in ("pick", "red", "squares")
    ]
    assert sorted(f["video_id"] for f in tables["failures"]) == ["broken.mp4"] * 3
    # red on a.mp4, red events on a.mp4, blue events on b.mp4 (the grounding of red on b finds nothing).
    assert len([s for s in tables["spans"] if s["video_id"] == "a.mp4"]) == 2
    assert len([s for s in tables["spans"] if s["video_id"] == "b.mp4"]) == 1


def test_dom_has_one_span_element_per_grounded_span_at_its_time(job: dict[str, Any]) -> None:
    tables, page = job["tables"], Elements(job["dom"])
    duration = {r["item_key"]: r["video_duration_seconds"] for r in tables["answers"]}
    rows = sorted(
        (s["question_id"], s["start_seconds"], s["end_seconds"], duration[s["item_key"]])
        for s in tables["spans"]
    )
    bars = sorted(
        (b["data-question-id"], float(b["data-start-seconds"]), float(b["data-end-seconds"]), float(b["x"]))
        for b in page.find("rect", "span")
    )
    assert len(bars) == len(rows) == 3
    for (qid, start, end, video_seconds), bar in zip(rows, bars, strict=True):
        assert bar[:3] == (qid, start, end)
        assert bar[3] == pytest.approx(expected_x(start, video_seconds), abs=1e-3)
    # Where the browser actually drew them, relative to their timeline.
    rendered = job["m"]["rects"]
    assert len(rendered) == 3
    seconds = {Path(a["video"]).name: a["video_duration_seconds"] for a in tables["answers"]}
    for r in rendered:
        video_seconds = seconds[Path(r["video"]).name]
        scale = r["svg_width"] / SVG_WIDTH  # 1.0 unless the window is narrower than the timeline
        assert r["dx"] == pytest.approx(expected_x(r["start"], video_seconds) * scale, abs=0.05), r
        width = (expected_x(r["end"], video_seconds) - expected_x(r["start"], video_seconds)) * scale
        assert r["width"] == pytest.approx(width, abs=0.05), r
    assert {r["svg_width"] for r in rendered} == {SVG_WIDTH}  # drawn at its own size in this window


def test_screenshot_shows_the_spans_and_the_thumbnails(job: dict[str, Any]) -> None:
    from PIL import Image

    shot = np.asarray(Image.open(job["screenshot"]).convert("RGB")).astype(int)
    assert shot.shape == (WINDOW[1], WINDOW[0], 3)
    on_screen = [r for r in job["m"]["rects"] if r["cy"] < WINDOW[1]]
    assert len(on_screen) == 3
    for r in on_screen:  # each bar is painted in its lane colour where the DOM says it is
        fill = np.array([int(v) for v in re.findall(r"\d+", r["fill"])[:3]])
        assert np.abs(shot[round(r["cy"]), round(r["cx"])] - fill).max() <= 8, r
    # a.mp4's two spans have start and end thumbnails, decoded by the browser from data: URIs;
    # b.mp4 is gone, so its span has placeholders instead.
    assert job["m"]["images"] == [[168, 94]] * 4


def test_missing_video_gets_placeholders_and_a_note(job: dict[str, Any]) -> None:
    section = job["dom"].split('/b.mp4"')[1].split("</section>")[0]
    assert "No thumbnails for this video: VideoNotFoundError" in section
    assert section.count('class="placeholder"') == 2
    assert section.count('class="span"') == 1  # still drawn from the tables


def test_script_in_a_question_or_answer_is_shown_not_run(job: dict[str, Any]) -> None:
    title = f"videoqa report: {job['output']}"
    page = Elements(job["dom"])
    # Scripts run on this page (the measuring one did), yet the only script element is that one,
    # the payloads added no node and left the title alone: they are text.
    assert 'data-scripts-ran="yes"' in job["dom"]
    assert [t for t, _ in page.tags if t in ("script", "xss-ran")] == ["script"]
    m = job["m"]
    assert m["title"] == title and m["xss"] == 0
    assert re.search(r"<title>(.*?)</title>", job["dom"]).group(1) == title
    assert f"When does a red square appear? {PAYLOAD}" in m["text"]  # the question
    assert f"(A) red {PAYLOAD}" in m["text"]  # the model's answer
