"""The stages of a ``videoqa run`` job, declared once (as Ray Data LLM declares its stages).

Each :class:`Stage` names its callable, the columns it reads and the columns it fills (every column
is a :class:`Column` with its Arrow type and description), how its rows come out and the Ray
resources it takes. ``_job`` iterates :data:`STAGES` to build the dataset, the stages check their
input against their own ``needs``, ``tests/test_batch_stages.py`` checks that every column a stage
needs is filled by the driver or an earlier stage, and the column diagram ``docs/stages.md`` is
generated from here (``python -m videoqa.batch._stages_doc --write docs/stages.md``).

Nothing here imports a stage: a stage's callable is named ``"module:attribute"`` and imported when
the job builds its dataset, so the stage modules can read their declaration without a cycle.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from videoqa.batch._config import JobConfig

__all__ = [
    "INPUT_COLUMNS",
    "STAGES",
    "SUMMARY_FIELDS",
    "UNIT_FIELDS",
    "Column",
    "Resources",
    "Stage",
    "gpu_actor_env",
    "stage",
    "wiring_problems",
]


@dataclass(frozen=True)
class Column:
    """One column of the rows between stages."""

    name: str
    arrow_type: str
    """``pyarrow`` type factory name (``"string"``, ``"large_binary"``, ...)."""
    empty: Any
    """Its value before the stage that fills it (blocks always share one schema)."""
    description: str


UNIT_FIELDS: tuple[Column, ...] = (
    Column("unit_key", "string", "", "Hash of the unit's pending item keys (the driver's id for the unit)."),
    Column("video", "string", "", "The video's URL or path."),
    Column("video_id", "string", "", "The video's id: its path relative to the bucket root."),
    Column("questions_json", "string", "[]", "The unit's pending questions (videoqa.Question, JSON)."),
    Column("duration_seconds", "float64", 0.0, "The probed duration of the video."),
    Column("info_pickle", "binary", b"", "The video's VideoInfo (probe), pickled."),
    Column("plan_pickle", "binary", b"", "The first-pass SamplingPlan, pickled."),
    Column("transcript_pickle", "binary", b"", "Its timed text (videoqa.text.Transcript); b'': none."),
    Column("clips_pickle", "large_binary", b"", "One window's Clip, pickled without its frames..."),
    Column("clip_frames", "large_binary", b"", "... whose bytes are here, out of band (never copied)."),
    Column("window_position", "int64", -1, "Position of the row's window; -1: a row of the whole unit."),
    Column("window_count", "int64", 0, "First-pass windows of the unit."),
    Column("failure_json", "string", "", "The Failure that stopped the unit (JSON); '': none."),
    Column("tables_json", "large_string", "", "The unit's rows of the four tables (TableRows, JSON)."),
    Column("model_calls", "int64", 0, "(video, question) items the model actor analysed."),
    Column("decode_seconds", "float64", 0.0, "Wall time of the unit's decode tasks."),
    Column("model_seconds", "float64", 0.0, "Wall time of the unit's model-actor calls."),
    Column("superseded_json", "string", "{}", "Failures files with rows of its questions (--retry-failed)."),
)  # fmt: skip
"""The columns of a unit between stages, in schema order."""

SUMMARY_FIELDS: tuple[Column, ...] = (
    Column("unit_key", "string", "", "As on the unit."),
    Column("video", "string", "", "As on the unit."),
    Column("duration_seconds", "float64", 0.0, "As on the unit."),
    Column("answers", "int64", 0, "answers rows written."),
    Column("no_event", "int64", 0, "Of those, answers saying the event does not occur."),
    Column("prompt_tokens", "int64", 0, "Prompt tokens the answers asked the model to prefill."),
    Column("reused_prompt_tokens", "int64", 0, "Of those, tokens served from a shared prefix."),
    Column("failures", "int64", 0, "failures rows written."),
    Column("spans", "int64", 0, "spans rows written."),
    Column("model_calls", "int64", 0, "As on the unit."),
    Column("decode_seconds", "float64", 0.0, "As on the unit."),
    Column("model_seconds", "float64", 0.0, "As on the unit."),
    Column("failed_stage", "string", "", "Stage of the unit's failure; '': none."),
    Column("error_type", "string", "", "error_type of the unit's failure; '': none."),
    Column("failure_types_json", "string", "{}", "failures rows per error_type (JSON)."),
)
"""The row ``write_outputs`` returns per unit, after writing its Parquet files (read by ``Progress``)."""

INPUT_COLUMNS = ("unit_key", "video", "video_id", "questions_json", "failure_json", "superseded_json")
"""The columns the driver fills (``make_unit``; ``failure_json`` as "": no failure); the rest start empty."""


@dataclass(frozen=True)
class Resources:
    """What one task or actor of a stage reserves from Ray; a ``str`` names the :class:`JobConfig` field.

    ``num_cpus`` per task or actor; ``memory``: bytes of Ray's memory resource per task (which also
    caps concurrent tasks per node); ``concurrency``: tasks at once (a task stage) or actors (an
    actor stage), None as Ray schedules; ``gpus``: takes the replica's GPUs (``gpus_per_replica``,
    or 1 when the cluster has GPUs); ``tasks_in_flight_per_actor`` of an actor stage.
    """

    num_cpus: float | str
    memory: str | None = None
    concurrency: str | None = None
    gpus: bool = False
    tasks_in_flight_per_actor: int | None = None


@dataclass(frozen=True)
class Stage:
    """One stage of the job.

    - ``fn``: ``"module:attribute"``, a function (a task stage) or a class (``actor``: one per replica);
      :attr:`name` is the attribute (Ray Data names the operator after it);
    - ``needs``: the columns it reads (its input is checked against them); ``produces``: the columns
      it fills (``failure_json`` when the unit fails in it); ``new_row``: its output rows hold only
      ``produces`` (the unit's columns end there); ``rows``: what comes out, per row in;
    - ``batch_size``: None for ``Dataset.map`` (a dict per row), else ``map_batches`` over ``pyarrow``
      tables of that many rows; ``takes``: the keyword arguments the job hands it (``config_json``,
      ``tracker``, ``board``).
    """

    fn: str
    description: str
    needs: tuple[str, ...]
    produces: tuple[str, ...]
    rows: str
    resources: Resources
    batch_size: int | str | None = None
    takes: tuple[str, ...] = ("config_json", "tracker")
    actor: bool = False
    new_row: bool = False

    @property
    def name(self) -> str:
        return self.fn.rpartition(":")[2]

    def load(self) -> Any:
        """The callable (imported now)."""
        module, attribute = self.fn.split(":")
        return getattr(importlib.import_module(module), attribute)

    def apply(self, ds: Any, *, config: JobConfig, handles: Mapping[str, Any], gpus: float) -> Any:
        """``ds`` with this stage appended, with the resources :attr:`resources` declares."""
        from ray.data import ActorPoolStrategy, TaskPoolStrategy

        res = self.resources
        kwargs: dict[str, Any] = {"num_cpus": _value(config, res.num_cpus)}
        if res.memory:
            kwargs["memory"] = getattr(config, res.memory)
        if res.gpus and gpus > 0:  # never pass num_gpus=0: Ray Data treats it as a GPU request (ray#45201)
            kwargs["num_gpus"] = gpus
            kwargs["runtime_env"] = {"env_vars": gpu_actor_env(_environ())}
        size = getattr(config, res.concurrency) if res.concurrency else None
        if self.actor:
            kwargs["compute"] = ActorPoolStrategy(
                size=size, max_tasks_in_flight_per_actor=res.tasks_in_flight_per_actor
            )
            kwargs["fn_constructor_kwargs"] = {k: handles[k] for k in self.takes}
        else:
            if size is not None:
                kwargs["compute"] = TaskPoolStrategy(size=size)
            kwargs["fn_kwargs"] = {k: handles[k] for k in self.takes}
        if self.batch_size is None:
            return ds.map(self.load(), **kwargs)
        batch_size = _value(config, self.batch_size)
        return ds.map_batches(self.load(), batch_size=batch_size, batch_format="pyarrow", **kwargs)


def _value(config: JobConfig, value: float | str) -> Any:
    return getattr(config, value) if isinstance(value, str) else value


def _environ() -> Mapping[str, str]:
    import os

    return os.environ


def gpu_actor_env(driver_env: Mapping[str, str]) -> dict[str, str]:
    """Environment of GPU model actors: expandable allocator segments against fragmentation
    (variable-length windows otherwise strand memory between calls), unless the driver sets its own."""
    return {"PYTORCH_CUDA_ALLOC_CONF": driver_env.get("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")}


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


STAGES: tuple[Stage, ...] = (
    Stage(
        fn="videoqa.batch._stages:probe_and_plan",
        description="Probe the video, plan its first pass, read its timed text "
        "(killed and retried if it hangs).",
        needs=_names("video video_id failure_json"),
        produces=_names("duration_seconds info_pickle plan_pickle transcript_pickle failure_json"),
        rows="one row per unit",
        resources=Resources(num_cpus=0.5),
    ),
    # Decoding stays out of the model actor (a hung decoder must not take the replica down): Ray Data
    # fuses a task stage into the next actor stage when their resources match, and the decode tasks'
    # memory reservation (which also caps concurrent decoders by a node's RAM) makes them differ.
    Stage(
        fn="videoqa.batch._stages:decode_clips",
        description="Decode the first-pass windows, resized, and yield each as its own one-row block "
        "(a task holds one window at a time; a hung window is killed and retried).",
        needs=_names("video plan_pickle failure_json"),
        produces=_names("clips_pickle clip_frames window_position window_count decode_seconds failure_json"),
        rows="one row per first-pass window (one row for a failed unit)",
        resources=Resources(num_cpus=1, memory="decode_memory_bytes", concurrency="decode_workers"),
        batch_size=1,
    ),
    Stage(
        fn="videoqa.batch._model:ModelStage",
        description="Encode each window and ask every question's first-pass request on it; the call that "
        "brings a unit's last window runs the fine pass and the answers (the job's window board holds "
        "the windows in between).",
        needs=_names(
            "unit_key video video_id questions_json info_pickle transcript_pickle clips_pickle clip_frames "
            "window_position window_count failure_json decode_seconds"
        ),
        produces=_names("tables_json model_calls decode_seconds model_seconds failure_json"),
        rows="one row per unit again, from its last window (none for the others)",
        resources=Resources(
            num_cpus="cpus_per_replica", concurrency="replicas", gpus=True, tasks_in_flight_per_actor=2
        ),
        batch_size="windows_per_call",
        takes=("config_json", "tracker", "board"),
        actor=True,
    ),
    Stage(
        fn="videoqa.batch._stages:write_outputs",
        description="Write the unit's rows to Parquet (a failed unit: one failures row per question), "
        "retrying transient I/O errors, and return its summary row.",
        needs=_names(
            "unit_key video video_id questions_json duration_seconds failure_json tables_json model_calls "
            "decode_seconds model_seconds superseded_json"
        ),
        produces=tuple(c.name for c in SUMMARY_FIELDS),
        rows="one summary row per unit (the unit's columns are dropped)",
        resources=Resources(num_cpus=0.25),
        takes=("config_json",),
        new_row=True,
    ),
)
"""The job's stages, in order: the driver's units flow through them."""


def stage(name: str) -> Stage:
    """The declared stage called ``name``."""
    for s in STAGES:
        if s.name == name:
            return s
    raise KeyError(f"no batch stage {name!r}; declared: {[s.name for s in STAGES]}")


def wiring_problems(stages: tuple[Stage, ...] = STAGES, inputs: tuple[str, ...] = INPUT_COLUMNS) -> list[str]:
    """What is miswired: a column a stage needs that neither the driver nor an earlier stage fills,
    or a column no declaration describes. Empty when the stages fit together."""
    described = {c.name for c in UNIT_FIELDS} | {c.name for c in SUMMARY_FIELDS}
    filled, problems = set(inputs), []
    for s in stages:
        for name in (*s.needs, *s.produces):
            if name not in described:
                problems.append(f"{s.name}: column {name!r} is in neither UNIT_FIELDS nor SUMMARY_FIELDS")
        missing = [c for c in s.needs if c not in filled]
        if missing:
            problems.append(f"{s.name} needs {missing}, which neither the driver nor an earlier stage fills")
        filled = set(s.produces) if s.new_row else filled | set(s.produces)
    return problems
