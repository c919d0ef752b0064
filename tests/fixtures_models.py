"""Model fixtures (owned by the model layer's tests).

The tiny checkpoints are built once per test session with :func:`videoqa.model.build_tiny_model`
(random weights, a tokenizer trained on the spot, the real processors) into a temporary
directory, and then loaded by path through ``videoqa.load_model`` like any real checkpoint.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

OFFICIAL = Path(__file__).parent / "data" / "official"
OFFICIAL_CHECKPOINTS = ("Qwen2.5-VL-3B-Instruct", "Qwen2.5-VL-7B-Instruct", "Qwen2-VL-7B-Instruct")
# Files a model's folder lacks come from the folder named here: the Qwen2.5-VL-3B chat template,
# processor and tokenizer configs were not found in any copy; its repository lists them at the
# 7B's sizes (see tests/data/official/README.md).
OFFICIAL_FALLBACK = {"Qwen2.5-VL-3B-Instruct": "Qwen2.5-VL-7B-Instruct"}


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny-models")


@pytest.fixture(scope="session")
def tiny_qwen25_path(tiny_models_dir: Path) -> Path:
    """Directory of a saved tiny random-weight Qwen2.5-VL checkpoint."""
    from videoqa.model import build_tiny_model

    return build_tiny_model(tiny_models_dir / "tiny-qwen2.5-vl", kind="qwen2.5-vl")


@pytest.fixture(scope="session")
def tiny_qwen2_path(tiny_models_dir: Path) -> Path:
    """Directory of a saved tiny random-weight Qwen2-VL checkpoint."""
    from videoqa.model import build_tiny_model

    return build_tiny_model(tiny_models_dir / "tiny-qwen2-vl", kind="qwen2-vl")


@pytest.fixture(scope="session")
def tiny_qwen3_path(tiny_models_dir: Path) -> Path:
    """Directory of a saved tiny random-weight Qwen3-VL checkpoint."""
    from videoqa.model import build_tiny_model

    return build_tiny_model(tiny_models_dir / "tiny-qwen3-vl", kind="qwen3-vl")


@pytest.fixture(scope="session")
def tiny_qwen3(tiny_qwen3_path: Path):
    """The tiny Qwen3-VL loaded by path through ``videoqa.load_model`` (CPU, fp32, sdpa)."""
    from videoqa.model import load_model

    return load_model(str(tiny_qwen3_path), device="cpu")


@pytest.fixture(scope="session")
def tiny_qwen25(tiny_qwen25_path: Path):
    """The tiny Qwen2.5-VL loaded by path through ``videoqa.load_model`` (CPU, fp32, sdpa)."""
    from videoqa.model import load_model

    return load_model(str(tiny_qwen25_path), device="cpu")


@pytest.fixture(scope="session")
def tiny_qwen2(tiny_qwen2_path: Path):
    """The tiny Qwen2-VL loaded by path through ``videoqa.load_model`` (CPU, fp32, sdpa)."""
    from videoqa.model import load_model

    return load_model(str(tiny_qwen2_path), device="cpu")


@pytest.fixture(scope="module", params=OFFICIAL_CHECKPOINTS)
def official(request, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """(model name, a directory of its official files, the checkpoint shrunk from them).

    Built with ``build_tiny_model(official=...)``: only the sizes change (see ``_tiny``).
    """
    from videoqa.model import OFFICIAL_FILES, build_tiny_model

    name = request.param
    source = tmp_path_factory.mktemp(f"official-{name}")
    for file in OFFICIAL_FILES:
        own = OFFICIAL / name / file
        shutil.copyfile(own if own.is_file() else OFFICIAL / OFFICIAL_FALLBACK[name] / file, source / file)
    return name, source, build_tiny_model(tmp_path_factory.mktemp("built") / name, official=source)
