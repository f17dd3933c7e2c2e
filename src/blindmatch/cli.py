"""The ``blindmatch`` command line: thin; it parses arguments and calls the packages."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="blindmatch: hashing, lists, matching.")
keys_app = typer.Typer(no_args_is_help=True, help="API keys for the HTTP service.")
app.add_typer(keys_app, name="keys")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    demo: Annotated[bool, typer.Option(help="Seed a demo list of benign stand-in images if absent.")] = False,
) -> None:
    """Run the HTTP service (matching API and HMA-compatible routes)."""
    import uvicorn

    from blindmatch.service.app import create_app
    from blindmatch.service.config import Settings

    settings = Settings.from_env(demo=demo)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@keys_app.command("create")
def keys_create(label: Annotated[str, typer.Argument(help="A name for the key, e.g. the client's.")]) -> None:
    """Create an API key; prints it once (only its SHA-256 is stored)."""
    from blindmatch.service.auth import create_api_key
    from blindmatch.service.config import Settings

    settings = Settings.from_env()
    typer.echo(create_api_key(settings.api_key_file, label))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()

