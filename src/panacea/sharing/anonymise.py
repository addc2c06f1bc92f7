"""Removing what identifies patients, staff and internal hosts before anything leaves.

Every identifier found (rules: :mod:`panacea.sharing.pii_patterns`; plus the organisation's
own dictionary of staff names, accounts, host names, addresses and domains, taken from the
inventory and the user directory) is replaced by a **pseudonym** ``[kind-1a2b3c4d]``: the
first 32 bits of HMAC-SHA256 (RFC 2104) under the organisation's secret key of
``kind || 0x00 || canonical value``. So:

- the same host, person or address gets the same pseudonym in every report of the
  organisation (recipients correlate sightings), and a different one at every other
  organisation (no cross-organisation linking);
- without the key nobody can test a guess ("is [person-...] Maria Rossi?"), which an
  unkeyed hash of such small value spaces would allow.

32 bits keep pseudonyms short in prose; two distinct values of one kind in one organisation
share a pseudonym with probability about n²/2³³ (one in a hundred for ~9,000 hosts).

Public indicators survive: globally routable IP addresses, domains outside the organisation's
own and internal ones, hashes, CVE and ATT&CK ids. In STIX objects, :func:`anonymise_object`
applies the text rules to every string except the properties that must stay as they are (ids,
references, timestamps, vocabularies, hashes, external ids); indicator patterns and
observable values get only the *indicator* rules (internal addresses, host names, accounts,
the organisation's own e-mail addresses), so an attacker's address or domain in a pattern is
kept while a private address is not.

Limits of a rule-based approach (docs/sharing-policy.md): a name without a title, a label or
a dictionary entry, and free-text clinical details (diagnoses, wards), are not recognised.
"""

from __future__ import annotations

import bisect
import copy
import hashlib
import hmac
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from panacea.identity.models import Membership, User
from panacea.inventory.organisation import Organisation
from panacea.inventory.people import Account
from panacea.inventory.views import list_assets
from panacea.sharing.errors import AnonymisationError, InternalObservableError
from panacea.sharing.pii_patterns import (
    GENERIC_ACCOUNTS,
    INTERNAL_SUFFIXES,
    P_LABEL,
    Kind,
    Match,
    Network,
    canonical,
    find_addresses,
    find_emails,
    find_internal_fqdns,
    find_keep,
    find_labelled,
    find_macs,
    find_national_ids,
    find_netbios_hosts,
    find_paths,
    find_phones,
    find_titled_names,
    host_canonical,
    normalise,
    parse_address,
)
from panacea.sharing.pseudonym_keys import pseudonym_key
from panacea.sharing.signing import SIGNATURE_PROPERTY
from panacea.sharing.validation import OBSERVABLE_TYPES

PSEUDONYM_HEX = 8
MIN_KEY_BYTES = 16
MAX_DEPTH = 32
MAX_PHRASE_WORDS = 6
_GENERIC_HOSTS = frozenset({"localhost", "server", "gateway", "router", "firewall", "switch"})


@dataclass(frozen=True)
class Dictionary:
    """An organisation's own identifiers, caught wherever they appear (case-insensitive).

    ``addresses`` are single addresses or prefixes (the organisation's networks, public ones
    included); ``domains`` are DNS domains whose every host is internal.
    """

    persons: frozenset[str] = frozenset()
    hosts: frozenset[str] = frozenset()
    accounts: frozenset[str] = frozenset()
    emails: frozenset[str] = frozenset()
    addresses: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    organisation_names: frozenset[str] = frozenset()

    def merged(self, other: Dictionary) -> Dictionary:
        """The union of two dictionaries."""
        return Dictionary(
            persons=self.persons | other.persons,
            hosts=self.hosts | other.hosts,
            accounts=self.accounts | other.accounts,
            emails=self.emails | other.emails,
            addresses=self.addresses | other.addresses,
            domains=self.domains | other.domains,
            organisation_names=self.organisation_names | other.organisation_names,
        )


