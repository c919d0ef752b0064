"""The vLLM engine's worker process: ``python -m videoqa.model._vllm_worker`` in the vLLM venv.

The parent (:mod:`videoqa.model._vllm`) sends length-prefixed pickles on the worker's stdin and reads
the answers on the file descriptor given as ``--reply-fd`` (stdout and stderr carry vLLM's logs).
Messages are plain dicts of Python values and numpy arrays (no torch objects), so the two sides may
run different torch and transformers versions.

- ``{"op": "load", "source", "dtype", "tensor_parallel_size", "max_model_len", "seed",
  "enable_prefix_caching", "limit_videos"}`` -> ``{"vllm_version", "architecture", "exact_class"}``
- ``{"op": "generate", "requests": [...], "sampling": {...}, "record_positions": bool}`` ->
  ``{"outputs": [{"text", "prompt_token_ids", "output_token_ids", "cached_tokens", "positions"}]}``
- ``{"op": "close"}`` ends the process.

A request is ``{"prompt": chat text, "videos": [{"embeds", "grid_thw", "second_per_grid",
"timestamps", "uuid"}]}``; every window travels as its embeddings with its time (and its cache
identifier, which includes that time). A failure is answered ``{"error_type", "error"}``.
"""

from __future__ import annotations

import argparse
import os
import pickle
import struct
import sys
from typing import Any, BinaryIO

__all__ = ["main", "read_message", "write_message"]

_HEADER = struct.Struct("<Q")


def write_message(stream: BinaryIO, message: Any) -> None:
    blob = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(blob)) + blob)
    stream.flush()


def read_message(stream: BinaryIO) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("the other side closed the pipe")
    (size,) = _HEADER.unpack(header)
    blob = stream.read(size)
    if len(blob) < size:
        raise EOFError("the other side closed the pipe mid-message")
    return pickle.loads(blob)


class _Engine:
    def __init__(self, message: dict[str, Any]):
        from vllm import LLM, __version__

        from videoqa.model import _vllm_plugin

        if message.get("exact_time", True):
            os.environ[_vllm_plugin.ENV_FLAG] = "1"
            _vllm_plugin.register()
        self.llm = LLM(
            model=message["source"],
            dtype=message["dtype"],
            tensor_parallel_size=int(message["tensor_parallel_size"]),
            max_model_len=message["max_model_len"],
            seed=int(message["seed"]),
            enable_prefix_caching=bool(message["enable_prefix_caching"]),
            enable_mm_embeds=True,
            limit_mm_per_prompt={"video": int(message["limit_videos"]), "image": 0},
            video_pruning_rate=None,  # EVS off: it truncates the time step to an integer
            generation_config="vllm",  # every sampling parameter comes from videoqa
            enforce_eager=bool(message["enforce_eager"]),
        )
        config = self.llm.llm_engine.model_config
        pruning = config.multimodal_config.video_pruning_rate
        if pruning:
            raise RuntimeError(
                f"EVS video pruning is on (video_pruning_rate={pruning}); videoqa needs it off"
            )
        self.architecture = config.architectures[0]
        self.exact_class = _vllm_plugin.EXACT_ARCHITECTURES.get(self.architecture)
        self.version = __version__
        self.model_class = self.llm.apply_model(_class_name)[0]

    def generate(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        from vllm import SamplingParams

        from videoqa.model import _vllm_exact

        if message.get("record_positions"):
            self.llm.apply_model(_vllm_exact.record_positions)
        params = SamplingParams(**message["sampling"])
        prompts = [_vllm_prompt(request) for request in message["requests"]]
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        recorded: list[Any] = []
        if message.get("record_positions"):
            for part in self.llm.apply_model(_vllm_exact.take_positions):
                recorded.extend(part)
        replies = []
        for request, output in zip(message["requests"], outputs, strict=True):
            uuids = [v.get("uuid") for v in request["videos"]]
            completion = output.outputs[0]
            ids = [int(t) for t in output.prompt_token_ids]
            replies.append(
                {
                    "text": completion.text,
                    "prompt_token_ids": ids,
                    "output_token_ids": [int(t) for t in completion.token_ids],
                    "cached_tokens": int(output.num_cached_tokens or 0),
                    "positions": _vllm_exact.find_positions(recorded, ids, uuids),
                }
            )
        return replies


def _class_name(model: Any) -> str:
    return f"{type(model).__module__}:{type(model).__qualname__}"


def _vllm_prompt(request: dict[str, Any]) -> dict[str, Any]:
    """vLLM's prompt dict: the windows as one embeddings item each, with their time and cache identifiers."""
    import numpy as np
    import torch

    videos = request["videos"]
    data: dict[str, Any] = {
        "video_embeds": torch.from_numpy(np.concatenate([v["embeds"] for v in videos], axis=0)),
        "video_grid_thw": torch.tensor([list(v["grid_thw"]) for v in videos], dtype=torch.long),
    }
    if all(v.get("second_per_grid") is not None for v in videos):
        data["second_per_grid_ts"] = torch.tensor(
            [float(v["second_per_grid"]) for v in videos], dtype=torch.float64
        )
    if all(v.get("timestamps") is not None for v in videos):
        data["timestamps"] = [[float(t) for t in v["timestamps"]] for v in videos]
    prompt: dict[str, Any] = {"prompt": request["prompt"], "multi_modal_data": {"video": data}}
    uuids = [v.get("uuid") for v in videos]
    if all(uuids):
        prompt["multi_modal_uuids"] = {"video": uuids}
    return prompt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reply-fd", type=int, required=True)
    args = parser.parse_args(argv)
    requests = sys.stdin.buffer
    replies = os.fdopen(args.reply_fd, "wb")
    engine: _Engine | None = None
    while True:
        try:
            message = read_message(requests)
        except EOFError:
            return 0
        op = message.get("op")
        if op == "close":
            return 0
        try:
            if op == "load":
                engine = _Engine(message)
                reply: dict[str, Any] = {
                    "vllm_version": engine.version,
                    "architecture": engine.architecture,
                    "exact_class": engine.exact_class,
                    "model_class": engine.model_class,
                }
            elif op == "generate" and engine is not None:
                reply = {"outputs": engine.generate(message)}
            else:
                raise ValueError(f"unknown or premature operation {op!r}")
        except Exception as exc:  # the parent turns it into a typed error naming the cause
            reply = {"error_type": type(exc).__name__, "error": str(exc)}
        write_message(replies, reply)


if __name__ == "__main__":
    raise SystemExit(main())
