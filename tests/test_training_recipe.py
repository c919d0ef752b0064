"""The tiny grounder's training recipe (``training/train_tiny_grounder.py``, issue 17) runs end to end
on a few videos and writes a checkpoint that loads through the path every checkpoint takes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import videoqa
from videoqa.core.prompts import grounding_prompt
from videoqa.model._grounder import grounder_dir
from videoqa.synthetic import PALETTE

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_training_recipe_runs_end_to_end_and_its_checkpoint_loads(tmp_path):
    """A few steps on 3 videos: data through videoqa's plan/decode/model-input path, the answer,
    auxiliary and hint losses, held-out generation through encode/generate, a loadable checkpoint
    whose tokenizer keeps every prompt word (each colour) one token and every digit one token."""
    out = tmp_path / "grounder"
    cmd = [
        sys.executable,
        str(ROOT / "training" / "train_tiny_grounder.py"),
        *("--output", str(out), "--videos", "3", "--heldout-videos", "1", "--steps", "4"),
        *("--log-every", "2", "--eval-every", "4", "--threads", "1", "--warmup", "2"),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("step")]
    assert [line.split()[1] for line in lines] == ["2", "4"]
    for name in ("answer_loss", "time", "colour", "hint"):
        assert f" {name} " in lines[0]
    assert "held-out mIoU" in lines[1]
    model = videoqa.load_model(str(out), device="cpu")
    assert type(model.model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    text = model.model.config.text_config
    assert (text.hidden_size, text.num_hidden_layers, text.rope_parameters["mrope_section"]) == (
        128,
        4,
        [12, 2, 2],
    )
    size = model.processor.video_processor.size
    assert (size["shortest_edge"], size["longest_edge"]) == (784, 3136)
    tok = model.tokenizer
    for color in PALETTE:
        assert len(tok(f" {color}")["input_ids"]) == 1, color
    assert len(tok(grounding_prompt("a magenta square appears"))["input_ids"]) == 62
    shipped = json.loads((grounder_dir() / "config.json").read_text())  # the shipped model: this recipe
    rebuilt = json.loads((out / "config.json").read_text())
    for key in ("text_config", "vision_config"):
        assert rebuilt[key] == shipped[key]
    digits = tok("The event happens in 12.5 - 41.0 seconds.")["input_ids"]
    assert [tok.decode([i]) for i in digits][4:9] == [" ", "1", "2", ".", "5"]
