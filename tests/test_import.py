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
    assert out["count"] == 17  # 16 public names + __version__


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
