"""Starting and stopping the servers the tests need as child processes."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{process.args!r} did not listen on {port} within {timeout} s")


class ServerProcess:
    def __init__(self, args: Sequence[str], port: int, log: Path) -> None:
        self.port = port
        self.log = log
        self._handle = log.open("wb")
        self.process = subprocess.Popen(list(args), stdout=self._handle, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, self.process)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"{args[0]} failed to start; log:\n{log.read_text()}") from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._handle.close()
