"""How the ``builtin:`` checkpoints load: the loaders :mod:`videoqa.model.families` names by path.

Each is called as ``loader(name, family, **options)`` with the load options its declaration lists.
They live apart from the families module (which imports nothing that loads a model) and from the
recipes, so imports point one way: families <- _qwen <- _loaders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from videoqa.errors import ModelError
from videoqa.model._grounder import grounder_dir
from videoqa.model._qwen import load_qwen
from videoqa.model._tiny import TINY_BUILD_VERSION, build_tiny_model, default_models_dir

__all__ = ["load_grounder", "load_tiny"]


def load_tiny(name: str, family: Any, *, cache_dir: Any = None, revision: Any = None, **options: Any) -> Any:
    """``builtin:tiny-<kind>`` (:func:`videoqa.model.families.tiny`): built on first use, loaded by path.

    The checkpoint is built into ``<cache_dir>/<name>-v<TINY_BUILD_VERSION>`` (default
    :func:`videoqa.model.default_models_dir`) by the recipe ``kind`` of ``videoqa.model._tiny``
    (``revision`` names hub commits: a built checkpoint has none).
    """
    kind = name.removeprefix("builtin:tiny-")
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_models_dir()
    source = build_tiny_model(root / f"{name.removeprefix('builtin:')}-v{TINY_BUILD_VERSION}", kind=kind)
    return load_qwen(name, str(source), **options)


def load_grounder(
    name: str, family: Any, *, cache_dir: Any = None, revision: Any = None, **options: Any
) -> Any:
    """``builtin:tiny-grounder``: the checkpoint shipped in the package, by path (no hub options)."""
    if not (grounder_dir() / "model.safetensors").is_file():
        raise ModelError(
            f"{name}: its checkpoint is missing from {grounder_dir()}; reinstall videoqa, or "
            "rebuild it with training/train_tiny_grounder.py (see its docstring)."
        )
    return load_qwen(name, str(grounder_dir()), **options)
