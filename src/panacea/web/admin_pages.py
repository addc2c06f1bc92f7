"""Administration: ``/admin/users`` (members and roles), ``/admin/tokens`` (API tokens),
``/admin/audit`` (the audit log and the verification of its chain).

Each page needs the permission of the matching API list route (``users:read``,
``tokens:manage``, ``audit:read``); changes need what the API's change routes need
(``users:manage`` for roles and new members). New members and new tokens are created by the
browser calling the API itself (``browser_api``), so the one-time password or token secret is
shown without passing through the server's websocket.
"""

from __future__ import annotations

from typing import Any

from nicegui import run, ui

from panacea.errors import PanaceaError
from panacea.identity.roles import Permission, Role
from panacea.identity.tokens_schemas import DEFAULT_TOKEN_DAYS
from panacea.web.admin_data import (
    AuditQuery,
    Verification,
    audit_page,
    change_role,
    grantable,
    member_rows,
    revoke_token,
    token_rows,
    verify_chain,
)
from panacea.web.browser_api import call_from_browser
from panacea.web.callers import WebCaller
from panacea.web.data_table import Column, ServerTable, static_table
from panacea.web.shell import dashboard_page, mark_data_ready, text_element
from panacea.web.table_paging import TablePage, TableRequest

ROLES = {r.value: r.value.replace("_", " ") for r in Role}


def _secret_box(testid: str, what: str) -> None:
    """Where the browser writes a secret (hidden until then); selectable, announced."""
    ui.label(f"{what} (shown once: copy it now)").classes("text-weight-medium")
    ui.element("code").props(f'data-testid={testid} hidden aria-live="polite"').classes(
        "panacea-secret q-pa-sm"
    )


# --- users -----------------------------------------------------------------------------------

USER_COLUMNS = (
    ("email", "E-mail"),
    ("name", "Name"),
    ("role", "Role"),
    ("mfa", "Second factors"),
    ("state", "Account"),
    ("sso", "From SSO"),
    ("break_glass", "Break-glass"),
    ("last_login", "Last sign-in"),
)


@dashboard_page("/admin/users", title="Users", permission=Permission.USERS_READ, nav="admin-users")
async def users_page(caller: WebCaller) -> None:
    """Members and their roles; administrators change roles and add members."""
    manages = caller.allows(Permission.USERS_MANAGE)
    table = static_table(
        [Column(n, label) for n, label in USER_COLUMNS],
        [],
        testid="users-table",
        row_testid="user-row-",
        page_size=50,
    )
    message = ui.label("").props('role=status aria-live="polite" data-testid=users-message')
    members: list[ui.select] = []

    def load() -> list[dict[str, Any]]:
        with caller.reading() as db:
            return member_rows(db, caller.organisation_id)

    async def refresh() -> None:
        rows = await run.io_bound(load) or []
        table.rows = rows
        for select in members:  # the role form's member list follows the table
            select.options = {r["id"]: r["email"] for r in rows}
            select.update()

    if manages:
        members.append(_role_form(caller, message, refresh))
        _add_member_form(caller, message, refresh)
    await ui.context.client.connected()
    await refresh()
    mark_data_ready()


def _role_form(caller: WebCaller, message: ui.label, refresh: Any) -> ui.select:
    text_element("h2", "Change a role").classes("text-h6 q-my-none")
    with ui.row().classes("items-end gap-3"):
        # Typing filters the list (an organisation may have hundreds of members).
        member = (
            ui.select({}, label="Member (type to filter)", with_input=True)
            .props("outlined dense data-testid=user-select")
            .classes("min-w-72")
        )
        role = (
            ui.select(ROLES, label="New role")
            .props("outlined dense data-testid=user-role-select")
            .classes("min-w-40")
        )

        async def save() -> None:
            user_id, new_role = member.value, role.value
            if not isinstance(user_id, int) or new_role not in ROLES:
                message.text = "Choose a member and a role."
                return

            def write() -> str:
                with caller.transaction(Permission.USERS_MANAGE) as db:
                    return change_role(db, caller.access, user_id, str(new_role))

            try:
                done = await run.io_bound(write)
            except PanaceaError as e:
                message.text = f"Not changed: {e}"
                return
            message.text = f"Role changed to {done}."
            await refresh()

        ui.button("Change role", on_click=save).props("no-caps data-testid=user-role-submit")
    return member


