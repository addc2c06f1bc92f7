"""``/imports``: upload an nmap XML scan, a CycloneDX SBOM, an inventory YAML or a CSV.

The browser uploads the file straight to the API's import route,
``POST /api/v1/orgs/{id}/imports`` (multipart: ``kind``, ``file``, ``asset``), with Quasar's
uploader (its own XHR, so the upload shows a progress bar), and the dashboard only shows the
answer. So an import from the dashboard is exactly an import through the API: the same body
limit (``max_upload_bytes``, enforced by the BodyLimit middleware as the body streams in),
the same permission (``imports:run``), one transaction (a bad file stores nothing), the same
audit entry (``import.completed``) and the same errors, shown verbatim (they name the file and
the line or field). The file never passes through NiceGUI's websocket.

The CSRF token the API asks of a cookie session is fetched from ``GET /api/v1/auth/me`` just
before the upload (as ``static/panacea.js`` does), never written into the page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nicegui import ui
from nicegui.events import GenericEventArguments

from panacea.identity.roles import Permission
from panacea.inventory.imports_router import ImportKind
from panacea.web.callers import WebCaller
from panacea.web.data_table import Column, static_table
from panacea.web.shell import dashboard_page, mark_data_ready, text_element

KINDS: dict[str, tuple[str, str]] = {
    ImportKind.NMAP.value: ("nmap scan (XML, -oX)", ".xml"),
    ImportKind.SBOM.value: ("CycloneDX SBOM of one asset (JSON)", ".json"),
    ImportKind.INVENTORY.value: ("Inventory (YAML)", ".yaml,.yml"),
    ImportKind.CSV.value: ("Assets (CSV)", ".csv,.txt"),
}
REPORT_FIELDS = (
    ("records", "Records read"),
    ("assets_added", "Assets added"),
    ("assets_updated", "Assets updated"),
    ("endpoints_added", "Endpoints added"),
    ("endpoints_closed", "Endpoints closed"),
    ("components_added", "Components added"),
    ("findings_added", "Findings added"),
    ("findings_resolved", "Findings resolved"),
    ("bytes", "Bytes"),
    ("sha256", "SHA-256"),
)
# The uploader's JavaScript: fetch the session's CSRF token, then let Quasar post the file.
# Values interpolated into it are JSON literals (json.dumps), never raw text.
_FACTORY = (
    "async () => {{"
    " const r = await fetch('/api/v1/auth/me', {{credentials: 'same-origin', cache: 'no-store',"
    " headers: {{Accept: 'application/json'}}}});"
    " const me = r.ok ? await r.json() : null;"
    " if (!me || !me.csrf_token) throw new Error('Your session has ended: sign in again.');"
    " return {{url: {url}, method: 'POST', fieldName: 'file', headers: ["
    "{{name: 'X-CSRF-Token', value: me.csrf_token}}, {{name: 'Accept', value: 'application/json'}}"
    "]}}; }}"
)
_ANSWER = "(info) => emit({status: info.xhr.status, body: String(info.xhr.responseText || '')})"
_REJECTED = (
    "(entries) => emit(entries.map((e) => ({reason: String(e.failedPropValidation),"
    " name: String(e.file && e.file.name || ''), size: Number(e.file && e.file.size || 0)})))"
)
_FACTORY_FAILED = "(error) => emit(String(error && error.message || error))"
MAX_ERROR_CHARS = 4000


def import_url(organisation_id: int) -> str:
    """The API route the uploader posts to."""
    return f"/api/v1/orgs/{int(organisation_id)}/imports"


def factory_js(organisation_id: int) -> str:
    """The uploader's ``factory``: a function resolving to the request to make."""
    return _FACTORY.format(url=json.dumps(import_url(organisation_id)))


def form_fields(kind: str, asset: str | None) -> list[dict[str, str]]:
    """The form fields sent with the file: the importer, and the SBOM's asset."""
    fields = [{"name": "kind", "value": kind}]
    if kind == ImportKind.SBOM.value and asset and asset.strip():
        fields.append({"name": "asset", "value": asset.strip()[:200]})
    return fields


@dataclass(frozen=True)
class Outcome:
    """What the API answered: a report (``rows``, ``notes``) or an ``error`` to show."""

    ok: bool
    rows: list[dict[str, Any]]
    notes: list[str]
    error: str = ""


def outcome_of(status: Any, body: Any) -> Outcome:
    """Read the API's answer to an upload (status and body as the browser saw them)."""
    data: Any = None
    if isinstance(body, str) and body:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
    code = status if isinstance(status, int) and not isinstance(status, bool) else 0
    if 200 <= code < 300 and isinstance(data, dict):
        rows = [
            {"id": key, "what": label, "value": str(data.get(key, ""))}
            for key, label in REPORT_FIELDS
        ]
        notes = [str(n) for n in data.get("notes", []) if isinstance(n, str)]
        return Outcome(True, rows, notes)
    return Outcome(False, [], [], _error_text(code, data))


def _error_text(code: int, data: Any) -> str:
    detail = data.get("detail") if isinstance(data, dict) else None
    if code == 0:
        return "The upload did not reach the server (network error or the page was left)."
    if code == 401:
        return "Your session has ended: sign in again, then import the file again."
    if isinstance(detail, str) and detail:
        # The importer's message, verbatim: it names the file and the line or field.
        return f"Nothing was imported. {detail[:MAX_ERROR_CHARS]}"
    return f"Nothing was imported: the server answered {code}."


