"""The `devex` command.

  devex serve                        run the portal (settings from the environment)
  devex runner                       serve one workspace (DEVEX_REPL_ID, DEVEX_RUNNER_SECRET, ...)
  devex sync pull|push PREFIX DIR    copy between a storage prefix and a directory
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from hypercorn.asyncio import serve

from portal.catalog import CatalogError, load_catalog
from portal.logs import configure as configure_logging
from portal.settings import (
    RunnerSettings,
    Settings,
    SettingsError,
    load_runner_settings,
    load_settings,
)
from portal.storage import StorageError
from portal.webserver import hypercorn_config


def _configure_logging(level: str, secrets: list[str | None] | None = None) -> None:
    configure_logging(level, secrets or [])


def _serve(settings: Settings) -> None:
    from portal.app import create_app

    _configure_logging(settings.log_level, [
        settings.session_secret, settings.s3_access_key, settings.s3_secret_key,
        settings.github_client_secret,
    ])
    print(f"Devex portal on http://{settings.host}:{settings.port}", file=sys.stderr, flush=True)
    config = hypercorn_config(settings.host, settings.port, websocket_compression=False)
    asyncio.run(serve(create_app(settings), config))


def _runner(settings: RunnerSettings) -> None:
    from portal.runner.server import create_runner_app

    _configure_logging("INFO", [settings.secret])
    # Terminal output crosses the internet to the browser: compression pays there.
    config = hypercorn_config(settings.host, settings.port, websocket_compression=True)
    asyncio.run(serve(create_runner_app(settings), config))


async def _sync(settings: Settings, direction: str, prefix: str, directory: Path) -> str:
    from portal.services import build_storage
    from portal.sync import pull, push

    storage = build_storage(settings)
    try:
        if direction == "pull":
            result = await pull(storage, prefix, directory)
        else:
            result = await push(storage, directory, prefix)
    finally:
        await storage.close()
    return (f"{direction}: {result.written} written, {result.deleted} deleted, "
            f"{result.bytes} bytes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devex", description="Devex cloud IDE backend")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the portal (settings from the environment)")
    commands.add_parser("runner", help="serve one workspace")
    sync = commands.add_parser("sync", help="copy between storage and a directory")
    sync.add_argument("direction", choices=["pull", "push"])
    sync.add_argument("prefix", help="storage prefix, e.g. alice/0123456789abcdef/")
    sync.add_argument("directory", type=Path)
    args = parser.parse_args(argv)

    try:
        if args.command == "runner":
            _runner(load_runner_settings())
            return 0
        settings = load_settings()
        if args.command == "sync":
            print(asyncio.run(_sync(settings, args.direction, args.prefix, args.directory)))
            return 0
        load_catalog(settings.templates_dir)
    except (SettingsError, CatalogError) as exc:
        print(f"devex: {exc}", file=sys.stderr)
        return 2
    except (StorageError, OSError) as exc:
        print(f"devex: {args.command} failed: {exc}", file=sys.stderr)
        return 1
    _serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
