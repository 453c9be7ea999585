"""`supportbot keys`: create, list and revoke API keys in the hashed keys file.

The plaintext of a new key is printed once; only its salted hash is stored.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bot.errors import SupportbotError
from bot.security.keystore import KeyStore
from bot.settings import Settings

app = typer.Typer(help="Admin and widget API keys (stored hashed in <data_dir>/keys.json).")
console = Console()
err_console = Console(stderr=True)


def _store() -> KeyStore:
    return KeyStore(Settings().keys_path)


def _fail(exc: SupportbotError) -> typer.Exit:
    err_console.print(f"[red]error[/red] ({exc.code}): {exc.message}")
    return typer.Exit(2)


@app.command("create-widget")
def create_widget(
    kb: Annotated[str, typer.Option("--kb", help="Knowledge base the widget answers from.")],
    origin: Annotated[
        list[str],
        typer.Option("--origin", help="Allowed web origin, e.g. https://www.acme.com (repeat)."),
    ],
    label: Annotated[str, typer.Option(help="A note for yourself.")] = "",
) -> None:
    """A public widget key for one KB, usable only from the given origins."""
    try:
        record, key = _store().create("widget", kb=kb, origins=tuple(origin), label=label)
    except SupportbotError as exc:
        raise _fail(exc) from exc
    console.print(f"widget key for [bold]{kb}[/bold] (id {record.id}), allowed from "
                  f"{', '.join(record.origins)}:")  # fmt: skip
    typer.echo(key)
    console.print(f'embed: <script src="https://YOUR-HOST/widget.js" data-kb="{kb}" '
                  f'data-key="{key}" async></script>', soft_wrap=True, markup=False)  # fmt: skip


@app.command("create-admin")
def create_admin(label: Annotated[str, typer.Option(help="A note for yourself.")] = "") -> None:
    """An admin key: full access to the API. Shown once; store it in a secret manager."""
    record, key = _store().create("admin", label=label)
    console.print(f"admin key (id {record.id}); it is shown only now:")
    typer.echo(key)


@app.command("list")
def list_keys() -> None:
    """Every key's id, kind, KB, origins and state (never the secret)."""
    table = Table("id", "kind", "kb", "origins", "label", "created", "revoked")
    for record in _store().records():
        table.add_row(
            record.id,
            record.kind,
            record.kb or "",
            ", ".join(record.origins),
            record.label,
            record.created_at,
            record.revoked_at or "",
        )
    console.print(table)


@app.command()
def revoke(key_id: Annotated[str, typer.Argument(help="The id shown by `keys list`.")]) -> None:
    """Revoke a key; running servers refuse it from their next request on."""
    try:
        record = _store().revoke(key_id)
    except SupportbotError as exc:
        raise _fail(exc) from exc
    console.print(f"revoked {record.kind} key {record.id} at {record.revoked_at}")