@dataclass(frozen=True)
class Redaction:
    """An anonymised text and how many identifiers of each kind it replaced (never which)."""

    text: str
    counts: Mapping[Kind, int] = field(default_factory=dict)


_TOKEN = re.compile(r"[^\s,;:()\[\]{}<>\"'|/=!?]+")
_NAME_WORD = re.compile(r"[^\W\d_]+(?:['’.-][^\W\d_]+)*")


def _distinctive_label(label: str) -> bool:
    """A host's first DNS label is worth matching alone if it is not a common word."""
    return (
        len(label) >= 4
        and label not in _GENERIC_HOSTS
        and (any(c.isdigit() for c in label) or "-" in label or "_" in label or len(label) >= 6)
    )


class _Index:
    """The dictionary compiled for look-ups: token -> (kind, canonical)."""

    def __init__(self, dictionary: Dictionary) -> None:
        self.tokens: dict[str, tuple[Kind, str]] = {}
        self.phrases: dict[str, tuple[Kind, str]] = {}
        self.surnames: dict[str, tuple[Kind, str]] = {}
        self.networks: tuple[Network, ...] = tuple(
            n for n in (parse_address(a) for a in sorted(dictionary.addresses)) if n is not None
        )
        self.domains = frozenset(host_canonical(d) for d in dictionary.domains if "." in d)
        self.emails = frozenset(e.casefold() for e in dictionary.emails)
        for host in sorted(dictionary.hosts):
            canonical = host_canonical(host)
            if not canonical or canonical in _GENERIC_HOSTS:
                continue
            self.tokens.setdefault(canonical, (Kind.HOST, canonical))
            first = canonical.split(".", 1)[0]
            if first != canonical and _distinctive_label(first):
                self.tokens.setdefault(first, (Kind.HOST, canonical))
        for account in sorted(dictionary.accounts):
            canonical = account.casefold()
            if not canonical or canonical in GENERIC_ACCOUNTS:
                continue
            self.tokens.setdefault(canonical, (Kind.ACCOUNT, canonical))
            user = canonical.rsplit("\\", 1)[-1]
            if user != canonical and user not in GENERIC_ACCOUNTS:
                self.tokens.setdefault(user, (Kind.ACCOUNT, canonical))
        for email in sorted(self.emails):
            self.tokens.setdefault(email, (Kind.EMAIL, email))
        for kind, names in (
            (Kind.ORG, dictionary.organisation_names),
            (Kind.PERSON, dictionary.persons),
        ):
            for name in sorted(names):
                words = _NAME_WORD.findall(name)
                if not words or len(words) > MAX_PHRASE_WORDS:
                    continue
                canonical = normalise(" ".join(words))
                if len(words) == 1:
                    self.surnames.setdefault(canonical, (kind, canonical))
                    continue
                self.phrases.setdefault(canonical, (kind, canonical))
                if kind is Kind.PERSON:
                    # "Rossi, Maria" and "ROSSI MARIA": surname first.
                    self.phrases.setdefault(
                        normalise(" ".join([words[-1], *words[:-1]])), (kind, canonical)
                    )
                    surname = normalise(words[-1])
                    if len(surname) >= 3:
                        self.surnames.setdefault(surname, (kind, canonical))

    def find(self, text: str) -> Iterator[Match]:
        """Dictionary entries in ``text``: tokens (hosts, accounts, e-mails) and names."""
        if self.tokens:
            for m in _TOKEN.finditer(text):
                yield from self._token_matches(m.group(), m.start())
        if self.phrases or self.surnames:
            yield from self._name_matches(text)

    def _token_matches(self, token: str, at: int) -> Iterator[Match]:
        stripped = token.rstrip(".")
        found = self.tokens.get(stripped.casefold())
        if found is not None:
            yield Match(at, at + len(stripped), P_LABEL, found[0], found[1])
            return
        offset = 0
        for part in re.split(r"([\\@])", stripped):
            if part not in ("\\", "@") and part:
                candidates = [part]
                if "." in part:
                    candidates.append(part.split(".", 1)[0])
                for candidate in candidates:
                    hit = self.tokens.get(candidate.casefold())
                    if hit is not None:
                        yield Match(
                            at + offset, at + offset + len(candidate), P_LABEL, hit[0], hit[1]
                        )
                        break
            offset += len(part)

    def _name_matches(self, text: str) -> Iterator[Match]:
        words = list(_NAME_WORD.finditer(text))
        for i, word in enumerate(words):
            for n in range(min(MAX_PHRASE_WORDS, len(words) - i), 1, -1):
                last = words[i + n - 1]
                gaps = [text[words[j].end() : words[j + 1].start()] for j in range(i, i + n - 1)]
                if not all(re.fullmatch(r"[ \t]+|,[ \t]*|[ \t]*-[ \t]*", g) for g in gaps):
                    continue
                phrase = normalise(" ".join(w.group() for w in words[i : i + n]))
                hit = self.phrases.get(phrase)
                if hit is not None:
                    yield Match(word.start(), last.end(), P_LABEL, hit[0], hit[1])
                    break
            surname = word.group()
            hit = self.surnames.get(normalise(surname))
            # Alone, a surname must be written as a name (Rossi, ROSSI): "bauer" is a word.
            if hit is not None and surname[:1].isupper():
                yield Match(word.start(), word.end(), P_LABEL + 1, hit[0], hit[1])


