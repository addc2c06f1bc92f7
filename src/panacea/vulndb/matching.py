"""Matching an organisation's inventory against the vulnerability knowledge.

``match_organisation`` turns what the inventory says into findings:

- *potential* findings (source ``nvd_match``) where a CVE's NVD configurations hold for the CPE
  names of an asset (see ``applicability``), at the endpoint, component or, for the operating
  system, the asset that carries the vulnerable name;
- *confirmed* findings (source ``inventory``) for the CVEs an asset's inventory entry lists;
- and it resolves the findings of those two sources, in scope, that no longer hold (a version
  was upgraded, an endpoint closed, a CVE struck from the list or rejected by the NVD).
  Statuses set by people stay.

It works in chunks of assets with a handful of queries each: candidate CVEs come from the
``VulnerableProduct`` index by ``(vendor, product)``, configurations are compiled once per CVE,
and assets with the same set of CPE names (a fleet of identical workstations) are evaluated once.
Running it twice in a row changes nothing but ``last_seen``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from panacea.findings.service import FindingLocus
from panacea.findings.vocabulary import Confidence, FindingSource
from panacea.inventory.assets import Asset
from panacea.vulndb.applicability import Applicability, Applies, compile_configurations, evaluate
from panacea.vulndb.cpe import Cpe
from panacea.vulndb.models import Vulnerability, VulnerableProduct
from panacea.vulndb.purl_cpe import organisation_table
from panacea.vulndb.recording import Sighting, record_sightings
from panacea.vulndb.software_facts import AssetSoftware, SoftwareFact, load_asset_software

_T = TypeVar("_T")
_ASSET_CHUNK = 500
_QUERY_CHUNK = 400
_REJECTED = "Rejected"
_RESOLVE_REASONS = {
    FindingSource.NVD_MATCH.value: "no longer matched: version, endpoint or component changed",
    FindingSource.INVENTORY.value: "no longer listed in the inventory's known CVEs",
}


@dataclass(frozen=True)
class MatchReport:
    """What one matching run did. ``findings_refreshed`` counts existing findings seen again
    (reopened ones included); ``findings_added`` only findings that did not exist before."""

    assets: int
    findings_added: int
    findings_refreshed: int
    findings_resolved: int


def match_organisation(
    session: Session,
    organisation_id: int,
    *,
    asset_ids: Collection[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> MatchReport:
    """Match the organisation's assets (all, or those of ``asset_ids``) and record the findings.

    Asset ids of other organisations are ignored. ``progress(done, total)`` is called after each
    chunk of assets. Flushes but does not commit.
    """
    scope = _scope(session, organisation_id, asset_ids)
    purls = organisation_table(session, organisation_id)
    catalogue = _Catalogue(session)
    added = refreshed = resolved = 0
    for start in range(0, len(scope), _ASSET_CHUNK):
        chunk = scope[start : start + _ASSET_CHUNK]
        software = load_asset_software(session, organisation_id, chunk, purls)
        catalogue.prepare(software)
        sightings = [*_nvd_sightings(catalogue, software), *_inventory_sightings(software)]
        counts = record_sightings(
            session, organisation_id, chunk, sightings, resolve=_RESOLVE_REASONS
        )
        added += counts.added
        refreshed += counts.refreshed
        resolved += counts.resolved
        if progress is not None:
            progress(start + len(chunk), len(scope))
    return MatchReport(len(scope), added, refreshed, resolved)


class _Catalogue:
    """Candidate CVEs per ``(vendor, product)`` and compiled configurations, for one run."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._cves: dict[tuple[str, str], set[str]] = {}
        self._applicability: dict[str, Applicability] = {}
        self._results: dict[frozenset[Cpe], list[Applies]] = {}
        self._per_cve: dict[tuple[str, frozenset[Cpe]], list[Applies]] = {}

    def prepare(self, software: Iterable[AssetSoftware]) -> None:
        """Load what ``software`` needs and is not cached yet: index rows, then configurations."""
        pairs = {f.name.vendor_product for s in software for f in s.facts} - self._cves.keys()
        for pair in pairs:
            self._cves[pair] = set()
        for batch in _batches(sorted(pairs)):
            rows = self._session.execute(
                select(
                    VulnerableProduct.vendor, VulnerableProduct.product, VulnerableProduct.cve_id
                ).where(tuple_(VulnerableProduct.vendor, VulnerableProduct.product).in_(batch))
            )
            for vendor, product, cve_id in rows:
                self._cves[(vendor, product)].add(cve_id)
        wanted = {cve for pair in pairs for cve in self._cves[pair]} - self._applicability.keys()
        for cve_batch in _batches(sorted(wanted)):
            records = self._session.execute(
                select(
                    Vulnerability.cve_id, Vulnerability.configurations, Vulnerability.status
                ).where(Vulnerability.cve_id.in_(cve_batch))
            )
            for cve_id, configurations, status in records:
                # A rejected CVE applies to nothing, whatever configurations it still carries.
                usable = configurations if status != _REJECTED else None
                self._applicability[cve_id] = compile_configurations(cve_id, usable or [])

    def applies(self, names: frozenset[Cpe]) -> list[Applies]:
        """Every (CVE, name) that holds for an asset with exactly these CPE ``names``."""
        if names not in self._results:
            self._results[names] = self._evaluate(names)
        return self._results[names]

    def _evaluate(self, names: frozenset[Cpe]) -> list[Applies]:
        by_product: dict[tuple[str, str], list[Cpe]] = {}
        for name in names:
            by_product.setdefault(name.vendor_product, []).append(name)
        candidates = sorted({cve for pair in by_product for cve in self._cves.get(pair, ())})
        applies: list[Applies] = []
        for cve_id in candidates:
            applicability = self._applicability.get(cve_id)
            if applicability is None:
                continue
            relevant = frozenset(
                name for pair in applicability.products for name in by_product.get(pair, ())
            )
            # Assets that differ elsewhere often share the names a given CVE looks at.
            key = (cve_id, relevant)
            if key not in self._per_cve:
                self._per_cve[key] = sorted(
                    evaluate(applicability, relevant), key=lambda a: str(a.name)
                )
            applies.extend(self._per_cve[key])
        return applies


