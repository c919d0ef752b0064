"""schemas/ is the published output contract: it must match videoqa.records exactly."""

from __future__ import annotations

import json
from pathlib import Path

from videoqa.records import TABLES, arrow_schema, drifted_schema_files, main, write_schema_files

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


def test_checked_in_schema_files_match_the_models():
    drifted = drifted_schema_files(SCHEMAS)
    assert drifted == [], (
        f"{drifted} drifted from videoqa/records.py; run: python -m videoqa.records --write schemas/"
    )


def test_every_table_has_both_files_and_the_readme_names_them():
    readme = (SCHEMAS / "README.md").read_text()
    for table in TABLES:
        assert (SCHEMAS / f"{table}.schema.json").is_file()
        assert (SCHEMAS / f"{table}.arrow.json").is_file()
        assert f"`{table}.schema.json`" in readme


def test_arrow_files_list_the_model_fields_in_order():
    for table, model in TABLES.items():
        described = json.loads((SCHEMAS / f"{table}.arrow.json").read_text())
        assert [f["name"] for f in described["fields"]] == list(model.model_fields)
        assert [f["type"] for f in described["fields"]] == [str(f.type) for f in arrow_schema(table)]


def test_check_detects_drift(tmp_path, capsys):
    write_schema_files(tmp_path)
    assert main(["--check", str(tmp_path)]) == 0
    path = tmp_path / "spans.arrow.json"
    path.write_text(path.read_text().replace('"label"', '"caption"'))
    (tmp_path / "failures.schema.json").unlink()
    assert main(["--check", str(tmp_path)]) == 1
    assert drifted_schema_files(tmp_path) == ["spans.arrow.json", "failures.schema.json"]
    assert "python -m videoqa.records --write" in capsys.readouterr().err