def rejection_text(entries: Any, limit: int) -> str:
    """Why the browser refused to send a file (too large, wrong type)."""
    reasons = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        name = str(entry.get("name", "the file"))[:200]
        if entry.get("reason") == "max-file-size":
            reasons.append(f"{name} is larger than the limit of {limit:,} bytes")
        elif entry.get("reason") == "accept":
            reasons.append(f"{name} is not a file of the chosen kind")
        else:
            reasons.append(f"{name} was refused ({str(entry.get('reason'))[:40]})")
    return "Not uploaded: " + ("; ".join(reasons) or "the file was refused") + "."


@dashboard_page("/imports", title="Imports", permission=Permission.IMPORTS_RUN, nav="imports")
async def imports_page(caller: WebCaller) -> None:
    """Choose the kind, pick the file; the result or the error appears below."""
    limit = caller.context.settings.max_upload_bytes
    ui.label(
        f"Files of up to {limit / 1_048_576:.0f} MiB. Each file is imported in one transaction: "
        "if anything in it is wrong, nothing is stored and the error says where."
    )
    state = {"kind": ImportKind.NMAP.value, "asset": ""}
    with ui.row().classes("w-full items-end gap-3"):
        kind = (
            ui.select(
                {k: label for k, (label, _) in KINDS.items()},
                value=state["kind"],
                label="Kind of file",
            )
            .props("outlined dense data-testid=import-kind")
            .classes("min-w-72")
        )
        asset = ui.input("Asset the SBOM describes (name or id)").props(
            "outlined dense maxlength=200 data-testid=import-asset"
        )
        asset.set_visibility(False)
    uploader = ui.element("q-uploader").classes("w-full max-w-xl")
    uploader.props["label"] = "File to import"
    uploader.props[":factory"] = factory_js(caller.organisation_id)
    uploader.props["form-fields"] = form_fields(state["kind"], None)
    uploader.props["accept"] = KINDS[state["kind"]][1]
    uploader.props["max-file-size"] = limit
    uploader.props["auto-upload"] = True
    uploader.props["hide-upload-btn"] = True
    uploader.props["data-testid"] = "import-file"
    uploader.props["aria-label"] = "File to import"
    # Quasar's uploader header nests an unlabelled button and an unlabelled file input (axe:
    # nested-interactive, label): it stays out of sight and out of the accessibility tree; the
    # labelled "Choose a file…" button below opens its file picker, and the status line reports.
    uploader.style("display: none")
    ui.button(
        "Choose a file…", icon="upload_file", on_click=lambda: uploader.run_method("pickFiles")
    ).props("no-caps data-testid=import-choose")
    status = ui.label("").props('role=status aria-live="polite" data-testid=import-status')
    error = (
        ui.label("")
        .props("role=alert data-testid=import-error")
        .classes("panacea-error whitespace-pre-wrap")
    )
    error.set_visibility(False)
    with ui.column().classes("w-full gap-2").props("data-testid=import-result") as result:
        text_element("h2", "Imported").classes("text-h6 q-my-none")
        report = static_table(
            [Column("what", "What"), Column("value", "Value")], [], testid="import-report"
        )
        notes = ui.column().classes("gap-1").props("data-testid=import-notes")
        ui.link("See the assets", "/assets")
    result.set_visibility(False)

    def fields_changed() -> None:
        uploader.props["form-fields"] = form_fields(state["kind"], state["asset"])
        uploader.props["accept"] = KINDS[state["kind"]][1]
        asset.set_visibility(state["kind"] == ImportKind.SBOM.value)

    def on_kind(value: Any) -> None:
        if value in KINDS:
            state["kind"] = value
            fields_changed()

    def on_asset(value: Any) -> None:
        state["asset"] = value if isinstance(value, str) else ""
        fields_changed()

    kind.on_value_change(lambda e: on_kind(e.value))
    asset.on_value_change(lambda e: on_asset(e.value))

    def started() -> None:
        status.text = "Uploading and importing…"
        error.set_visibility(False)
        result.set_visibility(False)

    def answered(event: GenericEventArguments) -> None:
        args = event.args if isinstance(event.args, dict) else {}
        outcome = outcome_of(args.get("status"), args.get("body"))
        uploader.run_method("reset")
        if not outcome.ok:
            status.text = "The import failed."
            error.text = outcome.error
            error.set_visibility(True)
            return
        status.text = "The import is complete."
        report.rows = outcome.rows
        notes.clear()
        with notes:
            for note in outcome.notes:
                ui.label(note)
        result.set_visibility(True)

    def refused(message: str) -> None:
        status.text = "The file was not uploaded."
        error.text = message
        error.set_visibility(True)
        uploader.run_method("reset")

    uploader.on("start", lambda: started(), [])
    uploader.on("uploaded", answered, js_handler=_ANSWER)
    uploader.on("failed", answered, js_handler=_ANSWER)
    uploader.on(
        "rejected",
        lambda e: refused(rejection_text(e.args, limit)),
        js_handler=_REJECTED,
    )
    uploader.on(
        "factory-failed",
        lambda e: refused(f"Not uploaded: {str(e.args)[:300]}"),
        js_handler=_FACTORY_FAILED,
    )
    await ui.context.client.connected()
    mark_data_ready()
