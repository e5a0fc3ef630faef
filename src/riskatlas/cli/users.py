"""``riskatlas users``: the accounts of the web app (add, list, set, role, password,
disable, enable, token, revoke).

``--country NPL,LKA`` (add, set) grants the countries a user acts in (country accounts:
:func:`riskatlas.services.accounts.acting_countries`); ``list`` shows them. Passwords are
hashed with scrypt and API tokens stored as their SHA-256 only
(:mod:`riskatlas.services.accounts`); every change is written to the audit log, in the
change's own transaction.
"""

# no `from __future__ import annotations`: Typer reads these signatures at every run,
# and evaluating their annotations from strings cost more than defining them

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from riskatlas.cli.help import h
from riskatlas.cli.options import Db, Format
from riskatlas.cli.output import TABLE_FORMATS, console, print_frame
from riskatlas.cli.state import state

ROLE_HELP = h("users.roles")  # "viewer, collector, validator or admin"
BY = "cli"  # who the audit log names for a change made here

# the columns of ``users list`` and their headings
USER_COLUMNS = {"name": "auth.name", "role": "auth.role_label", "countries": "auth.countries",
                "disabled": "auth.state", "created_at": "auth.created", "tokens": "auth.tokens",
                "token_last_used": "column.token_last_used"}

Name = Annotated[str, typer.Argument(help=h("users.name"))]
PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help=h("users.password_stdin"))]
NoPassword = Annotated[bool, typer.Option("--no-password", help=h("users.no_password"))]
Countries = Annotated[str | None, typer.Option("--country", help=h("users.country"))]


def _password(ctx: typer.Context, from_stdin: bool, none: bool) -> str | None:
    """The password from stdin's first line, none (tokens only), or asked twice."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if none:
        return None
    return str(typer.prompt(state(ctx).t("auth.cli.password_prompt"), hide_input=True,
                            confirmation_prompt=True))


def add(
    ctx: typer.Context,
    name: Name,
    role: Annotated[str, typer.Option("--role", help=h("users.add.role", roles=ROLE_HELP))],
    password_stdin: PasswordStdin = False, no_password: NoPassword = False,
    country: Countries = None, db: Db = None,
) -> None:
    """Add a user with a role (and the countries they act in)."""
    import riskatlas
    from riskatlas.services import accounts

    accounts.check_name(name)
    accounts.check_role(role)
    password = _password(ctx, password_stdin, no_password)
    with riskatlas.open(db) as atlas:
        accounts.add_user(atlas.store, name, role, password, by=BY, countries=country)
    console.print(state(ctx).t("auth.cli.added", name=name, role=role))
    if country is not None:
        _countries_set(ctx, name, accounts.parse_countries(country))
    if password is None:
        console.print(state(ctx).t("auth.cli.no_password", name=name))


def list_(ctx: typer.Context, fmt: Format = "table", db: Db = None) -> None:
    """Users with their role, state and API tokens (never a password)."""
    import pandas as pd

    import riskatlas
    from riskatlas.services import accounts

    lang = state(ctx).lang
    with riskatlas.open(db) as atlas:
        rows = accounts.users(atlas.store)
    if not rows and fmt in TABLE_FORMATS:
        console.print(state(ctx).t("auth.cli.none"))
        return
    frame = pd.DataFrame(rows, columns=list(USER_COLUMNS))
    if fmt in TABLE_FORMATS:  # for a person: labels, states in words, times to the minute
        t = state(ctx).t
        frame = frame.assign(
            role=[t(f"auth.role.{r}") for r in frame.role],
            countries=[_countries_text(t, row) for row in rows],
            disabled=[t("auth.disabled") if d else t("auth.active") for d in frame.disabled],
            created_at=pd.to_datetime(frame.created_at),
            token_last_used=pd.to_datetime(frame.token_last_used))
        frame.columns = [t(key) for key in USER_COLUMNS.values()]
        if fmt == "table":  # what fits 80 columns; wide, csv and json: every column
            frame = frame.drop(columns=t(USER_COLUMNS["token_last_used"]))
    else:  # codes, comma-separated (a cell of CSV as of a table)
        frame = frame.assign(countries=[",".join(c) for c in frame.countries])
    print_frame(frame, fmt, lang=lang)


def _countries_text(t: Callable[..., str], row: dict[str, Any]) -> str:
    """The countries a user acts in, for a person: every country, none, or the codes."""
    if row["all_countries"]:
        return t("auth.countries_all")
    return ", ".join(row["countries"]) or t("auth.countries_none")


def _countries_set(ctx: typer.Context, name: str, codes: list[str]) -> None:
    t = state(ctx).t
    console.print(t("auth.cli.countries_set", name=name,
                    countries=", ".join(codes) or t("auth.countries_none")))


def set_(
    ctx: typer.Context,
    name: Name,
    new_role: Annotated[str | None, typer.Option("--role", help=h("users.set.role",
                                                                  roles=ROLE_HELP))] = None,
    country: Annotated[str | None, typer.Option("--country", help=h("users.set.country"))
                       ] = None,
    db: Db = None,
) -> None:
    """Change a user's role or countries."""
    import riskatlas
    from riskatlas.services import accounts

    if new_role is None and country is None:
        raise accounts.AccountError("auth.error.nothing_to_set")
    if new_role is not None:
        accounts.check_role(new_role)
    with riskatlas.open(db) as atlas, atlas.store.transaction():  # both or neither
        if new_role is not None:
            accounts.set_role(atlas.store, name, new_role, by=BY)
        codes = (accounts.set_countries(atlas.store, name, country, by=BY)
                 if country is not None else None)
    if new_role is not None:
        console.print(state(ctx).t("auth.cli.role_set", name=name, role=new_role))
    if codes is not None:
        _countries_set(ctx, name, codes)


