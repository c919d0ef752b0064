"""JobConfig: everything a batch job needs, validated before Ray starts."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from videoqa.core.settings import Settings, model_config_hash, starting_settings
from videoqa.model.families import DEFAULT_MODEL

__all__ = ["DEFAULT_VIDEO_EXTENSIONS", "JobConfig"]

DEFAULT_VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv")


class JobConfig(BaseModel):
    """Settings of one batch job: ``videoqa run``, ``pipelines/analyze_bucket.py`` and ``run_job``.

    Answer-changing settings (``model`` and ``settings``) form the config hash written on every row;
    resource settings (replicas, workers, videos per call, address) do not, so a job resumed on a
    different cluster skips the same finished items.

    Example::

        from videoqa.batch import JobConfig, run_job
        summary = run_job(JobConfig(videos="s3://bucket/videos/", questions="questions.jsonl",
                                    output="s3://bucket/videoqa-out/", model="Qwen/Qwen2.5-VL-7B-Instruct"))
    """

    model_config = ConfigDict(extra="forbid")

    videos: str = Field(
        description="Where the videos are: a folder or bucket prefix (listed recursively), a glob "
        "('s3://b/videos/**/*.mp4'), one video file, or a manifest (.txt one path per line, or "
        ".csv/.jsonl/.parquet with a 'video' column; relative paths are resolved against the "
        "manifest's folder)."
    )
    questions: str = Field(
        description="JSONL, CSV or Parquet file of questions: question_id, question, task, options, prompt, "
        "videos (one video id, a glob over video ids, or '*' / empty for all videos)."
    )
    output: str = Field(description="Folder or bucket prefix for the answers/spans/windows/failures tables.")
    model: str = Field(
        default=DEFAULT_MODEL,
        description="Model string: a Hugging Face id or local path, 'builtin:tiny-qwen2.5-vl' "
        "(random weights) or 'builtin:scripted' (offline stand-in).",
    )
    settings: Settings = Field(
        default_factory=Settings,
        description="Every setting that changes an answer (videoqa.Settings); part of the config hash. "
        "Default: Settings.for_model(model).",
    )
    subtitles: str | None = Field(
        default="auto",
        description="Timed text given with the frames (videoqa.text.load_cues): 'auto' (a subtitle file "
        "next to each video, e.g. talk.srt / talk.en.vtt, else a text subtitle stream in it), 'sidecar', "
        "'stream', 'asr' / 'asr:<Whisper model id or path>' (speech recognition), a .srt/.vtt/.ass file, "
        "or None (frames only).",
    )
    subtitle_map: str | None = Field(
        default=None,
        description="JSON {video: subtitle file} or CSV/JSONL (video, subtitles): a subtitle file per video "
        "(URL or video id), over 'subtitles' for the videos it names (e.g. Video-MME's subtitle/ folder).",
    )
    subtitles_language: str | None = Field(
        default=None, description="Subtitle language to pick ('en', 'fra'); None: the first found."
    )
    address: str | None = Field(
        default=None,
        description="Ray cluster to join ('auto' or 'ray://host:10001'); None starts a local Ray for the run "
        "(or uses the Ray already initialised in this process).",
    )
    replicas: int = Field(default=1, ge=1, description="Model actors (each holds one copy of the model).")
    gpus_per_replica: float | None = Field(
        default=None,
        ge=0,
        description="GPUs per model actor; >1 shards the model across them with device_map. None: 1 when "
        "the cluster has GPUs, else 0 (CPU).",
    )
    cpus_per_replica: float = Field(default=1.0, gt=0, description="CPUs reserved by each model actor.")
    decode_workers: int = Field(
        default=2,
        ge=1,
        description="Concurrent decode tasks (each one CPU). More keeps GPUs fed but holds more decoded "
        "frames in memory; see benchmarks/README.md for sizing.",
    )
    decode_memory_bytes: int = Field(
        default=2 * 1024**3,
        ge=1,
        description="Memory Ray reserves for each decode task (its logical 'memory' resource), so a node "
        "runs no more decoders than its RAM allows. A task holds one first-pass window at a time: "
        "about 1.6 GB of private memory at the default pixel budgets, whatever the video's length "
        "(benchmarks/README.md, 'Decode-task memory').",
    )
    windows_per_call: int = Field(
        default=1,
        ge=1,
        description="First-pass windows per model-actor call (formerly videos_per_call, batch_size): "
        "each row is one first-pass window of a video (a short video is one window), and every "
        "question's request on it is answered in one generate call; larger batches amortise overhead "
        "but a retry redoes the batch.",
        json_schema_extra={"deprecated_flags": ("videos-per-call",)},
    )
    max_attempts: int = Field(
        default=3, ge=1, description="Tries per video and stage for transient errors and worker deaths."
    )
    stage_timeout_seconds: float = Field(
        default=900.0,
        gt=0,
        description="A probe, or the decoding of one window, still running after this long is killed "
        "(its worker exits) and retried; a hung native decoder cannot take the job down.",
    )
    max_batch_tokens: int | None = Field(
        default=None,
        ge=1,
        description="Padded prompt tokens per generate call of a replica (memory per call); unset derives it "
        "from free GPU memory (no limit on the CPU). Changes no answer, so it is not in the config hash.",
    )
    engine: Literal["transformers", "vllm"] = Field(
        default="transformers",
        description="Language-side engine of each model replica: transformers (videoqa's runner), or vllm "
        "(tensor parallel over gpus_per_replica GPUs, vLLM's prefix caching; same prompts, times and "
        "greedy answers, checked at load). Changes no answer, so it is not in the config hash.",
    )
    prefix_reuse: bool = Field(
        default=True,
        description="Prefill once the video prefix a video's questions share and continue each question from "
        "its key/value cache (the same answers, far less prefill); false prefills every question in full.",
    )
    resume: bool = Field(
        default=False,
        description="Skip every (video, question, config) already in answers or failures (failures are "
        "run again with retry_failed).",
    )
    retry_failed: bool = Field(
        default=False,
        description="With resume: run again the items that have a failures row (and no answers row) for "
        "this config, e.g. after a storage outage that outlived the retries; their old failures rows are "
        "replaced by the new outcome.",
    )
    cache_dir: str | None = Field(
        default=None, description="Visual-feature cache of the Session on each model actor (node-local)."
    )
    storage_options: dict[str, Any] | None = Field(
        default=None, description="fsspec options for the videos, questions and output (e.g. S3 endpoint)."
    )
    video_extensions: tuple[str, ...] = Field(
        default=DEFAULT_VIDEO_EXTENSIONS,
        description="File endings taken as videos when listing a folder, prefix or glob (case-insensitive); "
        "empty takes every file.",
    )
    local_num_cpus: int | None = Field(
        default=None, ge=1, description="CPUs of the local Ray started for the run (None: all)."
    )
    local_object_store_bytes: int | None = Field(
        default=None,
        ge=78_643_200,
        description="Object-store size of the local Ray (None: Ray's default, 30% of RAM). Decoded "
        "frames wait here between decode and model; backpressure keeps them within it.",
    )
    progress_interval_seconds: float = Field(
        default=10.0, gt=0, description="Seconds between progress lines."
    )

    @model_validator(mode="before")
    @classmethod
    def _deprecated_names(cls, data: Any) -> Any:
        """Older config files: ``batch_size`` and ``videos_per_call`` (now ``windows_per_call``: it
        counts first-pass windows) and ``sampling`` (row column names)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for old in ("batch_size", "videos_per_call"):
            if old in data:
                warnings.warn(f"JobConfig.{old} is now windows_per_call", DeprecationWarning, stacklevel=2)
                if "windows_per_call" in data:
                    raise ValueError(f"give windows_per_call only ({old} is its deprecated name)")
                data["windows_per_call"] = data.pop(old)
        if "sampling" in data:
            warnings.warn(
                "JobConfig.sampling (row column names) is now settings (videoqa.Settings field names)",
                DeprecationWarning,
                stacklevel=2,
            )
            if "settings" in data:
                raise ValueError("give settings only (sampling is its deprecated form)")
            names = {Settings.column(name): name for name in Settings.model_fields}
            data["settings"] = {names.get(k, k): v for k, v in dict(data.pop("sampling")).items()}
        if "settings" not in data and isinstance(data.get("model"), str):
            data["settings"] = starting_settings(data["model"])
        return data

    @field_validator("subtitles")
    @classmethod
    def _subtitles_choice(cls, value: str | None) -> str | None:
        from videoqa.text._load import check_subtitles

        return check_subtitles(value)

    @field_validator("video_extensions")
    @classmethod
    def _lower_extensions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in value)

    @model_validator(mode="after")
    def _retry_needs_resume(self) -> JobConfig:
        if self.retry_failed and not self.resume:
            raise ValueError(
                "retry_failed=True needs resume=True: a run without resume re-runs every item anyway. "
                "Add --resume (or drop --retry-failed)."
            )
        return self

    @property
    def config_hash(self) -> str:
        """Hash of the model (and its family) and the settings; written on every row."""
        return model_config_hash(self.model, self.settings)

    @classmethod
    def from_file(cls, path: str | Path) -> JobConfig:
        """Load a config from a JSON or YAML file (YAML needs PyYAML)."""
        text = Path(path).read_text(encoding="utf-8")
        if str(path).endswith((".yaml", ".yml")):
            import yaml  # PyYAML ships with ray

            return cls.model_validate(yaml.safe_load(text))
        return cls.model_validate_json(text)
