"""``panacea users ...``: accounts, memberships and resets, for the operator on the server.

The console has no login: whoever can run it with the database URL is the platform operator,
with authority over every account (``Actor.operator``). Every change is audited. Passwords
are generated here and printed once; nothing prints a stored secret.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from panacea.cli.render import OutputFormat, console, print_json
from panacea.cli.state import state
from panacea.db.engine import session_scope
from panacea.identity import accounts, users
from panacea.identity.actors import Actor
from panacea.identity.errors import IdentityError
from panacea.identity.leavers import disable_user
from panacea.identity.roles import Role
from panacea.identity.user_views import AccountView, MemberView, list_accounts, list_users
from panacea.inventory.service import get_organisation

app = typer.Typer(help="Accounts, memberships, roles and resets.", no_args_is_help=True)
USERS_SCHEMA = "panacea.users/1"
# A password longer than the policy's maximum is refused by the policy; this bounds the read.
MAX_STDIN_PASSWORD = 1024

Email = Annotated[str, typer.Argument(help="The user's e-mail address.")]
Org = Annotated[str, typer.Option("--org", help="Organisation name.")]
RoleOption = Annotated[Role, typer.Option("--role", help="Role in the organisation.")]


@app.command("create")
def create_command(
    ctx: typer.Context,
    email: Email,
    org: Org,
    role: RoleOption,
    name: Annotated[str, typer.Option("--name", help="Display name.")] = "",
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the user's chosen password from stdin."),
    ] = False,
) -> None:
    """Create a local account with a role; without --password-stdin print a one-time password."""
    chosen = _read_password() if password_stdin else None
    actor = Actor.operator()
    with session_scope(state(ctx).factory()) as session:
        organisation = get_organisation(session, org)
        user, generated = users.create_user(
            session,
            email=email,
            actor=actor,
            display_name=name,
            password=chosen,
            organisation_id=organisation.id,
        )
        users.add_membership(session, organisation.id, user, role=role, actor=actor)
        address, user_id = user.email, user.id
    console.print(f"created {address} (user {user_id}) as {role.value} in {org}", markup=False)
    if generated is not None:
        _show_password(address, generated)


@app.command("grant")
def grant_command(ctx: typer.Context, email: Email, org: Org, role: RoleOption) -> None:
    """Give an existing account a role in an organisation (added if not yet a member)."""
    with session_scope(state(ctx).factory()) as session:
        organisation = get_organisation(session, org)
        view = users.grant(session, organisation.id, email=email, role=role, actor=Actor.operator())
    console.print(f"{view.email} is {view.role} in {org}", markup=False)


@app.command("remove")
def remove_command(ctx: typer.Context, email: Email, org: Org) -> None:
    """Remove an account from an organisation (its tokens there are revoked)."""
    with session_scope(state(ctx).factory()) as session:
        organisation = get_organisation(session, org)
        user = users.user_by_email(session, email)
        users.remove_member(session, organisation.id, user.id, actor=Actor.operator())
        address = user.email
    console.print(f"{address} is no longer a member of {org}", markup=False)


@app.command("list")
def list_command(
    ctx: typer.Context,
    org: Annotated[
        str | None, typer.Option("--org", help="Only this organisation's members.")
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="table or json")
    ] = OutputFormat.TABLE,
) -> None:
    """Accounts with their roles, second factors and state."""
    with state(ctx).factory()() as session:
        if org is None:
            every = list_accounts(session)
            members = None
        else:
            members = list_users(session, get_organisation(session, org).id)
    listed = every if members is None else members
    if output is OutputFormat.JSON:
        print_json({"schema": USERS_SCHEMA, "organisation": org, "users": listed})
    elif members is None:
        console.print(_accounts_table(every))
    else:
        console.print(_members_table(org or "", members))


@app.command("disable")
def disable_command(
    ctx: typer.Context,
    email: Email,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")] = "",
) -> None:
    """Disable an account everywhere: its sessions and API tokens are revoked."""
    with session_scope(state(ctx).factory()) as session:
        user = users.user_by_email(session, email)
        done = disable_user(session, user.id, actor=Actor.operator(), reason=reason)
    console.print(
        f"{done.email} is disabled; {done.sessions_revoked} sessions and "
        f"{done.tokens_revoked} API tokens revoked",
        markup=False,
    )


@app.command("reset-mfa")
def reset_mfa_command(ctx: typer.Context, email: Email) -> None:
    """Remove an account's TOTP, recovery codes and passkeys, and end its sessions."""
    with session_scope(state(ctx).factory()) as session:
        user = users.user_by_email(session, email)
        removed = accounts.reset_mfa(session, user, actor=Actor.operator())
        address = user.email
    console.print(
        f"{address}: removed {removed['totp']} TOTP, {removed['recovery_codes']} recovery "
        f"codes, {removed['passkeys']} passkeys; {removed['sessions_revoked']} sessions ended; "
        "the user enrols again at the next sign-in",
        markup=False,
    )


@app.command("reset-password")
def reset_password_command(ctx: typer.Context, email: Email) -> None:
    """Print a new random password once (to be replaced at sign-in); end the sessions."""
    with session_scope(state(ctx).factory()) as session:
        user = users.user_by_email(session, email)
        password = accounts.reset_password(session, user, actor=Actor.operator())
        address = user.email
    _show_password(address, password)


def _read_password() -> str:
    """One line of standard input, without its line ending (so `echo pw |` works)."""
    line = sys.stdin.readline(MAX_STDIN_PASSWORD + 1)
    password = line.removesuffix("\n").removesuffix("\r")
    if not password:
        raise IdentityError("--password-stdin: no password on standard input")
    if len(password) > MAX_STDIN_PASSWORD:
        raise IdentityError(f"--password-stdin: more than {MAX_STDIN_PASSWORD} characters")
    return password


def _show_password(email: str, password: str) -> None:
    # Printed once and never stored in clear: the operator hands it over by a safe channel.
    console.print(f"password for {email} (shown once, to be changed at first sign-in):")
    console.print(password, markup=False, highlight=False, soft_wrap=True)


def _members_table(org: str, members: list[MemberView]) -> Table:
    table = Table(title=escape(f"{org}: {len(members)} members"))
    for column in ("id", "email", "name", "role", "MFA", "MFA required", "state", "break-glass"):
        table.add_column(column)
    for m in members:
        table.add_row(
            str(m.user_id),
            m.email,
            escape(m.display_name),
            m.role + (" (SSO)" if m.from_sso else ""),
            ", ".join(m.mfa_methods) or "none",
            "yes" if m.mfa_required else "",
            _state(m.disabled, m.password_change_required),
            "eligible" if m.break_glass_eligible else "",
        )
    return table


def _accounts_table(every: list[AccountView]) -> Table:
    table = Table(title=f"{len(every)} accounts")
    for column in ("id", "email", "name", "memberships", "MFA", "state"):
        table.add_column(column)
    for a in every:
        table.add_row(
            str(a.user_id),
            a.email,
            escape(a.display_name),
            escape("; ".join(f"{org}: {role}" for org, role in a.memberships)),
            ", ".join(a.mfa_methods) or "none",
            _state(a.disabled, a.password_change_required),
        )
    return table


def _state(disabled: bool, change_required: bool) -> str:
    if disabled:
        return "disabled"
    return "password to change" if change_required else "active"
