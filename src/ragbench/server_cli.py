"""Service commands of the ``ragbench`` CLI: ``serve``, ``serve-system``, ``keys``.

Kept apart from :mod:`ragbench.cli` so the evaluation commands import nothing of
the server stack.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

keys_app = typer.Typer(help="API keys for the ragbench service (roles viewer/editor/admin).",
                       no_args_is_help=True)


def serve(
    host: Annotated[Optional[str], typer.Option(help="Interface (default from settings: "
                                                     "127.0.0.1)")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (default 8000)")] = None,
) -> None:
    """Start the ragbench API (OpenAPI docs at /docs); migrates the database first."""
    import uvicorn

    from ragbench.config import get_settings
    from ragbench.main import create_app

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    try:
        settings.check_bind(host)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info",
                access_log=False)


class SystemKind(str, Enum):
    bm25 = "bm25"
    dense = "dense"
    hybrid = "hybrid"


def serve_system(
    kind: Annotated[SystemKind, typer.Argument(help="Which reference system")],
    dataset: Annotated[Path, typer.Option(help="BEIR folder (corpus.jsonl) to index")],
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8100,
    host: Annotated[str, typer.Option(help="Interface")] = "127.0.0.1",
    model: Annotated[Optional[str], typer.Option(
        help="sentence-transformers model path (dense/hybrid; default: the packaged "
             "all-MiniLM-L6-v2)")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option(
        help="Embedding cache folder (default: <dataset>/.ragbench-cache)")] = None,
) -> None:
    """Serve a built-in reference system over the ragbench HTTP contract."""
    from ragbench.reference.server import run_reference_system

    try:
        run_reference_system(kind.value, dataset=dataset, host=host, port=port, model=model,
                             cache_dir=cache_dir)
    except (OSError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who or what the key is for")],
    role: Annotated[str, typer.Option(help="viewer | editor | admin")] = "viewer",
) -> None:
    """Create an API key; prints it once (only its hash is stored)."""
    from ragbench.auth import service
    from ragbench.config import get_settings
    from ragbench.database import get_database, migrate
    from ragbench.errors import AppError

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.sqlalchemy_url)
    try:
        with get_database(settings.sqlalchemy_url).session() as session:
            row, plaintext = service.create_key(session, name=name, role=role)
            typer.echo(f"created key {row.id} ({row.role}) for {row.name}:\n{plaintext}")
    except AppError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (prefixes only)."""
    from ragbench.auth import service
    from ragbench.config import get_settings
    from ragbench.database import get_database, migrate

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.sqlalchemy_url)
    with get_database(settings.sqlalchemy_url).session() as session:
        for row in service.list_keys(session):
            state = "revoked" if row.revoked_at else "active"
            typer.echo(f"{row.id}\t{row.prefix}…\t{row.role}\t{state}\t{row.name}")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[int, typer.Argument(help="Key id (see keys list)")]) -> None:
    """Revoke an API key."""
    from ragbench.auth import service
    from ragbench.config import get_settings
    from ragbench.database import get_database, migrate
    from ragbench.errors import AppError

    settings = get_settings()
    migrate(settings.sqlalchemy_url)
    try:
        with get_database(settings.sqlalchemy_url).session() as session:
            service.revoke_key(session, key_id=key_id)
    except AppError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"revoked key {key_id}")


def demo(
    folder: Annotated[Path, typer.Argument(help="Working folder (collection, service data, "
                                                "logs)")] = Path("demo-data"),
    port: Annotated[int, typer.Option(help="Port of the ragbench service")] = 8000,
    docs: Annotated[int, typer.Option(help="Documents in the synthetic collection")] = 1000,
    queries: Annotated[int, typer.Option(help="Queries in the synthetic collection")] = 50,
    stay_up: Annotated[bool, typer.Option(help="Keep the service up until Ctrl-C")] = True,
) -> None:
    """The whole service on one machine: reference systems, registration, evaluation,
    leaderboard with significance; stays up with /docs until Ctrl-C."""
    from ragbench.demo import DemoError, run_demo

    try:
        run_demo(folder, port=port, docs=docs, queries=queries, stay_up=stay_up)
    except DemoError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("interrupted; every process the demo started was stopped", err=True)
        raise typer.Exit(130) from None


def register(app: typer.Typer) -> None:
    """Add the service commands to the main CLI."""
    app.command("serve")(serve)
    app.command("demo")(demo)
    app.command("serve-system")(serve_system)
    app.add_typer(keys_app, name="keys")

    from ragbench.batch.cli import batch_app
    from ragbench.batch.worker_cli import worker

    app.add_typer(batch_app, name="batch")
    app.command("worker")(worker)
