"""``riskatlas users``: the accounts of the web app (add, list, role, password, disable,
enable, token, revoke).

Passwords are hashed with scrypt and API tokens stored as their SHA-256 only
(:mod:`riskatlas.web.auth`); every change is written to the audit log.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

import riskatlas
from riskatlas.cli.common import DB_OPTION, FMT_OPTION, console, h, print_frame, t

ROLE_HELP = h("users.roles")  # "viewer, collector, validator or admin"
T = TypeVar("T")


def _change(db: Path, action: str, change: Callable[[Any], T], **details: Any) -> T:
    """``change(connection)`` and its audit entry, in one transaction."""
    from riskatlas.web.workflow import audit

    with riskatlas.open(db) as atlas:
        con = atlas.store.connection
        con.execute("BEGIN TRANSACTION")
        try:
            result = change(con)
            audit(con, "cli", action, None, None, details)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return result


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
        from riskatlas.web import auth

        auth.check_name(name)
        auth.check_role(role)
        password = _password(password_stdin, no_password)
        _change(db, "user.add", lambda con: auth.add_user(con, name, role, password),
                name=name, role=role)
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

        from riskatlas.web.routes_admin import users_rows

        with riskatlas.open(db) as atlas:
            rows = users_rows(atlas)
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
        from riskatlas.web import auth

        _change(db, "user.role", lambda con: auth.set_role(con, name, new_role), name=name,
                role=new_role)
        console.print(t("auth.cli.role_set", name=name, role=new_role))

    @users.command("password", help=h("users.password.help"))
    def password(name: str = typer.Argument(..., help=h("users.name")),
                 password_stdin: bool = PASSWORD_STDIN, no_password: bool = NO_PASSWORD,
                 db: Path = DB_OPTION) -> None:
        """Set a new password; the user's open sessions end."""
        from riskatlas.web import auth

        new = _password(password_stdin, no_password)
        _change(db, "user.password", lambda con: auth.set_password(con, name, new),
                name=name)
        console.print(t("auth.cli.password_set", name=name))

    @users.command("disable", help=h("users.disable.help"))
    def disable(name: str = typer.Argument(..., help=h("users.name")),
                db: Path = DB_OPTION) -> None:
        """Disable a user: their sessions and API tokens stop working."""
        from riskatlas.web import auth

        _change(db, "user.disable", lambda con: auth.set_disabled(con, name, True), name=name)
        console.print(t("auth.cli.disabled", name=name))

    @users.command("enable", help=h("users.enable.help"))
    def enable(name: str = typer.Argument(..., help=h("users.name")),
               db: Path = DB_OPTION) -> None:
        """Enable a disabled user again."""
        from riskatlas.web import auth

        _change(db, "user.enable", lambda con: auth.set_disabled(con, name, False), name=name)
        console.print(t("auth.cli.enabled", name=name))

    @users.command("token", help=h("users.token.help"))
    def token(name: str = typer.Argument(..., help=h("users.name")),
              db: Path = DB_OPTION) -> None:
        """Make a new API token for a user and print it once (only its hash is kept)."""
        from riskatlas.web import auth

        made = _change(db, "token.create", lambda con: auth.add_token(con, name), name=name)
        print(t("auth.cli.token", name=name), file=sys.stderr)
        sys.stdout.write(made + "\n")

    @users.command("revoke", help=h("users.revoke.help"))
    def revoke(name: str = typer.Argument(..., help=h("users.name")),
               db: Path = DB_OPTION) -> None:
        """Delete every API token of a user."""
        from riskatlas.web import auth

        count = _change(db, "token.revoke", lambda con: auth.revoke_tokens(con, name),
                        name=name)
        console.print(t("auth.cli.revoked", name=name, count=count))