def _add_member_form(caller: WebCaller, message: ui.label, refresh: Any) -> None:
    text_element("h2", "Add a member").classes("text-h6 q-my-none")
    ui.label(
        "An existing account is added with this role; otherwise an account is created with a "
        "one-time password that the person must replace at first sign-in."
    )
    with ui.row().classes("items-end gap-3"):
        email = ui.input("E-mail").props(
            "outlined dense type=email maxlength=254 data-testid=user-add-email"
        )
        name = ui.input("Name").props("outlined dense maxlength=200 data-testid=user-add-name")
        role = (
            ui.select(ROLES, value=Role.VIEWER.value, label="Role")
            .props("outlined dense data-testid=user-add-role")
            .classes("min-w-40")
        )

        async def add() -> None:
            answer = await call_from_browser(
                "POST",
                f"/api/v1/orgs/{caller.organisation_id}/users",
                {"email": email.value or "", "display_name": name.value or "", "role": role.value},
                secret_field=("initial_password",),
                reveal="user-initial-password",
            )
            if not answer.ok:
                message.text = f"Not added: {answer.detail or f'error {answer.status}'}"
                return
            message.text = (
                "Member added; their one-time password is shown below."
                if answer.revealed
                else "Member added (an existing account: no new password)."
            )
            await refresh()

        ui.button("Add member", on_click=add).props("no-caps data-testid=user-add-submit")
    _secret_box("user-initial-password", "One-time password")


# --- API tokens ------------------------------------------------------------------------------

TOKEN_COLUMNS = (
    Column("name", "Name"),
    Column("prefix", "Prefix"),
    Column("owner", "Owner", narrow=True),
    Column("scopes", "Scopes", narrow=True),
    Column("expires", "Expires"),
    Column("last_used", "Last used", narrow=True),
    Column("status", "Status"),
    Column(
        "revoke",
        "Action",
        kind="button",
        button="Revoke",
        event="revoke",
        show_if="props.row.status === 'active'",
        button_testid="token-revoke-",
    ),
)


@dashboard_page(
    "/admin/tokens", title="API tokens", permission=Permission.TOKENS_MANAGE, nav="admin-tokens"
)
async def tokens_page(caller: WebCaller) -> None:
    """The caller's tokens (administrators: all of the organisation); create and revoke."""
    table = static_table(
        TOKEN_COLUMNS, [], testid="tokens-table", row_testid="token-row-", page_size=50
    )
    message = ui.label("").props('role=status aria-live="polite" data-testid=tokens-message')

    def load() -> list[dict[str, Any]]:
        with caller.reading() as db:
            return token_rows(db, caller.access)

    async def refresh() -> None:
        table.rows = await run.io_bound(load) or []

    async def revoke(event: Any) -> None:
        token_id = event.args
        if isinstance(token_id, bool) or not isinstance(token_id, int):
            return

        def write() -> str:
            with caller.transaction(Permission.TOKENS_MANAGE) as db:
                return revoke_token(db, caller.access, token_id)

        try:
            await run.io_bound(write)
        except PanaceaError as e:
            message.text = f"Not revoked: {e}"
            return
        message.text = f"Token {token_id} revoked."
        await refresh()

    table.on("revoke", revoke)
    _token_form(caller, message, refresh)
    await ui.context.client.connected()
    await refresh()
    mark_data_ready()


