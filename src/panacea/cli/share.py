"""``panacea share ...``: federation with peers over TAXII 2.1 (docs/sharing-federation.md).

::

    panacea share identity --org ORG [--out FILE]        the public key document peers register
    panacea share trust --key FILE [--label L] [--hub]   register a peer's public key
    panacea share peers add --org ORG --name N --url URL --api-root ROOT --collection ID \\
        [--secret-file F | --secret-env VAR] [--auth bearer|basic|none] [--pull/--no-pull] \\
        [--push] [--audience identity--...]... [--partners] [--forward] [--inbox COLLECTION]
    panacea share peers list --org ORG [--format table|json]
    panacea share peers remove NAME --org ORG
    panacea share push --org ORG --peer N [--incident ID]... [--forward/--no-forward]
    panacea share pull --org ORG --peer N
    panacea share sync --org ORG [--format table|json]
    panacea share export --org ORG --incident ID... [--out FILE] [--hide-organisation]

Secrets never go on the command line (shell history, the process list): a peer's token is read
from a file, an environment variable, or a hidden prompt, and stored sealed. Every change is
audited with the operating-system account as the actor.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from panacea.cli.render import OutputFormat, console, errors, print_json
from panacea.cli.state import state
from panacea.db.engine import session_scope
from panacea.identity.actors import Actor
from panacea.inventory.service import get_organisation
from panacea.sharing.errors import PeerError, SigningKeyError
from panacea.sharing.keys import public_key_of, register_peer_key
from panacea.sharing.outbox import export_bundle
from panacea.sharing.peers import AUTH_KINDS, PeerSpec, add_peer, list_peers, remove_peer
from panacea.sharing.sync import PullReport, PushReport, SyncReport, pull, push, sync

app = typer.Typer(
    help="Share with peers over TAXII 2.1: peers, push, pull, sync.", no_args_is_help=True
)
peers_app = typer.Typer(
    help="The remote collections an organisation shares with.", no_args_is_help=True
)
app.add_typer(peers_app, name="peers")

PEERS_SCHEMA = "panacea.share.peers/1"
SYNC_SCHEMA = "panacea.share.sync/1"
KEY_SCHEMA = "panacea.share.identity/1"

Org = Annotated[str, typer.Option("--org", help="Organisation.")]
PeerName = Annotated[str, typer.Option("--peer", help="Peer name (see `share peers list`).")]
Format = Annotated[OutputFormat, typer.Option("--format", help="table or json")]


def _organisation_id(ctx: typer.Context, name: str) -> int:
    with state(ctx).factory()() as session:
        return get_organisation(session, name).id


def _secret(auth: str, secret_file: Path | None, secret_env: str | None) -> str:
    if auth == "none":
        return ""
    if secret_file is not None and secret_env is not None:
        raise PeerError("give the secret once: --secret-file or --secret-env")
    if secret_file is not None:
        try:
            return secret_file.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise PeerError(f"cannot read the secret from {secret_file}: {e}") from e
    if secret_env is not None:
        value = os.environ.get(secret_env, "").strip()
        if not value:
            raise PeerError(f"the environment variable {secret_env} is empty or unset")
        return value
    return str(typer.prompt("Secret the peer issued (hidden)", hide_input=True)).strip()


@app.command("identity")
def identity_command(
    ctx: typer.Context,
    org: Org,
    out: Annotated[Path | None, typer.Option("--out", help="Write to a file.")] = None,
) -> None:
    """The organisation's STIX identity and public signing key, for peers to trust."""
    with session_scope(state(ctx).factory()) as session:
        view = public_key_of(session, get_organisation(session, org).id)
        document = {
            "schema": KEY_SCHEMA,
            "identity_ref": view.identity_ref,
            "kid": view.kid,
            "algorithm": view.algorithm,
            "jwk": view.jwk,
        }
    if out is None:
        print_json(document)
        return
    out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote the public key {view.kid} of {view.identity_ref} to {out}")


