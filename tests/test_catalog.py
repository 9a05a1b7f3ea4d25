"""The REPL templates: each loads, lists, and is a small program that runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from portal.catalog import CatalogError, files_dir, load_catalog
from portal.settings import PROJECT_ROOT

TEMPLATES = PROJECT_ROOT / "repl_templates"


def test_python_and_node_are_offered() -> None:
    catalog = load_catalog(TEMPLATES)
    assert {"python", "node"} <= set(catalog)
    assert catalog["python"].file_count == 2


@pytest.mark.parametrize("key", ["python", "node"])
def test_each_starter_program_runs(key: str, tmp_path: Path) -> None:
    template = load_catalog(TEMPLATES)[key]
    shutil.copytree(files_dir(TEMPLATES, key), tmp_path / key)
    result = subprocess.run(template.run, shell=True, cwd=tmp_path / key,  # noqa: S602
                            capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "Hello, Devex!"


def test_a_template_missing_metadata_is_named(tmp_path: Path) -> None:
    (tmp_path / "broken" / "files").mkdir(parents=True)
    (tmp_path / "broken" / "template.toml").write_text('name = "Broken"\n')
    with pytest.raises(CatalogError, match=r"broken/template.toml: missing description"):
        load_catalog(tmp_path)


def test_an_empty_template_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no templates"):
        load_catalog(tmp_path)