def _token_form(caller: WebCaller, message: ui.label, refresh: Any) -> None:
    text_element("h2", "New token").classes("text-h6 q-my-none")
    scopes = grantable(caller.access)
    max_days = caller.context.settings.api_token_max_days
    with ui.row().classes("items-end gap-3"):
        name = ui.input("Name").props("outlined dense maxlength=100 data-testid=token-name")
        chosen = (
            ui.select(scopes, multiple=True, label="Scopes")
            .props("outlined dense use-chips data-testid=token-scopes")
            .classes("min-w-72")
        )
        days = ui.number(
            "Valid for (days)",
            value=min(DEFAULT_TOKEN_DAYS, max_days),
            min=1,
            max=max_days,
            step=1,
        ).props("outlined dense data-testid=token-days")

        async def create() -> None:
            answer = await call_from_browser(
                "POST",
                f"/api/v1/orgs/{caller.organisation_id}/tokens",
                {
                    "name": name.value or "",
                    "scopes": list(chosen.value or []),
                    "expires_in_days": int(days.value or 0),
                },
                secret_field=("secret",),
                reveal="token-secret",
            )
            if not answer.ok:
                message.text = f"Not created: {answer.detail or f'error {answer.status}'}"
                return
            message.text = "Token created; its secret is shown below."
            await refresh()

        ui.button("Create token", on_click=create).props("no-caps data-testid=token-create")
    _secret_box("token-secret", "Token secret")


# --- audit log -------------------------------------------------------------------------------

AUDIT_COLUMNS = (
    Column("seq", "Seq", sortable=True, align="right"),
    Column("at", "When (UTC)"),
    Column("actor", "Who"),
    Column("action", "Action"),
    Column("outcome", "Outcome"),
    Column("target", "Target", narrow=True),
    Column("break_glass", "Break-glass", kind="flag", flag_icon="emergency"),
    Column("address", "Address", narrow=True),
    Column("details", "Details", narrow=True),
)


def _verification(label: ui.label, result: Verification) -> None:
    label.text = result.text
    label.props["data-ok"] = "true" if result.ok else "false"
    label.props["role"] = "status" if result.ok else "alert"


@dashboard_page(
    "/admin/audit", title="Audit log", permission=Permission.AUDIT_READ, nav="admin-audit"
)
async def audit_log_page(caller: WebCaller) -> None:
    """The organisation's audit log, newest first, and whether its chain verifies."""
    with ui.row().classes("items-center gap-3"):
        status = (
            ui.label("Verifying the chain…")
            .props('data-testid=audit-verify-status aria-live="polite"')
            .classes("text-weight-medium")
        )
        again = ui.button("Verify again").props("no-caps data-testid=audit-verify")
    state: dict[str, Any] = {"action": "", "outcome": "", "break_glass": False}

    def fetch(request: TableRequest) -> TablePage:
        query = AuditQuery(
            action=state["action"].strip() or None,
            outcome=state["outcome"] or None,
            break_glass=True if state["break_glass"] else None,
        )
        with caller.reading() as db:
            return audit_page(db, caller.organisation_id, query, request)

    with (
        ui.row()
        .classes("w-full items-end gap-3")
        .props('role=search aria-label="Filter the audit log"')
    ):
        action = ui.input("Action (auth.* for a prefix)").props(
            "outlined dense clearable maxlength=80 data-testid=audit-action"
        )
        outcome = (
            ui.select(
                {"": "Any outcome", "success": "success", "failure": "failure", "denied": "denied"},
                value="",
                label="Outcome",
            )
            .props("outlined dense data-testid=audit-outcome")
            .classes("min-w-40")
        )
        glass = ui.checkbox("Only under break-glass").props("data-testid=audit-break-glass")
    table = ServerTable(
        columns=AUDIT_COLUMNS,
        fetch=fetch,
        default_sort="seq",
        default_descending=True,
        testid="audit-table",
        row_testid="audit-row-",
        caption="Audit entries of this organisation, newest first.",
    )

    async def changed(name: str, value: Any) -> None:
        state[name] = value if value is not None else ""
        await table.first_page()

    action.on(
        "update:model-value",
        lambda e: changed("action", e.args or ""),
        throttle=0.3,
        leading_events=False,
    )
    outcome.on_value_change(lambda e: changed("outcome", e.value))
    glass.on_value_change(lambda e: changed("break_glass", bool(e.value)))

    def check() -> Verification:
        with caller.reading() as db:
            return verify_chain(db, caller.context.settings, caller.organisation_id)

    async def verify() -> None:
        status.text = "Verifying the chain…"
        result = await run.io_bound(check)
        if result is not None:
            _verification(status, result)

    again.on_click(verify)
    await ui.context.client.connected()
    await table.load()
    mark_data_ready()
    await verify()
