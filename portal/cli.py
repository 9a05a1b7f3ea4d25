"""The `devex` command: `devex serve` runs the portal."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from hypercorn.asyncio import serve
from hypercorn.config import Config

from portal.catalog import CatalogError, load_catalog
from portal.settings import Settings, SettingsError, load_settings


def _serve(settings: Settings) -> None:
    from portal.app import create_app

    config = Config()
    config.bind = [f"{settings.host}:{settings.port}"]
    config.accesslog = None
    config.graceful_timeout = 10
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    print(f"Devex portal on http://{settings.host}:{settings.port}", file=sys.stderr, flush=True)
    asyncio.run(serve(create_app(settings), config))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devex", description="Devex cloud IDE backend")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the portal (settings from the environment)")
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
        load_catalog(settings.templates_dir)
    except (SettingsError, CatalogError) as exc:
        print(f"devex: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        _serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
