"""Timed text on the frames' clock: sidecar files, subtitle streams in real encoded files, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.subtitle_media import write_with_subtitles
from videoqa.errors import SubtitleError
from videoqa.synthetic import write_video
from videoqa.text import Cue, load_cues, read_subtitle_file
from videoqa.video import probe

_ROOT = Path(__file__).resolve().parents[1]
# ../shared next to the repository (a worktree under /work/wt/NAME looks one level higher too)
NASA = (
    next(
        (p for p in (_ROOT.parent / "shared", _ROOT.parent.parent / "shared") if p.is_dir()),
        _ROOT.parent / "shared",
    )
    / "real_media/torchcodec/nasa_13013.mp4"
)

ENGLISH = [(3.0, 4.5, "hello <i>there</i>"), (5.25, 6.0, "second line"), (20.0, 21.0, "past the end")]
FRENCH = [(2.6, 3.0, "bonjour")]
# 6 s of video starting at 2.5 s: frames cover 2.5 - 8.5 s on the container's clock.
VIDEO = {"duration_seconds": 6.0, "fps": 10, "start_seconds": 2.5}


@pytest.mark.parametrize(
    ("name", "codec"),
    [("srt.mkv", "subrip"), ("ass.mkv", "ass"), ("movtext.mp4", "mov_text"), ("vtt.webm", "webvtt")],
)
def test_stream_cues_keep_the_container_clock_and_choose_by_language(
    tmp_path: Path, name: str, codec: str
) -> None:
    video = dict(VIDEO, codec="vp9" if name.endswith(".webm") else "h264")
    path = write_with_subtitles(tmp_path / name, [(codec, "eng", ENGLISH), (codec, "fra", FRENCH)], **video)
    info = probe(path)
    assert info.start_seconds == 2.5
    english = load_cues(path, info=info)
    assert english.kind == "stream" and english.source.startswith("stream:1 (")
    assert [(c.start_seconds, c.end_seconds, c.text) for c in english.cues] == [
        (3.0, 4.5, "hello there"),
        (5.25, 6.0, "second line"),
    ]
    assert {c.language for c in english.cues} == {"eng"}
    assert english.notes == ("1 cue(s) start at or after the end of the video (8.500 s): dropped",)
    french = load_cues(path, language="fr", info=info)
    assert french.source.startswith("stream:2 (") and french.language == "fra"
    assert [(c.start_seconds, c.end_seconds, c.text) for c in french.cues] == [(2.6, 3.0, "bonjour")]
    none = load_cues(path, language="de", info=info)
    assert none.cues == () and "no subtitle stream in language 'de'" in none.notes[0]


def test_a_cue_running_past_the_end_ends_with_the_video(tmp_path: Path) -> None:
    path = write_with_subtitles(tmp_path / "v.mkv", [("subrip", None, [(7.0, 12.0, "long")])], **VIDEO)
    cues = load_cues(path).cues
    assert [(c.start_seconds, c.end_seconds, c.language) for c in cues] == [(7.0, 8.5, None)]


def test_nasa_mov_text_cues_come_out_at_their_seconds() -> None:
    if not NASA.exists():
        pytest.skip(f"{NASA} not found (the shared real media folder is absent)")
    transcript = load_cues(NASA)
    assert transcript.kind == "stream" and transcript.source == "stream:2 (mov_text, eng)"
    first = [(c.start_seconds, c.end_seconds) for c in transcript.cues[:3]]
    assert first == [(0.21, 4.26), (4.26, 8.35), (8.35, 12.47)]
    assert transcript.cues[0].text == "NAR: This is the optical and science segment of the Webb"


SRT = """1
00:00:01,000 --> 00:00:02,500
<b>First</b> line
continued

2
00:00:04,250 --> 00:00:05,000
{\\an8}Second
"""
VTT = """WEBVTT
Kind: captions

NOTE a comment

intro
00:01.000 --> 00:02.500 align:start
First line continued

