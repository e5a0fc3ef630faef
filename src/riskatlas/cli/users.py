"""``riskatlas users``: the accounts of the web app (add, list, disable, token).

Passwords are hashed with scrypt and API tokens stored as their SHA-256 only
(:mod:`riskatlas.web.auth`); every change is written to the audit log.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

import riskatlas
from riskatlas.cli.common import DB_OPTION, console, print_frame, t

ROLE_HELP = "viewer, collector, validator or admin"


def register(app: typer.Typer) -> None:
    users = typer.Typer(no_args_is_help=True, help="Accounts of the web app "
                        "(riskatlas serve): add, list, disable, token.")
    app.add_typer(users, name="users")

    @users.command("add")
    def add(
        name: str = typer.Argument(..., help="User name."),
        role: str = typer.Option(..., "--role", help=f"Role: {ROLE_HELP}."),
        password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the "
                                            "password from the first line of stdin "
                                            "(else it is asked for)."),
        no_password: bool = typer.Option(False, "--no-password", help="No password: the "
                                         "user signs in with API tokens only."),
        db: Path = DB_OPTION,
    ) -> None:
        """Add a user with a role."""
        from riskatlas.web import auth
        from riskatlas.web.workflow import audit

        auth.check_name(name)
        auth.check_role(role)
        password: str | None = None
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        elif not no_password:
            password = typer.prompt(t("auth.cli.password_prompt"), hide_input=True,
                                    confirmation_prompt=True)
        with riskatlas.open(db) as atlas:
            con = atlas.store.connection
            con.execute("BEGIN TRANSACTION")
            try:
                auth.add_user(con, name, role, password)
                audit(con, "cli", "user.add", None, None, {"name": name, "role": role})
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        console.print(t("auth.cli.added", name=name, role=role))
        if password is None:
            console.print(t("auth.cli.no_password", name=name))

    @users.command("list")
    def list_(
        fmt: str = typer.Option("table", "--format", help="Output: table, csv or json."),
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

    @users.command("disable")
    def disable(name: str = typer.Argument(..., help="User name."),
                db: Path = DB_OPTION) -> None:
        """Disable a user: their sessions and API tokens stop working."""
        from riskatlas.web import auth
        from riskatlas.web.workflow import audit

        with riskatlas.open(db) as atlas:
            con = atlas.store.connection
            auth.set_disabled(con, name, True)
            audit(con, "cli", "user.disable", None, None, {"name": name})
        console.print(t("auth.cli.disabled", name=name))

    @users.command("token")
    def token(name: str = typer.Argument(..., help="User name."),
              db: Path = DB_OPTION) -> None:
        """Make a new API token for a user and print it once (only its hash is kept)."""
        from riskatlas.web import auth
        from riskatlas.web.workflow import audit

        with riskatlas.open(db) as atlas:
            con = atlas.store.connection
            made = auth.add_token(con, name)
            audit(con, "cli", "token.create", None, None, {"name": name})
        print(t("auth.cli.token", name=name), file=sys.stderr)
        sys.stdout.write(made + "\n")
