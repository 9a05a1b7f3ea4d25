"""`devex sync pull` / `devex sync push`, as the Kubernetes init and ephemeral containers
run them: exit 0 on success, non-zero with a message on any error, safe to run again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import s3_env
from tests.support.processes import ServerProcess, free_port


def sync(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DEVEX_", "S3_"))}
    return subprocess.run([sys.executable, "-m", "portal", "sync", *args],
                          env={**base, **env}, capture_output=True, text=True, timeout=120,
                          check=False)


def test_push_then_pull_through_s3(
    moto_server: ServerProcess, s3_bucket: str, tmp_path: Path
) -> None:
    env = s3_env(s3_bucket, f"http://127.0.0.1:{moto_server.port}")
    work = tmp_path / "work"
    (work / "src").mkdir(parents=True)
    (work / "src" / "app.py").write_text("print(1)")
    pushed = sync(env, "push", "alice/0123456789abcdef/", str(work))
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.strip() == "push: 1 written, 0 deleted, 8 bytes"
    again = sync(env, "push", "alice/0123456789abcdef/", str(work))
    assert again.stdout.strip() == "push: 0 written, 0 deleted, 0 bytes"

    pulled = sync(env, "pull", "alice/0123456789abcdef/", str(tmp_path / "copy"))
    assert pulled.returncode == 0, pulled.stderr
    assert (tmp_path / "copy" / "src" / "app.py").read_text() == "print(1)"


def test_an_unreachable_store_exits_non_zero_with_the_reason(
    s3_bucket: str, tmp_path: Path
) -> None:
    env = s3_env(s3_bucket, f"http://127.0.0.1:{free_port()}")
    (tmp_path / "a.txt").write_text("a")
    result = sync(env, "push", "alice/0123456789abcdef/", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.startswith("devex: sync failed: listing 'alice/0123456789abcdef/'")


def test_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    result = sync({"DEVEX_DATA_DIR": str(tmp_path)}, "push", "a/0123456789abcdef/",
                  str(tmp_path / "nope"))
    assert result.returncode == 1
    assert "is not a directory" in result.stderr
