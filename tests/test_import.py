"""``import videoqa`` works on the base install and stays cheap.

Optional packages (the extras) are made unimportable in a fresh interpreter, then every
public name is resolved: none of them may need an extra at import time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

EXTRAS = ["decord", "s3fs", "gcsfs", "flash_attn", "accelerate", "qwen_vl_utils", "moto", "psutil"]
EXTRAS += ["grpc", "aiohttp_cors", "jsonschema"]  # videoqa[cluster] (ray[default]) and the dev extra


def _run(code: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_public_names_resolve_without_any_extra():
    out = _run(
        f"""
        import importlib.abc, json, sys

        class BlockExtras(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {EXTRAS!r}:
                    raise ImportError(f"{{name}} is blocked: not part of the base install")
                return None

        sys.meta_path.insert(0, BlockExtras())
        import videoqa
        missing = [name for name in videoqa.__all__ if getattr(videoqa, name, None) is None]
        print(json.dumps({{"missing": missing, "count": len(videoqa.__all__)}}))
        """
    )
    assert out["missing"] == []
    assert out["count"] == 19  # 18 public names + __version__


def test_media_layer_does_not_import_torch_transformers_or_ray():
    out = _run(
        """
        import json, logging, sys
        import videoqa
        videoqa.probe, videoqa.plan_sampling, videoqa.decode, videoqa.temporal_ids, videoqa.Analysis
        heavy = [m for m in ("torch", "transformers", "ray", "pandas", "pyarrow") if m in sys.modules]
        print(json.dumps({"heavy": heavy, "handlers": len(logging.getLogger().handlers)}))
        """
    )
    assert out == {"heavy": [], "handlers": 0}


def _module_level_imports(path) -> set[str]:
    """videoqa modules imported at module level (not inside functions) by the file ``path``."""
    import ast

    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("videoqa"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("videoqa")}
    return found


def test_layers_point_one_way_media_model_core_then_jobs():
    """media -> model -> core -> batch/eval/report: no module-level import goes back up a layer."""
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent / "videoqa"
    above = {
        "video": ("videoqa.model", "videoqa.core", "videoqa.analysis", "videoqa.records", "videoqa.batch",
                  "videoqa.eval", "videoqa.report"),
        "model": ("videoqa.core", "videoqa.analysis", "videoqa.records", "videoqa.batch", "videoqa.eval",
                  "videoqa.report"),
        "core": ("videoqa.records", "videoqa.batch", "videoqa.eval", "videoqa.report"),
    }  # fmt: skip
    wrong = [
        (path.relative_to(package).as_posix(), module)
        for layer, forbidden in above.items()
        for path in sorted((package / layer).glob("*.py"))
        for module in _module_level_imports(path)
        if module.startswith(forbidden)
    ]
    assert wrong == []