@app.command("trust")
def trust_command(
    ctx: typer.Context,
    key: Annotated[Path, typer.Option("--key", help="A peer's `share identity` document.")],
    label: Annotated[str, typer.Option("--label", help="Who it is, for people.")] = "",
    hub: Annotated[
        bool, typer.Option("--hub", help="A hub's key: may sign what others published.")
    ] = False,
) -> None:
    """Trust a peer's public key: objects it signs are accepted on ingest."""
    try:
        document = json.loads(key.read_text(encoding="utf-8"))
        identity_ref, jwk = document["identity_ref"], document["jwk"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SigningKeyError(f"{key}: not a `share identity` document ({e})") from e
    with session_scope(state(ctx).factory()) as session:
        record = register_peer_key(
            session,
            identity_ref=str(identity_ref),
            jwk=jwk,
            label=label or str(key.name),
            may_republish=hub,
            actor=Actor.operator().name,
        )
        kid = record.kid
    console.print(f"trusted key {kid} of {identity_ref}", highlight=False)


@peers_app.command("add")
def peers_add(
    ctx: typer.Context,
    org: Org,
    name: Annotated[str, typer.Option("--name", help="A name for the peer (per organisation).")],
    url: Annotated[str, typer.Option("--url", help="The server's base URL (its discovery).")],
    api_root: Annotated[str, typer.Option("--api-root", help="API root name or URL.")],
    collection: Annotated[str, typer.Option("--collection", help="Remote collection id.")],
    auth: Annotated[str, typer.Option("--auth", help="bearer, basic or none.")] = "bearer",
    secret_file: Annotated[
        Path | None, typer.Option("--secret-file", help="File holding the secret.")
    ] = None,
    secret_env: Annotated[
        str | None, typer.Option("--secret-env", help="Environment variable holding it.")
    ] = None,
    can_pull: Annotated[bool, typer.Option("--pull/--no-pull", help="Pull from it.")] = True,
    can_push: Annotated[bool, typer.Option("--push/--no-push", help="Push to it.")] = False,
    audience: Annotated[
        list[str] | None,
        typer.Option("--audience", help="STIX identity of an organisation reading it."),
    ] = None,
    partners: Annotated[
        bool, typer.Option("--partners", help="Its audience are named partners (AMBER).")
    ] = False,
    forward: Annotated[
        bool, typer.Option("--forward", help="Sync forwards received objects to it.")
    ] = False,
    inbox: Annotated[
        str | None, typer.Option("--inbox", help="Local collection the peer pushes into.")
    ] = None,
) -> None:
    """Add a peer (its secret is sealed; audited)."""
    if auth not in AUTH_KINDS:
        raise PeerError(f"--auth {auth!r}: one of {', '.join(AUTH_KINDS)}")
    spec = PeerSpec(
        name=name,
        base_url=url,
        api_root=api_root,
        collection_id=collection,
        auth_kind=auth,
        secret=_secret(auth, secret_file, secret_env),
        can_pull=can_pull,
        can_push=can_push,
        audience=tuple(audience or ()),
        partners=partners,
        forward=forward,
        inbox_collection=inbox,
    )
    with session_scope(state(ctx).factory()) as session:
        peer = add_peer(
            session, get_organisation(session, org).id, spec, actor=Actor.operator().name
        )
        console.print(f"peer {peer.name} added ({peer.api_root}collections/{peer.collection_id}/)")


@peers_app.command("list")
def peers_list(ctx: typer.Context, org: Org, output: Format = OutputFormat.TABLE) -> None:
    """The organisation's peers (never their secrets)."""
    with state(ctx).factory()() as session:
        views = list_peers(session, get_organisation(session, org).id)
    if output is OutputFormat.JSON:
        print_json({"schema": PEERS_SCHEMA, "organisation": org, "peers": views})
        return
    table = Table(title=f"{len(views)} peers")
    for column in ("name", "collection", "pull", "push", "audience", "checkpoint", "last error"):
        table.add_column(column)
    for v in views:
        table.add_row(
            v.name,
            f"{v.api_root_url}collections/{v.collection_id}/",
            "yes" if v.can_pull else "no",
            ("yes" + (", forwards" if v.forward else "")) if v.can_push else "no",
            "\n".join(v.audience),
            v.added_after or "",
            v.last_error,
        )
    console.print(table)


@peers_app.command("remove")
def peers_remove(
    ctx: typer.Context, org: Org, name: Annotated[str, typer.Argument(help="Peer name.")]
) -> None:
    """Forget a peer (what was received from it stays; audited)."""
    with session_scope(state(ctx).factory()) as session:
        remove_peer(session, get_organisation(session, org).id, name, actor=Actor.operator().name)
    console.print(f"peer {name} removed")


def _push_line(report: PushReport) -> str:
    return (
        f"{report.peer}: {report.delivered} delivered, {len(report.failed)} refused by the "
        f"peer, {len(report.held_back)} held back by TLP"
    )


def _pull_line(report: PullReport) -> str:
    return (
        f"{report.peer}: {report.stored} new, {report.already_held} already held, "
        f"{report.quarantined} quarantined ({report.pages} pages; checkpoint "
        f"{report.checkpoint or 'none'})"
    )


@app.command("push")
def push_command(
    ctx: typer.Context,
    org: Org,
    peer: PeerName,
    incident: Annotated[
        list[int] | None, typer.Option("--incident", help="Share this incident (repeatable).")
    ] = None,
    forward: Annotated[
        bool | None,
        typer.Option("--forward/--no-forward", help="Forward received objects (default: peer's)."),
    ] = None,
    hide_organisation: Annotated[
        bool, typer.Option("--hide-organisation", help="Pseudonymise the organisation's name.")
    ] = False,
) -> None:
    """Share incidents with a peer and send what is queued for it."""
    organisation_id = _organisation_id(ctx, org)
    report = push(
        state(ctx).factory(),
        organisation_id,
        peer,
        incident_ids=incident or (),
        forward=forward,
        hide_organisation=hide_organisation,
        actor=Actor.operator().name,
    )
    console.print(_push_line(report), highlight=False)
    for held in report.held_back[:20]:
        console.print(f"  held back {held.stix_id}: {held.reason}", highlight=False)
    for failed in report.failed[:20]:
        errors.print(f"  refused {failed.stix_id}: {failed.reason}", highlight=False)
    if report.failed:
        raise typer.Exit(1)


@app.command("pull")
def pull_command(
    ctx: typer.Context,
    org: Org,
    peer: PeerName,
    from_start: Annotated[
        bool, typer.Option("--from-start", help="Read the whole collection again.")
    ] = False,
) -> None:
    """Receive what a peer's collection got since the last pull."""
    organisation_id = _organisation_id(ctx, org)
    report = pull(
        state(ctx).factory(),
        organisation_id,
        peer,
        actor=Actor.operator().name,
        from_start=from_start,
    )
    console.print(_pull_line(report), highlight=False)


def _sync_document(org: str, report: SyncReport) -> dict[str, Any]:
    return {
        "schema": SYNC_SCHEMA,
        "organisation": org,
        "pulls": report.pulls,
        "received": report.received,
        "intel": {
            "objects": report.intel.objects,
            "sightings": [
                {
                    "cve": r.sighting.cve,
                    "confidence": r.sighting.confidence,
                    "report": r.sighting.report_id,
                    "source": r.sighting.source,
                }
                for r in report.intel.sightings
            ],
            "evidence": report.intel.evidence,
            "unreadable": report.intel.unreadable,
        },
        "pushes": report.pushes,
        "errors": [{"peer": p, "error": e} for p, e in report.errors],
    }


@app.command("sync")
def sync_command(ctx: typer.Context, org: Org, output: Format = OutputFormat.TABLE) -> None:
    """Pull every peer, take in what arrived, update the intel, push to every peer."""
    organisation_id = _organisation_id(ctx, org)
    report = sync(state(ctx).factory(), organisation_id, actor=Actor.operator().name)
    if output is OutputFormat.JSON:
        print_json(_sync_document(org, report))
    else:
        for pulled in report.pulls:
            console.print("pull " + _pull_line(pulled), highlight=False)
        console.print(
            f"received {report.received} object(s); intel: {len(report.intel.sightings)} "
            f"exploitation report(s), {len(report.intel.evidence)} indicator match(es)",
            highlight=False,
        )
        for pushed in report.pushes:
            console.print("push " + _push_line(pushed), highlight=False)
        for name, error in report.errors:
            errors.print(f"{name}: {error}", highlight=False, soft_wrap=True)
    if report.errors:
        raise typer.Exit(1)


@app.command("export")
def export_command(
    ctx: typer.Context,
    org: Org,
    incident: Annotated[list[int], typer.Option("--incident", help="Incident id (repeatable).")],
    out: Annotated[Path | None, typer.Option("--out", help="Write to a file.")] = None,
    hide_organisation: Annotated[
        bool, typer.Option("--hide-organisation", help="Pseudonymise the organisation's name.")
    ] = False,
) -> None:
    """A signed, anonymised STIX 2.1 bundle of incidents, as they would leave (audited)."""
    with session_scope(state(ctx).factory()) as session:
        bundle = export_bundle(
            session,
            get_organisation(session, org).id,
            list(incident),
            hide_organisation=hide_organisation,
            actor=Actor.operator().name,
        )
    text = json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        print(text, end="")
        return
    out.write_text(text, encoding="utf-8")
    console.print(f"wrote {bundle['id']} ({len(bundle['objects'])} objects) to {out}")
