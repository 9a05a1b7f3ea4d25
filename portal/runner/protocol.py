"""The original Devex runner protocol: every message, both ways, is one JSON text frame
`{"event": NAME, "data": PAYLOAD}`. A failed request answers its `...Response` event with
`{"error": ...}`; a message that cannot be understood answers `error` with `{"message": ...}`;
the connection stays open either way."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from diff_match_patch import diff_match_patch

from portal.runner.files import PathError, Workspace
from portal.runner.terminals import Terminal, open_terminal

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 6 << 20
Send = Callable[[str, Any], None]  # queues one outgoing message, in order


class ProtocolError(Exception):
    """The message cannot be understood."""


def _field(data: Any, name: str, kind: type = str) -> Any:
    if not isinstance(data, dict) or name not in data:
        raise PathError(f"{name} is required")
    value = data[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise PathError(f"{name} must be a {kind.__name__}")
    return value


class Connection:
    """One client's conversation with the runner."""

    def __init__(self, workspace: Workspace, shell: str, send: Send,
                 on_activity: Callable[[], None]) -> None:
        self.workspace = workspace
        self.shell = shell
        self.send = send
        self.on_activity = on_activity
        self.terminals: dict[str, Terminal] = {}
        self.clipboard: str | None = None
        self._patcher = diff_match_patch()
        self._closing: set[asyncio.Task[None]] = set()

    async def receive(self, raw: str | bytes) -> None:
        try:
            event, data = self._parse(raw)
        except ProtocolError as exc:
            self.send("error", {"message": str(exc)})
            return
        handler = _HANDLERS.get(event)
        if handler is None:
            self.send("error", {"message": f"unknown event {event!r}"})
            return
        self.on_activity()
        answer_event = _ANSWERS.get(event, f"{event}Response")
        try:
            answer = await handler(self, data)
        except PathError as exc:
            self.send(answer_event, {"error": str(exc)})
            return
        except OSError as exc:
            self.send(answer_event, {"error": exc.strerror or str(exc)})
            return
        if answer is not None:
            self.send(answer_event, answer)

    @staticmethod
    def _parse(raw: str | bytes) -> tuple[str, Any]:
        if len(raw) > MAX_MESSAGE_BYTES:
            raise ProtocolError(f"message larger than {MAX_MESSAGE_BYTES} bytes")
        try:
            message = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ProtocolError("message is not JSON") from None
        if not isinstance(message, dict) or not isinstance(message.get("event"), str):
            raise ProtocolError('message must be {"event": NAME, "data": PAYLOAD}')
        return message["event"], message.get("data")

    async def close(self) -> None:
        for terminal in list(self.terminals.values()):
            await terminal.close()
        self.terminals.clear()

    # Files

    async def connection(self, data: Any) -> Any:
        return {"rootContents": await asyncio.to_thread(self.workspace.listing, "/")}

    async def fetch_dir(self, data: Any) -> Any:
        path = _field(data, "Dir")
        contents = await asyncio.to_thread(self.workspace.listing, path)
        return {"contents": contents, "path": path}

    async def fetch_content(self, data: Any) -> Any:
        path = _field(data, "path")
        return {"content": await asyncio.to_thread(self.workspace.read, path), "path": path}

    async def update_content(self, data: Any) -> Any:
        path = _field(data, "path")
        if isinstance(data, dict) and isinstance(data.get("content"), str):
            content = data["content"]
        else:
            patch_text = _field(data, "patch")
            current = await asyncio.to_thread(self._current_text, path)
            try:
                patches = self._patcher.patch_fromText(patch_text)
            except ValueError as exc:
                raise PathError(f"patch is not a diff-match-patch patch: {exc}") from None
            content, applied = self._patcher.patch_apply(patches, current)
            if not all(applied):
                raise PathError("patch does not apply to the current file; fetch it again")
        await asyncio.to_thread(self.workspace.write, path, content)
        return {"success": True}

    def _current_text(self, path: str) -> str:
        target = self.workspace.resolve(path)
        return self.workspace.read(path) if target.exists() else ""

    async def create_file(self, data: Any) -> Any:
        path = _field(data, "path")
        await asyncio.to_thread(self.workspace.create_file, path)
        return {"success": True, "path": path}

    async def create_folder(self, data: Any) -> Any:
        path = _field(data, "path")
        await asyncio.to_thread(self.workspace.create_folder, path)
        return {"success": True, "path": path}

    async def delete(self, data: Any) -> Any:
        path = _field(data, "path")
        await asyncio.to_thread(self.workspace.delete, path)
        return {"success": True, "path": path}

    async def rename(self, data: Any) -> Any:
        old, new = _field(data, "oldPath"), _field(data, "newPath")
        await asyncio.to_thread(self.workspace.move, old, new)
        return {"success": True, "oldPath": old, "newPath": new}

    async def copy(self, data: Any) -> Any:
        source, target = _field(data, "sourcePath"), _field(data, "targetPath")
        await asyncio.to_thread(self.workspace.copy, source, target)
        return {"success": True, "sourcePath": source, "targetPath": target}

    async def cut(self, data: Any) -> Any:
        source = _field(data, "sourcePath")
        if not self.workspace.resolve(source).exists():
            raise PathError(f"{source!r} does not exist")
        self.clipboard = source
        return {"success": True, "sourcePath": source}

    async def paste(self, data: Any) -> Any:
        target = _field(data, "targetPath")
        if self.clipboard is None:
            raise PathError("nothing was cut")
        source, self.clipboard = self.clipboard, None
        await asyncio.to_thread(self.workspace.move, source, target)
        return {"success": True, "sourcePath": source, "targetPath": target}

    # Terminals

    async def request_terminal(self, data: Any) -> Any:
        loop = asyncio.get_running_loop()

        def output(terminal: Terminal, text: str) -> None:
            self.send("terminalResponse", text)

        def exited(terminal: Terminal) -> None:
            if self.terminals.pop(terminal.session_id, None) is not None:
                task = loop.create_task(self._closed(terminal))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

        try:
            terminal = await open_terminal(self.shell, self.workspace.root, output, exited)
        except OSError as exc:
            self.send("terminalError", {"error": f"could not start {self.shell}: {exc}"})
            return None
        self.terminals[terminal.session_id] = terminal
        return {"sessionId": terminal.session_id}

    async def _closed(self, terminal: Terminal) -> None:
        await terminal.close()
        self.send("terminalClosed", {"sessionId": terminal.session_id})

    def _terminal(self, data: Any) -> Terminal:
        session_id = _field(data, "sessionId")
        terminal = self.terminals.get(session_id)
        if terminal is None:
            raise PathError(f"no terminal {session_id!r}")
        return terminal

    async def terminal_input(self, data: Any) -> Any:
        self._terminal(data).write(_field(data, "data"))
        return None

    async def terminal_resize(self, data: Any) -> Any:
        cols, rows = _field(data, "cols", int), _field(data, "rows", int)
        if not (1 <= cols <= 1000 and 1 <= rows <= 1000):
            raise PathError("cols and rows must be between 1 and 1000")
        self._terminal(data).resize(cols, rows)
        return None

    async def close_terminal(self, data: Any) -> Any:
        terminal = self._terminal(data)
        del self.terminals[terminal.session_id]
        await terminal.close()
        return {"sessionId": terminal.session_id}


_HANDLERS: dict[str, Callable[[Connection, Any], Awaitable[Any]]] = {
    "Connection": Connection.connection,
    "fetchDir": Connection.fetch_dir,
    "fetchContent": Connection.fetch_content,
    "updateContent": Connection.update_content,
    "createFile": Connection.create_file,
    "createFolder": Connection.create_folder,
    "delete": Connection.delete,
    "rename": Connection.rename,
    "copy": Connection.copy,
    "cut": Connection.cut,
    "paste": Connection.paste,
    "requestTerminal": Connection.request_terminal,
    "terminalInput": Connection.terminal_input,
    "terminalResize": Connection.terminal_resize,
    "closeTerminal": Connection.close_terminal,
}
_ANSWERS = {
    "Connection": "Loaded",
    "requestTerminal": "terminalConnected",
    "terminalInput": "terminalError",
    "terminalResize": "terminalError",
    "closeTerminal": "terminalClosed",
}
