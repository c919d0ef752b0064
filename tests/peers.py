"""The peer implementations our parity tests compare with, and the versions they were written against.

A parity test names its peer here (``PEERS``); ``pytest`` prints, in its header, each peer's version
written against next to the one installed (``pytest_report_header`` in ``conftest.py``), so drift is
visible in every CI log. Where a peer version is *known* to depart from the reference layout, the
comparison with it is skipped with the reason (``skip_unless_reference_qwen3_processor``); any other
difference fails with a message naming the peer and both versions (``peer_note``).

The README's "Tested versions" section lists the same table.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any, NamedTuple

import pytest


class Peer(NamedTuple):
    distribution: str  # the installed distribution to read the version of ("" if not installed here)
    written_against: str
    compared: str


PEERS: dict[str, Peer] = {
    "transformers": Peer(
        "transformers",
        "5.25.0",
        "Qwen2-VL/Qwen2.5-VL/Qwen3-VL processors and get_rope_index, generate on the pixel path "
        "(test_model_parity, test_qwen3_parity, test_qwen3_time, test_timing, test_model_runner, "
        "test_model_generation, test_official_checkpoints)",
    ),
    "qwen-vl-utils": Peer(
        "qwen-vl-utils",
        "0.0.14",
        "fetch_video / process_vision_info frame choice, smart_resize, smart_nframes "
        "(test_sampling, test_model_parity, test_qwen3_parity)",
    ),
    "lmms-eval": Peer(
        "",
        "commit in tests/data/lmms_eval_reference.json",
        "Charades-STA and LVBench prompts and scoring, results recorded once outside this repository "
        "(test_eval_lmms_compat, test_prompts)",
    ),
}


def installed(name: str) -> str:
    """The installed version of peer ``name``, or ``"not installed"``."""
    dist = PEERS[name].distribution
    if not dist:
        return "not installed (recorded results)"
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def peer_note(name: str) -> str:
    """A failure message tail naming the peer and both versions."""
    peer = PEERS[name]
    return f"peer {name}: installed {installed(name)}, tests written against {peer.written_against}"


def _release(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
        if not piece.isdigit():
            break
    return tuple(parts)


# Qwen3-VL's reference prompt layout for a video (the processor as released, transformers 4.57.0
# processing_qwen3_vl.py): the chat template's "<|vision_start|><|video_pad|><|vision_end|>" is
# replaced whole by "<t seconds><|vision_start|>...<|vision_end|>" per temporal patch, with no outer
# pair around them. transformers 5.10.1 to 5.24.0 (the replace_video_token refactor) kept the outer
# pair; 5.25.0 restored the reference ("collapse the chat template's outer wrapper"). Checked in
# the released wheels of 4.57.0, 5.0.0, 5.3.0, 5.5.4, 5.8.1, 5.9.0 (reference), 5.10.1, 5.10.4,
# 5.11.0, 5.12.0, 5.12.1, 5.16.1, 5.20.2, 5.23.0, 5.24.0 (outer pair) and 5.25.0 (reference).
QWEN3_OUTER_PAIR_RELEASES = ((5, 10, 1), (5, 25, 0))  # [first, end) of the releases that depart


def qwen3_processor_is_reference(version: str) -> bool:
    """Whether transformers ``version``'s Qwen3-VL processor writes the reference layout."""
    first, end = QWEN3_OUTER_PAIR_RELEASES
    return not first <= _release(version) < end


def skip_unless_reference_qwen3_processor() -> None:
    """Skip a comparison with the installed Qwen3-VL processor where it is known to differ."""
    version = installed("transformers")
    if not qwen3_processor_is_reference(version):
        pytest.skip(
            f"transformers {version}'s Qwen3VLProcessor keeps an outer <|vision_start|>...<|vision_end|> "
            "pair around a video's patches (5.10.1-5.24.0), unlike the reference layout (4.57.0, 5.25.0) "
            "videoqa follows; the reference-layout tests still run"
        )


def recipe_inputs(
    model, video_part: dict, prompt: str, *, vision_kwargs: dict | None = None, **processor: Any
):
    """``(inputs, metadata)`` of the official recipe for one video and a prompt: qwen-vl-utils reads and
    resizes the video (``process_vision_info(**vision_kwargs)``), the model's processor tokenises it."""
    from qwen_vl_utils import process_vision_info
    from transformers.video_utils import VideoMetadata

    messages = [{"role": "user", "content": [video_part, {"type": "text", "text": prompt}]}]
    _, videos, video_kwargs = process_vision_info(
        messages, return_video_kwargs=True, return_video_metadata=True, **(vision_kwargs or {})
    )
    ((video, meta),) = videos
    text = model.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = model.processor(
        text=[text], videos=[video], video_metadata=[VideoMetadata(**meta)], do_resize=False,
        return_tensors="pt", **processor, **video_kwargs,
    )  # fmt: skip
    return inputs, meta