def _select(matches: Iterable[Match]) -> list[Match]:
    """Non-overlapping spans: by priority, then leftmost, then longest."""
    chosen: list[Match] = []
    starts: list[int] = []
    for m in sorted(matches, key=lambda m: (m.priority, m.start, m.start - m.end)):
        if m.end <= m.start:
            continue
        i = bisect.bisect_left(starts, m.start)
        if i > 0 and chosen[i - 1].end > m.start:
            continue
        if i < len(chosen) and chosen[i].start < m.end:
            continue
        chosen.insert(i, m)
        starts.insert(i, m.start)
    return chosen


class Anonymiser:
    """Pseudonymises text and STIX objects under one organisation's key and dictionary."""

    def __init__(self, key: bytes, dictionary: Dictionary | None = None) -> None:
        """Raises AnonymisationError for a key shorter than 16 bytes."""
        if len(key) < MIN_KEY_BYTES:
            raise AnonymisationError(f"a pseudonym key has at least {MIN_KEY_BYTES} bytes")
        self._key = key
        self.dictionary = dictionary or Dictionary()
        self._index = _Index(self.dictionary)

    def __repr__(self) -> str:
        entries = len(self._index.tokens) + len(self._index.phrases)
        return f"Anonymiser(dictionary of {entries} entries)"

    @classmethod
    def for_organisation(
        cls,
        session: Session,
        organisation_id: int,
        *,
        extra: Dictionary | None = None,
        hide_organisation: bool = False,
    ) -> Anonymiser:
        """The anonymiser of an organisation: its key (created on first use) and dictionary.

        ``hide_organisation`` also pseudonymises the organisation's own name (publishing
        through a hub). Raises AnonymisationError if the organisation does not exist or its
        key cannot be unsealed.
        """
        key = pseudonym_key(session, organisation_id)
        dictionary = organisation_dictionary(
            session, organisation_id, hide_organisation=hide_organisation
        )
        return cls(key, dictionary.merged(extra) if extra is not None else dictionary)

    def with_dictionary(self, extra: Dictionary) -> Anonymiser:
        """The same key with ``extra`` entries added to the dictionary."""
        return Anonymiser(self._key, self.dictionary.merged(extra))

    def pseudonym(self, kind: Kind, value: str) -> str:
        """``[kind-xxxxxxxx]``: HMAC-SHA256 of the kind and the canonical value, truncated.

        ``value`` may be written in any form the rules recognise (see pii_patterns.canonical).
        """
        message = kind.value.encode("ascii") + b"\x00" + canonical(kind, value).encode("utf-8")
        digest = hmac.new(self._key, message, hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]
        return f"[{kind.value}-{digest}]"

    def derived_id(self, stix_id: str) -> str:
        """A STIX id of the same type, derived from ``stix_id`` under the key (a UUIDv4 form).

        Stable (a new version of the object gets the same new id) and unlinkable to the
        original without the key. Raises AnonymisationError for a malformed id.
        """
        object_type, sep, _ = stix_id.partition("--")
        if not sep or not object_type:
            raise AnonymisationError(f"not a STIX id: {stix_id!r}")
        digest = hmac.new(self._key, b"stix-id\x00" + stix_id.encode("utf-8"), hashlib.sha256)
        return f"{object_type}--{uuid.UUID(bytes=digest.digest()[:16], version=4)}"

    def matches(self, text: str, *, indicator: bool = False) -> list[Match]:
        """The spans that :meth:`redact` keeps or replaces, in text order."""
        index = self._index
        found: list[Match] = list(index.find(text))
        found.extend(find_keep(text))
        found.extend(find_addresses(text, index.networks))
        found.extend(find_macs(text))
        found.extend(find_internal_fqdns(text, index.domains))
        found.extend(find_paths(text))
        emails = find_emails(text)
        if indicator:
            found.extend(m for m in emails if self._own_email(m.value))
        else:
            found.extend(emails)
            found.extend(find_labelled(text))
            found.extend(find_national_ids(text))
            found.extend(find_titled_names(text))
            found.extend(find_netbios_hosts(text))
            found.extend(find_phones(text))
        return _select(found)

    def _own_email(self, address: str) -> bool:
        if address in self._index.emails:
            return True
        domain = address.rsplit("@", 1)[-1]
        labels = domain.split(".")
        suffixes = {".".join(labels[i:]) for i in range(len(labels))}
        return bool(suffixes & (INTERNAL_SUFFIXES | self._index.domains))

    def redact(
        self, text: str, *, indicator: bool = False, kinds: frozenset[Kind] | None = None
    ) -> Redaction:
        """``text`` with every identifier replaced by its pseudonym.

        ``indicator``: only the rules fit for indicator patterns and observable values.
        ``kinds``: replace only identifiers of these kinds (others are left as they are).
        """
        out: list[str] = []
        counts: Counter[Kind] = Counter()
        last = 0
        for m in self.matches(text, indicator=indicator):
            if m.kind is None or (kinds is not None and m.kind not in kinds):
                continue
            out.append(text[last : m.start])
            out.append(self.pseudonym(m.kind, m.value))
            counts[m.kind] += 1
            last = m.end
        out.append(text[last:])
        return Redaction(text="".join(out), counts=dict(counts))

    def text(self, text: str) -> str:
        """``text`` anonymised (the text rules)."""
        return self.redact(text).text


