"""Sign-in pages: ``/login`` (password, then TOTP, passkey or recovery code; TOTP enrolment
when a role needs a second factor and none is enrolled), ``/account`` (second factors of the
caller), ``/no-organisation``.

Nothing secret goes through NiceGUI's websocket. The forms here are plain HTML elements with
no NiceGUI value binding; ``static/panacea.js`` (our own script) posts them to the JSON API
with ``fetch`` -- ``POST /api/v1/auth/login``, ``/auth/mfa/totp``, ``/auth/mfa/recovery``,
``/auth/mfa/totp/enrol`` and ``/confirm``, ``/auth/passkeys/...`` -- whose responses set the
HttpOnly session cookie (and rotate it after the second factor), then navigates to ``next``.
The server only decides which step to show first: a reload in the middle of sign-in resumes.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from nicegui import ui

from panacea.identity.authentication import mfa_status
from panacea.identity.passkeys import list_passkeys
from panacea.identity.sessions import SESSION_COOKIE, resolve_session
from panacea.web.callers import WebCaller
from panacea.web.context import web_context
from panacea.web.shell import (
    add_assets,
    dashboard_page,
    mark_data_ready,
    safe_next,
    text_element,
)

SSO_LOGIN_PATH = "/api/v1/auth/oidc/login"
# Where a form lands if our script did not load: a POST the API refuses (415), so a password
# never ends up in a URL (a form's default method is GET).
NO_SCRIPT_ACTION = "/api/v1/auth/login"


@dataclass(frozen=True)
class SignInState:
    """Where a browser stands when it opens /login."""

    step: str  # "password", "totp", "passkey", "recovery", "enrol" or "done"
    methods: tuple[str, ...] = ()
    email: str = ""


def sign_in_state(request: Request) -> SignInState:
    """The first step to show: the session cookie, if live, says how far sign-in got."""
    context = web_context(request).app
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return SignInState("password")
    with context.sessions() as db:
        try:
            found = resolve_session(db, token, timeouts=context.timeouts)
            if found is None:
                db.commit()  # an expired session is marked revoked
                return SignInState("password")
            row, user = found
            status = mfa_status(db, user.id)
            db.commit()
        except BaseException:
            db.rollback()
            raise
    if row.assurance == "mfa" or not status.required:
        return SignInState("done")
    if status.enrolment_required:
        return SignInState("enrol", email=user.email)
    first = next(m for m in ("totp", "passkey", "recovery_code") if m in status.methods)
    return SignInState(
        "recovery" if first == "recovery_code" else first, status.methods, user.email
    )


def _field(label: str, name: str, testid: str, **attributes: str) -> None:
    element_id = f"field-{testid}"
    with ui.element("div").classes("panacea-field"):
        text_element("label", label).props(f"for={element_id}")
        field = ui.element("input").props(
            f"id={element_id} name={name} data-testid={testid} required"
        )
        for key, value in attributes.items():
            field.props[key.replace("_", "-")] = value


def _submit(text: str, testid: str) -> None:
    button = text_element("button", text).props(f"type=submit data-testid={testid}")
    button.classes("panacea-button panacea-button-primary")


def _action(text: str, action: str, testid: str, *, needs: str | None = None) -> ui.element:
    button = text_element("button", text).props(
        f"type=button data-panacea-action={action} data-testid={testid}"
    )
    button.classes("panacea-button panacea-button-link")
    if needs is not None:
        button.props["data-needs-method"] = needs
    return button


def _step(name: str, first: str) -> ui.element:
    step = ui.element("section").props(f"data-login-step={name}").classes("column gap-3")
    if name != first:
        step.props("hidden")
    return step


def _form(kind: str) -> ui.element:
    return (
        ui.element("form")
        .props(f'data-panacea-form={kind} method=post action="{NO_SCRIPT_ACTION}"')
        .classes("column gap-3")
    )


def _code_field(label: str, testid: str, *, totp: bool) -> None:
    if totp:
        _field(
            label,
            "code",
            testid,
            inputmode="numeric",
            autocomplete="one-time-code",
            pattern="[0-9]{6}",
            maxlength="6",
            type="text",
        )
    else:
        _field(label, "code", testid, autocomplete="off", maxlength="64", type="text")


def enrolment_steps(first: str) -> None:
    """The TOTP enrolment steps (QR code, confirmation, recovery codes), for /login and /account."""
    with _step("enrol", first):
        text_element("h2", "Set up an authenticator app").classes("text-h6 q-my-none")
        ui.label(
            "Scan the QR code with an authenticator app (or type the secret), then enter the "
            "6-digit code it shows."
        )
        ui.element("img").props(
            'data-testid=totp-qr hidden width=200 height=200 alt="QR code to add PANACEA to '
            'an authenticator app; the same secret is written below for typing in"'
        ).classes("panacea-qr")
        with ui.element("p"):
            text_element("span", "Secret: ")
            text_element("code", "").props("data-testid=totp-secret").classes("panacea-secret")
        text_element("a", "Open in an authenticator app on this device").props(
            "data-testid=totp-uri href=#"
        )
        with _form("enrol-confirm"):
            _code_field("Code from the app", "enrol-code", totp=True)
            _submit("Confirm", "enrol-submit")
    with _step("codes", first):
        text_element("h2", "Recovery codes").classes("text-h6 q-my-none")
        ui.label(
            "Keep these codes somewhere safe: each signs you in once if you lose the app. "
            "They are shown only now."
        )
        ui.element("ol").props("data-testid=recovery-codes").classes("panacea-codes")
        _action("I have saved them: continue", "continue", "codes-continue")


def _message(text: str = "") -> None:
    text_element("p", text).props(
        "role=alert aria-live=assertive data-testid=login-message"
    ).classes("panacea-message")


@ui.page("/login", title="Sign in · PANACEA")
def login_page(request: Request, next: str = "/", expired: str = "") -> Response | None:
    """The sign-in page (see the module docstring)."""
    target = safe_next(next)
    state = sign_in_state(request)
    if state.step == "done":
        return RedirectResponse(target, status_code=303)
    add_assets()
    settings = web_context(request).settings
    root = ui.element("main").props("id=main data-panacea-login")
    root.props.update(
        {"data-step": state.step, "data-next": target, "data-methods": " ".join(state.methods)}
    )
    with root.classes("panacea-login column gap-4 q-pa-md"):
        text_element("h1", "Sign in to PANACEA").classes("text-h5 q-my-none")
        _message("Your session ended: sign in again." if expired else "")
        with _step("password", state.step):
            with _form("password"):
                _field("E-mail", "email", "login-email", type="email", autocomplete="username")
                _field(
                    "Password",
                    "password",
                    "login-password",
                    type="password",
                    autocomplete="current-password",
                )
                _submit("Sign in", "login-submit")
            if settings.oidc_issuer:
                text_element("a", "Sign in with single sign-on").props(
                    f"href={SSO_LOGIN_PATH} data-testid=login-sso"
                ).classes("panacea-button panacea-button-secondary")
        with _step("totp", state.step):
            text_element("h2", "Second factor").classes("text-h6 q-my-none")
            with _form("totp"):
                _code_field("6-digit code from your authenticator app", "totp-code", totp=True)
                _submit("Verify", "totp-submit")
            _action("Use a passkey instead", "use-passkey", "use-passkey", needs="passkey")
            _action("Use a recovery code", "use-recovery", "use-recovery", needs="recovery_code")
        with _step("passkey", state.step):
            text_element("h2", "Second factor").classes("text-h6 q-my-none")
            _action("Use my passkey", "passkey", "passkey-submit")
            _action("Use a code from my app instead", "use-totp", "use-totp", needs="totp")
            _action("Use a recovery code", "use-recovery", "use-recovery-2", needs="recovery_code")
        with _step("recovery", state.step):
            text_element("h2", "Recovery code").classes("text-h6 q-my-none")
            with _form("recovery"):
                _code_field("Recovery code (xxxx-xxxx-xxxx-xxxx)", "recovery-code", totp=False)
                _submit("Verify", "recovery-submit")
            _action("Use a code from my app instead", "use-totp", "use-totp-2", needs="totp")
        enrolment_steps(state.step)
        if state.step != "password":
            ui.label(f"Signed in as {state.email}.").classes("text-caption")
            _action("Not you? Sign out", "logout", "login-restart")
    mark_data_ready()
    return None


@ui.page("/no-organisation", title="No organisation · PANACEA")
def no_organisation_page() -> None:
    """Shown to a signed-in account that belongs to no organisation yet."""
    add_assets()
    with ui.element("main").props("id=main").classes("panacea-login column gap-4 q-pa-md"):
        text_element("h1", "No organisation yet").classes("text-h5 q-my-none")
        ui.label(
            "Your account does not belong to any organisation. Ask an administrator to add you."
        )
        _action("Sign out", "logout", "logout")
    mark_data_ready()


@dashboard_page("/account", title="My account", permission=None)
def account_page(caller: WebCaller) -> None:
    """The caller's second factors: TOTP enrolment (QR code) and passkey registration."""
    with caller.reading() as db:
        status = mfa_status(db, caller.user_id)
        passkeys = [(p.name, p.created_at) for p in list_passkeys(db, caller.principal)]
    with (
        ui.element("section")
        .props('data-panacea-login data-step=idle data-next="/account"')
        .classes("column gap-4 panacea-account")
    ):
        _message()
        with _step("idle", "idle"):
            text_element("h2", "Second factors").classes("text-h6 q-my-none")
            enrolled = ", ".join(m.replace("_", " ") for m in status.methods) or "none"
            ui.label(f"Enrolled: {enrolled}.").props("data-testid=mfa-methods")
            if "totp" not in status.methods:
                _action("Set up an authenticator app", "enrol-totp", "enrol-totp")
            text_element("h2", "Passkeys").classes("text-h6 q-my-none")
            with ui.element("ul").props("data-testid=passkeys"):
                for name, created in passkeys:
                    text_element("li", f"{name} (added {created:%Y-%m-%d})")
                if not passkeys:
                    text_element("li", "No passkey yet.")
            _field("Name of the new passkey", "passkey-name", "passkey-name", type="text")
            register = _action(
                "Register a passkey on this device", "register-passkey", "passkey-register"
            )
            register.props["data-reload"] = "1"
            text_element("p", "").props("role=status aria-live=polite data-testid=account-message")
        enrolment_steps("idle")
    mark_data_ready()