def _nvd_sightings(catalogue: _Catalogue, software: Iterable[AssetSoftware]) -> Iterator[Sighting]:
    for asset in software:
        facts_by_name: dict[Cpe, list[SoftwareFact]] = {}
        for fact in asset.facts:
            facts_by_name.setdefault(fact.name, []).append(fact)
        for applies in catalogue.applies(frozenset(facts_by_name)):
            for fact in facts_by_name[applies.name]:
                yield Sighting(
                    FindingLocus(asset.asset_id, fact.endpoint_id, fact.component_id),
                    applies.cve_id,
                    Confidence.POTENTIAL,
                    FindingSource.NVD_MATCH.value,
                    f"{fact.label} matches {applies.rule.description}",
                    str(fact.name),
                )


def _inventory_sightings(software: Iterable[AssetSoftware]) -> Iterator[Sighting]:
    for asset in software:
        for cve_id in asset.known_cves:
            yield Sighting(
                FindingLocus(asset.asset_id),
                cve_id,
                Confidence.CONFIRMED,
                FindingSource.INVENTORY.value,
                "listed as a known CVE of the asset in the inventory",
            )


def _scope(session: Session, organisation_id: int, asset_ids: Collection[int] | None) -> list[int]:
    query = select(Asset.id).where(Asset.organisation_id == organisation_id).order_by(Asset.id)
    if asset_ids is None:
        return list(session.scalars(query))
    found: set[int] = set()
    for batch in _batches(sorted(set(asset_ids))):
        found.update(session.scalars(query.where(Asset.id.in_(batch))))
    return sorted(found)


def _batches(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), _QUERY_CHUNK):
        yield items[start : start + _QUERY_CHUNK]