def organisation_dictionary(
    session: Session, organisation_id: int, *, hide_organisation: bool = False
) -> Dictionary:
    """The organisation's identifiers, read from the inventory and its members (read-only).

    Hosts: assets' host names and host-like asset names; addresses: the assets' IP addresses;
    domains: the parent domains of the assets' fully qualified host names; accounts: the
    inventory's accounts (display-name-like ones count as persons too); persons and e-mails:
    the organisation's platform users. With ``hide_organisation``, its name too.
    """
    hosts: set[str] = set()
    addresses: set[str] = set()
    domains: set[str] = set()
    for asset in list_assets(session, organisation_id):
        for name in (asset.hostname, asset.name):
            if not name or " " in name.strip():
                continue
            if name == asset.hostname or any(c.isdigit() or c in "-_." for c in name):
                hosts.add(name.strip())
        if asset.hostname and asset.hostname.count(".") >= 2:
            domains.add(asset.hostname.strip().split(".", 1)[1])
        addresses.update(a for a in asset.addresses if parse_address(a) is not None)
    accounts: set[str] = set()
    persons: set[str] = set()
    for name in session.execute(
        select(Account.name).where(Account.organisation_id == organisation_id)
    ).scalars():
        if " " in name.strip():
            persons.add(name.strip())
        else:
            accounts.add(name.strip())
    emails: set[str] = set()
    for display_name, email in session.execute(
        select(User.display_name, User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.organisation_id == organisation_id)
    ):
        emails.add(email)
        if len(_NAME_WORD.findall(display_name)) >= 2:
            persons.add(display_name)
    organisation_names: frozenset[str] = frozenset()
    if hide_organisation:
        organisation = session.get(Organisation, organisation_id)
        if organisation is not None:
            organisation_names = frozenset({organisation.name})
    return Dictionary(
        persons=frozenset(persons),
        hosts=frozenset(hosts),
        accounts=frozenset(accounts),
        emails=frozenset(emails),
        addresses=frozenset(addresses),
        domains=frozenset(domains),
        organisation_names=organisation_names,
    )


