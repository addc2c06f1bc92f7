"""TAXII 2.1 server at scale, beside the OASIS reference server medallion serving the same objects.

    .venv/bin/python bench/taxii.py                       # 100,000 objects, SQLite
    .venv/bin/python bench/taxii.py --objects 10000       # a quick run
    .venv/bin/python bench/taxii.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

What it does, all on 127.0.0.1:

1. A fresh database (an SQLite file, or a new schema of the PostgreSQL database given, dropped
   afterwards), an organisation, a collection, an API token, and a remote publisher whose
   Ed25519 key is registered as a peer. ``--objects`` STIX 2.1 objects (nine indicators for
   one IPv4 observable) are signed by that publisher and cut into envelopes (not timed).
2. PANACEA served by uvicorn (``--workers`` processes). Ingest: ``--clients`` threads POST the
   envelopes (Add Objects); the rate counts every object from the first request to the last
   status, so it includes parsing, STIX checks, signature verification (RFC 8785 + Ed25519),
   replay checks and storage. Every status must report every object stored.
3. Paging: a client walks the whole collection with ``limit=1000`` and ``next``; the pages at
   the start, the middle and the end are then requested again ``--repeat`` times each (median
   shown), as are pages of 100 and an ``added_after`` poll at the end.
4. medallion 3 (memory backend, the TAXII 2.1 reference implementation of OASIS) on the first
   ``--medallion-objects`` of the same signed objects; a client walks it with pages of
   ``--medallion-page`` (its default maximum, 100). Its time per page is compared with ours for
   the same page size.

The bench is not a test: it prints figures (and exits non-zero only if something was wrong).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from joserfc.jwk import OKPKey
from processes import free_port, running
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from panacea.db.engine import open_database
from panacea.identity.keys import Kek
from panacea.identity.models import Membership, User
from panacea.identity.principal import OrgAccess, Principal
from panacea.identity.roles import Permission, Role
from panacea.identity.tokens import create_token
from panacea.inventory.organisation import Organisation
from panacea.sharing.keys import register_peer_key
from panacea.sharing.signing import SignerKey, sign_object
from panacea.sharing.taxii.collections import create_collection
from panacea.sharing.taxii.media import TAXII_MEDIA_TYPE

console = Console()
PAGE = 1000
ROOT = Path(__file__).resolve().parent.parent
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"


def stix_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def make_objects(count: int, publisher: str) -> Iterator[dict[str, Any]]:
    """``count`` STIX 2.1 objects: nine indicators for one IPv4 observable."""
    start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    for n in range(count):
        address = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
        if n % 10 == 9:
            yield {
                "type": "ipv4-addr",
                "spec_version": "2.1",
                "id": f"ipv4-addr--{uuid.uuid5(uuid.NAMESPACE_URL, address)}",
                "value": address,
            }
            continue
        when = stix_time(start + timedelta(seconds=n))
        yield {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.uuid4()}",
            "created": when,
            "modified": when,
            "created_by_ref": publisher,
            "name": f"Ransomware C2 {address}",
            "description": "Command-and-control address seen in a hospital intrusion.",
            "pattern": f"[ipv4-addr:value = '{address}']",
            "pattern_type": "stix",
            "valid_from": when,
            "indicator_types": ["malicious-activity"],
            "confidence": 70,
            "object_marking_refs": ["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"],
        }


@contextmanager
def database(url: str | None, folder: Path) -> Iterator[str]:
    """A fresh SQLite file, or a fresh schema of the PostgreSQL database ``url``."""
    if url is None:
        yield f"sqlite:///{folder / 'bench.db'}"
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@dataclass
class Setup:
    secret: str
    collection_id: str
    signer: SignerKey


def prepare(sessions: sessionmaker[Session]) -> Setup:
    key = OKPKey.generate_key("Ed25519")
    signer = SignerKey(identity_ref=f"identity--{uuid.uuid4()}", key=key)
    with sessions.begin() as s:
        org = Organisation(name="Bench Hospital")
        user = User(email="lead@bench.example", display_name="Lead")
        s.add_all([org, user])
        s.flush()
        s.add(Membership(user_id=user.id, organisation_id=org.id, role=Role.SECURITY_LEAD.value))
        _, secret = create_token(
            s,
            user=user,
            organisation_id=org.id,
            name="bench",
            scopes=(Permission.SHARING_READ, Permission.SHARING_PUBLISH),
            lifetime=timedelta(days=1),
            max_lifetime=timedelta(days=1),
        )
        access = OrgAccess(
            principal=Principal(user_id=user.id, email=user.email, via="session"),
            organisation_id=org.id,
            role=Role.SECURITY_LEAD,
            base_role=Role.SECURITY_LEAD,
        )
        collection_id = create_collection(s, access, title="Bench").uuid
        register_peer_key(
            s, identity_ref=signer.identity_ref, jwk=key.as_dict(private=False), label="bench"
        )
    return Setup(secret=secret, collection_id=collection_id, signer=signer)


def ingest(url: str, secret: str, envelopes: list[bytes], clients: int) -> tuple[float, int]:
    """POST every envelope with ``clients`` threads; seconds elapsed and objects stored."""
    work: queue.Queue[bytes] = queue.Queue()
    for envelope in envelopes:
        work.put(envelope)
    stored: list[int] = []
    failed: list[str] = []

    def client() -> None:
        http = requests.Session()
        headers = {
            "Accept": TAXII_MEDIA_TYPE,
            "Content-Type": TAXII_MEDIA_TYPE,
            "Authorization": f"Bearer {secret}",
        }
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                return
            answer = http.post(url, data=body, headers=headers, timeout=300)
            if answer.status_code != 202:
                failed.append(f"{answer.status_code} {answer.text[:200]}")
                continue
            status = answer.json()
            stored.append(status["success_count"])
            if status["failure_count"]:
                failed.append(json.dumps(status["failures"][:2]))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if failed:
        raise SystemExit(f"ingest failed: {failed[:3]}")
    return elapsed, sum(stored)


def timed_get(
    http: requests.Session, url: str, params: dict[str, str]
) -> tuple[float, dict[str, Any]]:
    """Seconds until the whole answer is received, and the answer (parsed after timing)."""
    start = time.perf_counter()
    answer = http.get(url, params=params, timeout=600)
    content = answer.content
    elapsed = time.perf_counter() - start
    if answer.status_code != 200:
        raise SystemExit(f"GET {url} {params}: {answer.status_code} {content[:300]!r}")
    document: dict[str, Any] = json.loads(content) if content else {}
    return elapsed, document


@dataclass
class Walk:
    seconds: list[float]
    # The query of each page (to request the same page again).
    params: list[dict[str, str]]
    objects: int


def walk(http: requests.Session, url: str, limit: int, max_pages: int) -> Walk:
    seconds: list[float] = []
    params_of: list[dict[str, str]] = []
    objects = 0
    params: dict[str, str] = {"limit": str(limit)}
    for _ in range(max_pages):
        elapsed, page = timed_get(http, url, params)
        seconds.append(elapsed)
        params_of.append(params)
        objects += len(page.get("objects", []))
        if not page.get("more"):
            break
        params = {"limit": str(limit), "next": str(page["next"])}
    return Walk(seconds, params_of, objects)


def median_of(repeat: int, fn: Callable[[], float]) -> float:
    return statistics.median(fn() for _ in range(repeat))


def medallion_config(objects: list[dict[str, Any]], page: int, data: Path) -> dict[str, Any]:
    start = datetime(2026, 1, 5, tzinfo=UTC)
    manifest = []
    stored = []
    for n, obj in enumerate(objects):
        added = (start + timedelta(microseconds=n)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        # medallion keeps the version of an object without modified/created in "_date_added".
        version = obj.get("modified", added)
        stored.append(obj if "modified" in obj else {**obj, "_date_added": added})
        manifest.append(
            {
                "id": obj["id"],
                "date_added": added,
                "version": version,
                "media_type": STIX_MEDIA_TYPE,
            }
        )
    return {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(data),
        },
        "users": {"bench": "bench"},
        "taxii": {"max_page_size": page},
        "data": {
            "/discovery": {
                "title": "medallion",
                "default": "http://127.0.0.1/api1/",
                "api_roots": ["http://127.0.0.1/api1/"],
            },
            "api1": {
                "information": {
                    "title": "api1",
                    "versions": [TAXII_MEDIA_TYPE],
                    "max_content_length": 100_000_000,
                },
                "status": [],
                "collections": [
                    {
                        "id": "91a7b528-80eb-42ed-a74d-c6fbd5a26116",
                        "title": "bench",
                        "can_read": True,
                        "can_write": True,
                        "media_types": [STIX_MEDIA_TYPE],
                        "objects": stored,
                        "manifest": manifest,
                    }
                ],
            },
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500, help="objects per Add Objects request")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="uvicorn worker processes (default: 1 on SQLite, a single writer; 2 on PostgreSQL)",
    )
    parser.add_argument(
        "--clients", type=int, default=None, help="posting threads (default: 2 per worker)"
    )
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--database-url", default=None, help="PostgreSQL (default: SQLite)")
    parser.add_argument("--medallion-objects", type=int, default=2000)
    parser.add_argument("--medallion-page", type=int, default=100)
    parser.add_argument("--medallion-pages", type=int, default=20, help="pages walked at most")
    args = parser.parse_args()
    workers = args.workers or (2 if args.database_url else 1)
    clients = args.clients or 2 * workers

    with tempfile.TemporaryDirectory() as tmp, database(args.database_url, Path(tmp)) as url:
        folder = Path(tmp)
        sessions = open_database(url)
        setup = prepare(sessions)
        sessions.kw["bind"].dispose()

        start = time.perf_counter()
        signed = [
            sign_object(o, setup.signer)
            for o in make_objects(args.objects, setup.signer.identity_ref)
        ]
        signing = time.perf_counter() - start
        envelopes = [
            json.dumps({"objects": signed[i : i + args.batch]}).encode()
            for i in range(0, len(signed), args.batch)
        ]
        kind = url.split(":", 1)[0]
        console.print(
            f"{len(signed):,} objects signed in {signing:.1f} s (not timed below); "
            f"{len(envelopes)} envelopes of {args.batch}; database {kind}; "
            f"{workers} uvicorn worker(s), {clients} posting client(s)"
        )

        port = free_port()
        env = {
            **os.environ,
            "PANACEA_DATABASE_URL": url,
            "PANACEA_DEMO_MODE": "true",
            "PANACEA_DATA_DIR": str(folder),
            "PANACEA_KEK": Kek.generate().encoded(),
        }
        server = [
            sys.executable, "-m", "uvicorn", "--factory", "panacea.api.app:create_app",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        base = f"http://127.0.0.1:{port}/taxii2/panacea/collections/{setup.collection_id}/objects/"
        with running(server, port, "PANACEA", env):
            seconds, stored = ingest(base, setup.secret, envelopes, clients)
            if stored != len(signed):
                raise SystemExit(f"only {stored} of {len(signed)} objects were stored")
            rate = stored / seconds

            http = requests.Session()
            http.headers.update(
                {"Accept": TAXII_MEDIA_TYPE, "Authorization": f"Bearer {setup.secret}"}
            )
            walked = walk(http, base, PAGE, max_pages=args.objects // PAGE + 2)
            if walked.objects != len(signed):
                raise SystemExit(f"paging returned {walked.objects} objects, not {len(signed)}")
            pages = len(walked.params)
            spots = {"start": 0, "middle": pages // 2, "end": pages - 1}
            # Round-robin over the three spots, so that a burst of load on the machine hits
            # them alike; the median of each spot is shown.
            samples: dict[str, list[float]] = {name: [] for name in spots}
            small_samples: dict[str, list[float]] = {name: [] for name in spots}
            small_params = {
                name: {**walked.params[i], "limit": str(args.medallion_page)}
                for name, i in spots.items()
            }
            for _ in range(args.repeat):
                for name, i in spots.items():
                    samples[name].append(timed_get(http, base, walked.params[i])[0])
                    small_samples[name].append(timed_get(http, base, small_params[name])[0])
            page_ms = {name: 1000 * statistics.median(v) for name, v in samples.items()}
            ours_small_ms = 1000 * statistics.median([x for v in small_samples.values() for x in v])
            last_added = http.get(base, params=walked.params[-1]).headers[
                "X-TAXII-Date-Added-First"
            ]
            poll_ms = 1000 * median_of(
                args.repeat,
                lambda: timed_get(http, base, {"added_after": last_added, "limit": str(PAGE)})[0],
            )

        p95 = statistics.quantiles(walked.seconds, n=20)[-1] if pages > 1 else walked.seconds[0]
        table = Table(title=f"PANACEA TAXII 2.1, {len(signed):,} objects")
        table.add_column("measure")
        table.add_column("value", justify="right")
        table.add_column("target", justify="right")
        table.add_row(
            "ingest (POST, checks + RFC 8785 + Ed25519 verify + store)",
            f"{rate:,.0f} objects/s",
            ">= 5,000",
        )
        for name, ms in page_ms.items():
            table.add_row(
                f"page of {PAGE} at the {name} (median of {args.repeat})",
                f"{ms:.1f} ms",
                "< 50 ms, flat",
            )
        table.add_row(
            f"all {pages} pages walked with next: median / 95th percentile",
            f"{1000 * statistics.median(walked.seconds):.1f} / {1000 * p95:.1f} ms",
            "",
        )
        table.add_row(f"added_after poll at the end (page of {PAGE})", f"{poll_ms:.1f} ms", "")
        table.add_row(
            f"page of {args.medallion_page} at start/middle/end (median of {3 * args.repeat})",
            f"{ours_small_ms:.1f} ms",
            "",
        )

        subset = signed[: args.medallion_objects]
        config = medallion_config(subset, args.medallion_page, folder / "data.json")
        (folder / "data.json").write_text(json.dumps(config.pop("data")))
        (folder / "medallion.json").write_text(json.dumps(config))
        port = free_port()
        command = [
            sys.executable, "-m", "medallion.scripts.run", "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "ERROR", str(folder / "medallion.json"),
        ]  # fmt: skip
        with running(command, port, "medallion", {**os.environ, "PYTHONWARNINGS": "ignore"}):
            peer = requests.Session()
            peer.auth = ("bench", "bench")
            peer.headers["Accept"] = TAXII_MEDIA_TYPE
            url = f"http://127.0.0.1:{port}/api1/collections/91a7b528-80eb-42ed-a74d-c6fbd5a26116/objects/"
            theirs = walk(peer, url, args.medallion_page, max_pages=args.medallion_pages)
        theirs_ms = 1000 * statistics.fmean(theirs.seconds)
        table.add_row(
            f"medallion 3, {len(subset):,} objects: page of {args.medallion_page}, "
            f"mean of {len(theirs.seconds)} pages walked (first page)",
            f"{theirs_ms:.1f} ms ({1000 * theirs.seconds[0]:.0f} ms)",
            "",
        )
        table.add_row(
            f"medallion / PANACEA, page of {args.medallion_page}",
            f"{theirs_ms / ours_small_ms:,.0f} x",
            "",
        )
        console.print(table)


if __name__ == "__main__":
    main()