def role(
    ctx: typer.Context,
    name: Name,
    new_role: Annotated[str, typer.Argument(metavar="ROLE",
                                            help=h("users.role.role", roles=ROLE_HELP))],
    db: Db = None,
) -> None:
    """Change a user's role."""
    import riskatlas
    from riskatlas.services import accounts

    with riskatlas.open(db) as atlas:
        accounts.set_role(atlas.store, name, new_role, by=BY)
    console.print(state(ctx).t("auth.cli.role_set", name=name, role=new_role))


def password(ctx: typer.Context, name: Name, password_stdin: PasswordStdin = False,
             no_password: NoPassword = False, db: Db = None) -> None:
    """Set a new password; the user's open sessions end."""
    import riskatlas
    from riskatlas.services import accounts

    new = _password(ctx, password_stdin, no_password)
    with riskatlas.open(db) as atlas:
        accounts.set_password(atlas.store, name, new, by=BY)
    console.print(state(ctx).t("auth.cli.password_set", name=name))


def disable(ctx: typer.Context, name: Name, db: Db = None) -> None:
    """Disable a user: their sessions and API tokens stop working."""
    import riskatlas
    from riskatlas.services import accounts

    with riskatlas.open(db) as atlas:
        accounts.set_disabled(atlas.store, name, True, by=BY)
    console.print(state(ctx).t("auth.cli.disabled", name=name))


def enable(ctx: typer.Context, name: Name, db: Db = None) -> None:
    """Enable a disabled user again."""
    import riskatlas
    from riskatlas.services import accounts

    with riskatlas.open(db) as atlas:
        accounts.set_disabled(atlas.store, name, False, by=BY)
    console.print(state(ctx).t("auth.cli.enabled", name=name))


def token(ctx: typer.Context, name: Name, db: Db = None) -> None:
    """Make a new API token for a user and print it once (only its hash is kept)."""
    import riskatlas
    from riskatlas.services import accounts

    with riskatlas.open(db) as atlas:
        made = accounts.add_token(atlas.store, name, by=BY)
    print(state(ctx).t("auth.cli.token", name=name), file=sys.stderr)
    sys.stdout.write(made + "\n")


def revoke(ctx: typer.Context, name: Name, db: Db = None) -> None:
    """Delete every API token of a user."""
    import riskatlas
    from riskatlas.services import accounts

    with riskatlas.open(db) as atlas:
        count = accounts.revoke_tokens(atlas.store, name, by=BY)
    console.print(state(ctx).t("auth.cli.revoked", name=name, count=count))