# Properties copied as they are: identity and references, timestamps, STIX vocabularies and
# enumerations, hashes, external ids. Everything else (custom properties included) is text.
KEEP_PROPERTIES = frozenset(
    {
        "type",
        "spec_version",
        "id",
        "created",
        "modified",
        "valid_from",
        "valid_until",
        "first_seen",
        "last_seen",
        "first_observed",
        "last_observed",
        "published",
        "start_time",
        "stop_time",
        "start",
        "stop",
        "ctime",
        "mtime",
        "atime",
        "date",
        "lang",
        "confidence",
        "revoked",
        "pattern_type",
        "pattern_version",
        "extension_type",
        "extension_types",
        "definition_type",
        "relationship_type",
        "identity_class",
        "indicator_types",
        "malware_types",
        "tool_types",
        "threat_actor_types",
        "infrastructure_types",
        "report_types",
        "context",
        "opinion",
        "sectors",
        "roles",
        "sophistication",
        "resource_level",
        "primary_motivation",
        "secondary_motivations",
        "personal_motivations",
        "is_family",
        "is_multiple",
        "is_active",
        "number_observed",
        "kill_chain_name",
        "phase_name",
        "source_name",
        "external_id",
        "hashes",
        "mime_type",
        "protocols",
        "encryption_algorithm",
        "selectors",
        "schema",
        "version",
        "tlp_2_0",
        "implementation_languages",
        "architecture_execution_envs",
        "capabilities",
    }
)
# Properties that hold indicators: only the indicator rules apply.
_INDICATOR_PROPERTIES = frozenset({"pattern", "url"})
_OBSERVABLE_VALUE_TYPES = frozenset(
    {"ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "mac-addr"}
)


def _keep(key: str) -> bool:
    return key in KEEP_PROPERTIES or key.endswith(("_ref", "_refs"))


def _walk(value: Any, anonymiser: Anonymiser, object_type: str, indicator: bool, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise AnonymisationError(f"{object_type} nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        return anonymiser.redact(value, indicator=indicator).text
    if isinstance(value, list):
        return [_walk(v, anonymiser, object_type, indicator, depth + 1) for v in value]
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise AnonymisationError(f"{object_type} has a non-string property name")
            if key == SIGNATURE_PROPERTY:
                continue  # the content changes: the publisher signs the anonymised object
            if _keep(key):
                out[key] = copy.deepcopy(item)
                continue
            as_indicator = (
                indicator
                or key in _INDICATOR_PROPERTIES
                or (key == "value" and object_type in _OBSERVABLE_VALUE_TYPES)
            )
            out[key] = _walk(item, anonymiser, object_type, as_indicator, depth + 1)
        return out
    if value is None or isinstance(value, bool | int | float):
        return value
    raise AnonymisationError(f"{object_type} holds a {type(value).__name__}, not JSON")


def anonymise_object(obj: Mapping[str, Any], anonymiser: Anonymiser) -> dict[str, Any]:
    """A copy of the STIX object (a JSON dict) with every identifier pseudonymised.

    Ids, references, timestamps, vocabularies, hashes and external ids are kept as they are;
    patterns, URLs and observable values get the indicator rules; every other string (names,
    descriptions, custom properties, nested extensions) the text rules. The publisher's
    signature property is dropped: the anonymised object is a new content to sign.

    Raises InternalObservableError for a cyber-observable whose values would change (its id
    would reveal them: see :func:`anonymise_objects`), AnonymisationError for something that is
    not JSON or nests deeper than 32 levels.
    """
    object_type = str(obj.get("type", "object"))
    result = _walk(obj, anonymiser, object_type, False, 0)
    assert isinstance(result, dict)
    if object_type in OBSERVABLE_TYPES and _changed(obj, result):
        raise InternalObservableError(
            f"{obj.get('id', object_type)} describes the organisation's own network or people: "
            "an observable's id is a UUIDv5 of its values (STIX 2.1 section 2.9), which anyone "
            "can recompute from a guess, so it is withheld, not pseudonymised "
            "(anonymise_objects leaves it out)"
        )
    return result


def _changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    return {k: v for k, v in before.items() if k != SIGNATURE_PROPERTY} != after


@dataclass(frozen=True)
class AnonymisedObjects:
    """The objects to share, and the ids withheld (internal observables and what needs them).

    ``withheld`` stays inside the organisation (the ids of internal observables reveal them).
    """

    objects: list[dict[str, Any]]
    withheld: frozenset[str]


def _drop_refs(value: Any, withheld: frozenset[str], key: str = "") -> tuple[Any, bool]:
    """``value`` without references to withheld ids; True if a reference it needs is gone."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        broken = False
        for k, v in value.items():
            if isinstance(v, str) and k.endswith("_ref") and v in withheld:
                broken = True
                continue
            if isinstance(v, list) and k.endswith("_refs"):
                kept = [r for r in v if r not in withheld]
                broken = broken or (bool(v) and not kept)
                out[k] = kept
                continue
            out[k], inner = _drop_refs(v, withheld, k)
            broken = broken or inner
        return out, broken
    if isinstance(value, list):
        items = [_drop_refs(v, withheld, key) for v in value]
        return [v for v, _ in items], any(b for _, b in items)
    return value, False


def anonymise_objects(
    objects: Iterable[Mapping[str, Any]], anonymiser: Anonymiser
) -> AnonymisedObjects:
    """:func:`anonymise_object` over a batch, withholding what cannot be shared.

    Observables whose values are the organisation's own (a private address, an internal host,
    a staff account) are left out, since their ids would reveal them; references to them are
    removed from ``*_refs`` lists, and an object that loses a reference it needs (a single
    ``*_ref``, or a ``*_refs`` list left empty) is left out too, until nothing changes.
    """
    anonymised: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    withheld: set[str] = set()
    for index, obj in enumerate(objects):
        key = str(obj.get("id", f"#{index}"))
        order.append(key)
        try:
            anonymised[key] = anonymise_object(obj, anonymiser)
        except InternalObservableError:
            withheld.add(key)
    for _ in range(len(order) + 1):
        before = len(withheld)
        frozen = frozenset(withheld)
        for key in order:
            if key in withheld:
                continue
            cleaned, broken = _drop_refs(anonymised[key], frozen)
            if broken:
                withheld.add(key)
            else:
                anonymised[key] = cleaned
        if len(withheld) == before:
            break
    return AnonymisedObjects(
        objects=[anonymised[k] for k in order if k not in withheld],
        withheld=frozenset(withheld),
    )


def identifiers_in(text: str, anonymiser: Anonymiser) -> list[tuple[Kind, str]]:
    """The identifiers the anonymiser would replace in ``text`` (kind, text as written).

    For a reviewer's preview inside the organisation: these values never leave it.
    """
    return [(m.kind, text[m.start : m.end]) for m in anonymiser.matches(text) if m.kind is not None]