00:00:04.250 --> 00:00:05.000
Second
"""
ASS = """[Script Info]
ScriptType: v4.00+

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:01.00,0:00:02.50,Default,,0,0,0,,First line,\\Ncontinued
Dialogue: 0,0:00:04.25,0:00:05.00,Default,,0,0,0,,Second
"""
PARSED = [(1.0, 2.5, "First line continued"), (4.25, 5.0, "Second")]


@pytest.mark.parametrize(("suffix", "text"), [(".srt", SRT), (".vtt", VTT), (".ass", ASS), (".ssa", ASS)])
def test_sidecar_formats_parse_to_the_same_cues(tmp_path: Path, suffix: str, text: str) -> None:
    path = tmp_path / f"talk{suffix}"
    path.write_text(text, encoding="utf-8")
    got = read_subtitle_file(str(path)).cues
    expected = [(a, b, t.replace("line,", "line")) for a, b, t in PARSED]
    assert [(c.start_seconds, c.end_seconds, c.text.replace("line,", "line")) for c in got] == expected


def test_sidecar_counts_from_the_first_frame_and_is_found_by_language(tmp_path: Path) -> None:
    video = write_video(tmp_path / "talk.mp4", **VIDEO)
    (tmp_path / "talk.srt").write_text(SRT, encoding="utf-8")
    (tmp_path / "talk.fr.vtt").write_text(VTT.replace("First", "Premier"), encoding="utf-8")
    (tmp_path / "talk.part2.srt").write_text("not ours", encoding="utf-8")
    auto = load_cues(video)
    assert auto.kind == "sidecar" and auto.source == str(tmp_path / "talk.srt")
    # the file's 1.0 s is 1 s after the first frame, which is at 2.5 s
    assert [(c.start_seconds, c.end_seconds) for c in auto.cues] == [(3.5, 5.0), (6.75, 7.5)]
    assert auto.cues[0].source == "sidecar:talk.srt"
    french = load_cues(video, language="fra")
    assert french.source == str(tmp_path / "talk.fr.vtt") and french.cues[0].text == "Premier line continued"
    assert french.cues[0].language == "fr"
    explicit = load_cues(video, subtitles=str(tmp_path / "talk.fr.vtt"))
    assert explicit.cues == tuple(
        Cue(c.start_seconds, c.end_seconds, c.text, None, c.source) for c in french.cues
    )
    assert load_cues(video, subtitles=None).cues == ()


def test_auto_without_any_text_is_a_note(tmp_path: Path) -> None:
    video = write_video(tmp_path / "plain.mp4", duration_seconds=2.0, fps=10)
    transcript = load_cues(video)
    assert transcript.cues == () and transcript.kind is None
    assert transcript.notes == ("no subtitle file or text subtitle stream",)


@pytest.mark.parametrize(
    ("suffix", "text", "line", "words"),
    [
        (
            ".srt",
            "1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:03.5 -> 00:00:04,000\nbad\n",
            6,
            "SubRip timing",
        ),
        (".srt", "1\n00:00:05,000 --> 00:00:02,000\nbackwards\n", 2, "before it starts"),
        (".vtt", "WEBVTT\n\n00:01.000 --> 00:02.000\nok\n\n00:03 --> 00:04.000\nbad\n", 6, "WebVTT timing"),
        (".vtt", "1\n00:00:01,000 --> 00:00:02,000\nan srt named .vtt\n", 1, "starts with the line 'WEBVTT'"),
        (".ass", ASS.replace("0:00:04.25", "0:0x:04.25"), 7, "ASS time"),
    ],
)
def test_malformed_files_name_the_file_and_line(
    tmp_path: Path, suffix: str, text: str, line: int, words: str
) -> None:
    path = tmp_path / f"bad{suffix}"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SubtitleError, match=words) as caught:
        read_subtitle_file(str(path))
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{path} line {line}: ")


def test_encodings_bom_declared_and_unknown(tmp_path: Path) -> None:
    latin = SRT.replace("Second", "Deuxième")
    path = tmp_path / "latin.srt"
    path.write_bytes(latin.encode("cp1252"))
    with pytest.raises(SubtitleError, match="not valid utf-8") as caught:
        read_subtitle_file(str(path))
    assert caught.value.line == 8  # the line holding the è
    assert read_subtitle_file(str(path), encoding="cp1252").cues[1].text == "Deuxième"
    path.write_bytes(latin.encode("utf-16"))  # with its byte-order mark
    assert read_subtitle_file(str(path)).cues[1].text == "Deuxième"
    path.write_bytes(SRT.encode("ascii"))
    with pytest.raises(SubtitleError, match="unknown text encoding 'klingon'"):
        read_subtitle_file(str(path), encoding="klingon")


def test_sidecars_in_a_bucket(tmp_path: Path) -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    video = write_video(tmp_path / "clip.mp4", **VIDEO)
    fs.pipe("/bucket-subs/videos/clip.mp4", video.read_bytes())
    fs.pipe("/bucket-subs/videos/clip.en.srt", SRT.encode())
    fs.pipe("/bucket-subs/videos/other.srt", b"not ours")
    transcript = load_cues("memory://bucket-subs/videos/clip.mp4", language="en")
    assert transcript.source == "memory://bucket-subs/videos/clip.en.srt"
    assert [(c.start_seconds, c.end_seconds) for c in transcript.cues] == [(3.5, 5.0), (6.75, 7.5)]


def test_bad_subtitles_argument_is_rejected_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="subtitles must be one of"):
        load_cues(tmp_path / "x.mp4", subtitles="yes")


def test_a_folder_of_many_videos_is_listed_once(tmp_path: Path, monkeypatch) -> None:
    from videoqa.text import _sidecar

    for k in range(50):
        (tmp_path / f"v{k}.mp4").write_bytes(b"")
    (tmp_path / "v7.en.srt").write_text(SRT, encoding="utf-8")
    calls = []
    listdir = _sidecar.os.listdir
    monkeypatch.setattr(_sidecar.os, "listdir", lambda folder: calls.append(folder) or listdir(folder))
    found = {k: _sidecar.find_sidecars(tmp_path / f"v{k}.mp4") for k in range(50)}
    assert calls == [str(tmp_path)]
    assert {k: [s.path for s in v] for k, v in found.items() if v} == {7: [str(tmp_path / "v7.en.srt")]}
    (tmp_path / "v8.srt").write_text(SRT, encoding="utf-8")  # a new file: the folder is listed again
    assert [s.language for s in _sidecar.find_sidecars(tmp_path / "v8.mp4")] == [None]
    assert len(calls) == 2
