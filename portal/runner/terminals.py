"""Real terminals: a shell on a pseudo-terminal, its output read without blocking the
event loop and handed to a callback as text."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import fcntl
import os
import pty
import secrets
import signal
import struct
import termios
from collections.abc import Callable
from pathlib import Path

_READ_SIZE = 65536


class Terminal:
    def __init__(self, session_id: str, process: asyncio.subprocess.Process, master: int) -> None:
        self.session_id = session_id
        self.process = process
        self.master = master
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def write(self, data: str) -> None:
        os.write(self.master, data.encode())

    def resize(self, cols: int, rows: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def read_available(self) -> str | None:
        """The output ready now, or None once the shell has gone."""
        try:
            data = os.read(self.master, _READ_SIZE)
        except BlockingIOError:
            return ""
        except OSError:  # EIO: the shell and everything it started have exited
            return None
        return self._decoder.decode(data) if data else None

    async def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.master)
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGHUP)
            try:
                await asyncio.wait_for(self.process.wait(), 2)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                await self.process.wait()
        with contextlib.suppress(OSError):
            os.close(self.master)


async def open_terminal(
    shell: str,
    cwd: Path,
    on_output: Callable[[Terminal, str], None],
    on_exit: Callable[[Terminal], None],
    cols: int = 80,
    rows: int = 24,
) -> Terminal:
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "HOME": str(cwd)}
    env.pop("DEVEX_RUNNER_SECRET", None)  # the shell's user has no business with it
    try:
        process = await asyncio.create_subprocess_exec(
            shell, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env,
            start_new_session=True,
        )
    except OSError:
        os.close(master)
        raise
    finally:
        os.close(slave)
    os.set_blocking(master, False)
    terminal = Terminal(secrets.token_hex(8), process, master)
    terminal.resize(cols, rows)

    def readable() -> None:
        text = terminal.read_available()
        if text is None:
            asyncio.get_running_loop().remove_reader(master)
            on_exit(terminal)
        elif text:
            on_output(terminal, text)

    asyncio.get_running_loop().add_reader(master, readable)
    return terminal
