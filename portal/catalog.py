"""The REPL templates: one folder per template in `repl_templates/`, holding a
`template.toml` with its metadata and a `files/` folder with its starter files."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from portal.models import Template

_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_REQUIRED = ("name", "description", "language", "image", "port", "run", "shell")


class CatalogError(Exception):
    """A template folder is malformed; the message names the file and the problem."""


def load_catalog(root: Path) -> dict[str, Template]:
    if not root.is_dir():
        raise CatalogError(f"DEVEX_TEMPLATES_DIR: {root} is not a directory")
    catalog: dict[str, Template] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        meta_path = folder / "template.toml"
        if not meta_path.is_file():
            continue
        if not _KEY.match(folder.name):
            raise CatalogError(f"{folder}: a template folder name must match {_KEY.pattern}")
        try:
            meta = tomllib.loads(meta_path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise CatalogError(f"{meta_path}: {exc}") from exc
        missing = [field for field in _REQUIRED if field not in meta]
        if missing:
            raise CatalogError(f"{meta_path}: missing {', '.join(missing)}")
        if not (folder / "files").is_dir():
            raise CatalogError(f"{folder}: no files/ folder with the starter files")
        catalog[folder.name] = Template(
            key=folder.name,
            name=str(meta["name"]),
            description=str(meta["description"]),
            language=str(meta["language"]),
            image=str(meta["image"]),
            port=int(meta["port"]),
            run=str(meta["run"]),
            shell=str(meta["shell"]),
            file_count=sum(1 for path in (folder / "files").rglob("*") if path.is_file()),
        )
    if not catalog:
        raise CatalogError(f"DEVEX_TEMPLATES_DIR: no templates in {root}")
    return catalog


def files_dir(root: Path, key: str) -> Path:
    return root / key / "files"
