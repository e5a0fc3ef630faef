"""``riskatlas users``: the accounts of the web app (add, list, role, password, disable,
enable, token, revoke).

Passwords are hashed with scrypt and API tokens stored as their SHA-256 only
(:mod:`riskatlas.services.accounts`); every change is written to the audit log, in the
change's own transaction.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

import riskatlas
from riskatlas.cli.common import DB_OPTION, FMT_OPTION, console, h, print_frame, t

ROLE_HELP = h("users.roles")  # "viewer, collector, validator or admin"
BY = "cli"  # who the audit log names for a change made here


def _password(from_stdin: bool, none: bool) -> str | None:
    """The password from stdin's first line, none (tokens only), or asked twice."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if none:
        return None
    return str(typer.prompt(t("auth.cli.password_prompt"), hide_input=True,
                            confirmation_prompt=True))


PASSWORD_STDIN = typer.Option(False, "--password-stdin", help=h("users.password_stdin"))
NO_PASSWORD = typer.Option(False, "--no-password", help=h("users.no_password"))


def register(app: typer.Typer) -> None:
    users = typer.Typer(no_args_is_help=True, help=h("users.help"))
    app.add_typer(users, name="users")

    @users.command("add", help=h("users.add.help"))
    def add(
        name: str = typer.Argument(..., help=h("users.name")),
        role: str = typer.Option(..., "--role", help=h("users.add.role", roles=ROLE_HELP)),
        password_stdin: bool = PASSWORD_STDIN, no_password: bool = NO_PASSWORD,
        db: Path = DB_OPTION,
    ) -> None:
        """Add a user with a role."""
        from riskatlas.services import accounts

        accounts.check_name(name)
        accounts.check_role(role)
        password = _password(password_stdin, no_password)
        with riskatlas.open(db) as atlas:
            accounts.add_user(atlas.store, name, role, password, by=BY)
        console.print(t("auth.cli.added", name=name, role=role))
        if password is None:
            console.print(t("auth.cli.no_password", name=name))

    @users.command("list", help=h("users.list.help"))
    def list_(
        fmt: str = FMT_OPTION,
        db: Path = DB_OPTION,
    ) -> None:
        """Users with their role, state and API tokens (never a password)."""
        import pandas as pd

        from riskatlas.services import accounts

        with riskatlas.open(db) as atlas:
            rows = accounts.users(atlas.store)
        if not rows and fmt == "table":
            console.print(t("auth.cli.none"))
            return
        print_frame(pd.DataFrame(rows, columns=["name", "role", "disabled", "created_at",
                                                "tokens", "token_last_used"]), fmt)

    @users.command("role", help=h("users.role.help"))
    def role(name: str = typer.Argument(..., help=h("users.name")),
             new_role: str = typer.Argument(..., metavar="ROLE",
                                            help=h("users.role.role", roles=ROLE_HELP)),
             db: Path = DB_OPTION) -> None:
        """Change a user's role."""
        from riskatlas.services import accounts

        with riskatlas.open(db) as atlas:
            accounts.set_role(atlas.store, name, new_role, by=BY)
        console.print(t("auth.cli.role_set", name=name, role=new_role))

    @users.command("password", help=h("users.password.help"))
    def password(name: str = typer.Argument(..., help=h("users.name")),
                 password_stdin: bool = PASSWORD_STDIN, no_password: bool = NO_PASSWORD,
                 db: Path = DB_OPTION) -> None:
        """Set a new password; the user's open sessions end."""
        from riskatlas.services import accounts

        new = _password(password_stdin, no_password)
        with riskatlas.open(db) as atlas:
            accounts.set_password(atlas.store, name, new, by=BY)
        console.print(t("auth.cli.password_set", name=name))

    @users.command("disable", help=h("users.disable.help"))
    def disable(name: str = typer.Argument(..., help=h("users.name")),
                db: Path = DB_OPTION) -> None:
        """Disable a user: their sessions and API tokens stop working."""
        from riskatlas.services import accounts

        with riskatlas.open(db) as atlas:
            accounts.set_disabled(atlas.store, name, True, by=BY)
        console.print(t("auth.cli.disabled", name=name))

    @users.command("enable", help=h("users.enable.help"))
    def enable(name: str = typer.Argument(..., help=h("users.name")),
               db: Path = DB_OPTION) -> None:
        """Enable a disabled user again."""
        from riskatlas.services import accounts

        with riskatlas.open(db) as atlas:
            accounts.set_disabled(atlas.store, name, False, by=BY)
        console.print(t("auth.cli.enabled", name=name))

    @users.command("token", help=h("users.token.help"))
    def token(name: str = typer.Argument(..., help=h("users.name")),
              db: Path = DB_OPTION) -> None:
        """Make a new API token for a user and print it once (only its hash is kept)."""
        from riskatlas.services import accounts

        with riskatlas.open(db) as atlas:
            made = accounts.add_token(atlas.store, name, by=BY)
        print(t("auth.cli.token", name=name), file=sys.stderr)
        sys.stdout.write(made + "\n")

    @users.command("revoke", help=h("users.revoke.help"))
    def revoke(name: str = typer.Argument(..., help=h("users.name")),
               db: Path = DB_OPTION) -> None:
        """Delete every API token of a user."""
        from riskatlas.services import accounts

        with riskatlas.open(db) as atlas:
            count = accounts.revoke_tokens(atlas.store, name, by=BY)
        console.print(t("auth.cli.revoked", name=name, count=count))
