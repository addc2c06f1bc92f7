"""Signing and verifying STIX objects one by one: RFC 8785 canonical JSON, detached JWS.

Each object is signed on its own, because TAXII stores, pages and filters objects one by one:
a bundle-level signature would not survive a ``limit=10`` page or a ``match[type]`` filter.

What is signed (the contract a peer re-implements):

1. The object as a JSON object, without the property :data:`SIGNATURE_PROPERTY`, in the JSON
   Canonicalization Scheme of RFC 8785 (keys sorted by UTF-16 code units, no whitespace,
   ECMAScript number and string forms), UTF-8 encoded. The object carries, before signing,
   ``extensions[EXTENSION_DEFINITION_ID] = {"extension_type": "toplevel-property-extension"}``
   (STIX 2.1 section 7.3), so the marker is covered by the signature too.
2. A JWS (RFC 7515) over those bytes with the protected header ``{"alg", "kid"}``: ``alg`` is
   ``Ed25519`` (EdDSA on edwards25519, RFC 8032, named as RFC 9864's fully-specified
   algorithm) or ``ES256`` (ECDSA P-256 SHA-256, RFC 7518 section 3.4); ``kid`` is the RFC 7638
   JWK thumbprint (SHA-256) of the signer's public key.
3. The JWS compact serialisation with the payload left out (detached content, RFC 7515
   Appendix F): ``BASE64URL(header) + ".." + BASE64URL(signature)``, stored in the top-level
   property :data:`SIGNATURE_PROPERTY` of the object.

The verifier recomputes the canonical bytes from the object it received, so any change to any
property (a value, a reference, a marking, the publisher) breaks the signature.

Canonicalisation: the ``rfc8785`` package is the reference. The common case (every key ASCII,
no float, integers of magnitude below 2^53, no lone surrogate) is serialised by ``orjson``
instead (five times faster than the standard library's encoder, which was most of the cost),
which yields the same bytes there: for such values RFC 8785's key order is code-point order
(the same for every ordering of ASCII keys), its number form is the decimal integer, and its
string escapes (section 3.2.2.2: the two-character escapes for backspace, tab, line feed, form
feed, carriage return, quote and backslash, a lower-case six-character escape for the other
controls, everything else as UTF-8) are orjson's; tests check the two paths agree. orjson
refuses a lone surrogate (and nesting deeper than 255): such a value goes to ``rfc8785``, as
does anything else outside the common case.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
import rfc8785
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey
from joserfc.util import json_b64decode, urlsafe_b64decode, urlsafe_b64encode

from panacea.sharing.errors import SigningKeyError, VerificationError

SIGNATURE_PROPERTY: Final = "x_panacea_signature"
# The STIX extension-definition object that documents SIGNATURE_PROPERTY (a fixed id, so that
# every PANACEA instance and peer names the same definition).
EXTENSION_DEFINITION_ID: Final = "extension-definition--92cbcf05-0387-450d-8cb4-8033079dc22d"
# The identity that created the extension definition: the PANACEA project itself.
PANACEA_PROJECT_IDENTITY: Final = "identity--829321d9-a517-48fb-a83e-e40df1854ebd"
EXTENSION_TYPE: Final = "toplevel-property-extension"
ALGORITHMS: Final = ("Ed25519", "ES256")
# A detached compact JWS (header, empty payload, signature) is ~150 characters; anything much
# longer is not one of ours and is refused before it is decoded.
_MAX_SIGNATURE_CHARS = 2000
_REGISTRY = jws.JWSRegistry(algorithms=list(ALGORITHMS))
# RFC 8785 section 3.2.2.3: numbers are IEEE 754 doubles; the fast path writes only the safe
# integers (|n| < 2^53, ECMAScript's Number.isSafeInteger) as plain integers, the domain the
# reference accepts (rfc8785 refuses 2^53 itself, which the fast path used to write).
_SAFE_INT = 2**53
PublicKey = OKPKey | ECKey

# Reason codes of a signature that does not verify (also the quarantine reasons).
UNSIGNED: Final = "unsigned"
MALFORMED_SIGNATURE: Final = "malformed-signature"
UNKNOWN_KEY: Final = "unknown-key"
WRONG_PUBLISHER: Final = "wrong-publisher"
BAD_SIGNATURE: Final = "bad-signature"


def extension_definition() -> dict[str, Any]:
    """The STIX 2.1 extension-definition object (section 7.3) of :data:`SIGNATURE_PROPERTY`."""
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": EXTENSION_DEFINITION_ID,
        "created_by_ref": PANACEA_PROJECT_IDENTITY,
        "created": "2026-11-29T00:00:00.000Z",
        "modified": "2026-11-29T00:00:00.000Z",
        "name": "PANACEA per-object signature",
        "description": (
            f"The top-level property {SIGNATURE_PROPERTY} holds a detached JWS compact "
            "serialisation (RFC 7515 Appendix F) over the RFC 8785 canonical JSON of the object "
            f"without {SIGNATURE_PROPERTY}; the protected header names the algorithm (Ed25519 "
            "or ES256) and the signer's key by its RFC 7638 thumbprint (kid)."
        ),
        "schema": "PANACEA platform, docs/sharing-taxii.md, section Signatures",
        "version": "1.0.0",
        "extension_types": [EXTENSION_TYPE],
        "extension_properties": [SIGNATURE_PROPERTY],
    }


def canonical_bytes(obj: Mapping[str, Any]) -> bytes:
    """RFC 8785 canonical UTF-8 JSON of ``obj`` without :data:`SIGNATURE_PROPERTY`.

    Raises VerificationError(MALFORMED_SIGNATURE) if the object cannot be canonicalised
    (a value JSON cannot carry, such as NaN or a lone surrogate).
    """
    unsigned = {k: v for k, v in obj.items() if k != SIGNATURE_PROPERTY}
    try:
        if _plain(unsigned):
            try:
                return orjson.dumps(unsigned, option=orjson.OPT_SORT_KEYS)
            except orjson.JSONEncodeError:
                pass  # a lone surrogate or very deep nesting: the reference decides
        return rfc8785.dumps(unsigned)
    except (rfc8785.CanonicalizationError, ValueError, TypeError) as e:
        raise VerificationError(
            MALFORMED_SIGNATURE, f"object {obj.get('id', '?')} has no canonical JSON form: {e}"
        ) from e


def _plain(value: Any) -> bool:
    """True if ``value`` is in the subset where orjson's bytes equal RFC 8785's (see above),
    strings with a lone surrogate aside (orjson refuses them).

    Members that are strings, null, booleans or integers are checked in the loop, without a
    call each: this runs on every property of every object received.
    """
    kind = type(value)
    if kind is dict:
        for key in value:
            if type(key) is not str or not key.isascii():
                return False
        return _plain_items(value.values())
    if kind is list:
        return _plain_items(value)
    return _plain_items((value,))


def _plain_items(items: Iterable[Any]) -> bool:
    for item in items:
        kind = type(item)
        if kind is str or item is None or kind is bool:
            continue
        if kind is int:
            if not -_SAFE_INT < item < _SAFE_INT:
                return False
        elif kind is dict or kind is list:
            if not _plain(item):
                return False
        else:
            return False
    return True


@dataclass(frozen=True)
class SignerKey:
    """A private key that signs for one STIX identity (an organisation's ``identity--``)."""

    identity_ref: str
    key: PublicKey = field(repr=False)

    @property
    def kid(self) -> str:
        return key_id(self.key)

    @property
    def algorithm(self) -> str:
        return algorithm_of(self.key)


@dataclass(frozen=True)
class TrustedKey:
    """A public key registered for a STIX identity; ``may_republish``: a hub's key, which may
    sign objects that other identities created (after verifying them)."""

    kid: str
    identity_ref: str
    key: PublicKey = field(repr=False)
    may_republish: bool = False


def key_id(key: PublicKey) -> str:
    """The kid of a key: its RFC 7638 JWK thumbprint (SHA-256, base64url)."""
    return str(key.thumbprint())


def algorithm_of(key: PublicKey) -> str:
    """The JWS algorithm a key signs with. Raises SigningKeyError for an unsupported key."""
    if isinstance(key, OKPKey) and key.curve_name == "Ed25519":
        return "Ed25519"
    if isinstance(key, ECKey) and key.curve_name == "P-256":
        return "ES256"
    raise SigningKeyError(
        f"unsupported signing key {key.key_type}/{getattr(key, 'curve_name', '?')}: "
        "use Ed25519 (OKP) or P-256 (EC)"
    )


def public_key_from_jwk(jwk: Mapping[str, Any]) -> PublicKey:
    """A public key from its JWK (RFC 7517). Raises SigningKeyError if malformed or private."""
    if "d" in jwk:
        raise SigningKeyError("a peer key must be a public JWK: it holds the private part 'd'")
    kty = jwk.get("kty")
    try:
        key: PublicKey
        if kty == "OKP":
            key = OKPKey.import_key(dict(jwk))
        elif kty == "EC":
            key = ECKey.import_key(dict(jwk))
        else:
            raise SigningKeyError(f"unsupported JWK key type {kty!r}: use OKP or EC")
    except (JoseError, ValueError, TypeError) as e:
        raise SigningKeyError(f"malformed public JWK: {e}") from e
    algorithm_of(key)
    return key


def sign_object(obj: Mapping[str, Any], signer: SignerKey) -> dict[str, Any]:
    """A copy of ``obj`` with the extension marker and a fresh :data:`SIGNATURE_PROPERTY`.

    Raises SigningKeyError if the key cannot sign, VerificationError(MALFORMED_SIGNATURE) if
    the object has no canonical form.
    """
    signed = {k: v for k, v in obj.items() if k != SIGNATURE_PROPERTY}
    extensions = dict(signed.get("extensions") or {})
    extensions[EXTENSION_DEFINITION_ID] = {"extension_type": EXTENSION_TYPE}
    signed["extensions"] = extensions
    header = {"alg": signer.algorithm, "kid": signer.kid}
    try:
        compact = jws.serialize_compact(
            header, canonical_bytes(signed), signer.key, registry=_REGISTRY
        )
    except JoseError as e:
        raise SigningKeyError(f"cannot sign with key {signer.kid}: {e}") from e
    signed[SIGNATURE_PROPERTY] = jws.detach_content(compact)
    return signed


@dataclass(frozen=True)
class ReadSignature:
    """An object's signature, parsed (not yet verified): the algorithm and key it names, its
    segments, and the canonical bytes it claims to sign."""

    alg: str
    kid: str
    header_segment: bytes
    signature: bytes = field(repr=False)
    payload: bytes = field(repr=False)


@functools.lru_cache(maxsize=1024)
def _protected_header(segment: str) -> tuple[str, str]:
    """(alg, kid) of a protected header segment, checked once per distinct header (a publisher
    signs every object with the same header). Raises JoseError or ValueError if unreadable,
    VerificationError if it is not one this platform verifies."""
    header = json_b64decode(segment.encode("ascii"))
    if not isinstance(header, dict):
        raise ValueError("the protected header is not a JSON object")
    _REGISTRY.check_header(header)
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALGORITHMS:
        raise VerificationError(MALFORMED_SIGNATURE, f"signature uses alg {alg!r}")
    # RFC 7797's unencoded payload ("b64": false) or any critical extension would change what
    # is signed: only the plain RFC 7515 form is accepted.
    if "b64" in header or "crit" in header:
        raise VerificationError(MALFORMED_SIGNATURE, "signature header has b64 or crit")
    if not isinstance(kid, str) or not 1 <= len(kid) <= 200:
        raise VerificationError(MALFORMED_SIGNATURE, "signature names no key (kid)")
    return alg, kid


def read_signature(obj: Mapping[str, Any]) -> ReadSignature:
    """Parse an object's signature: header (alg, kid), signature bytes, canonical payload.

    Raises VerificationError(UNSIGNED) if there is no signature, (MALFORMED_SIGNATURE) if it is
    not a detached compact JWS with a supported ``alg`` and a ``kid``, or the object has no
    canonical form.
    """
    where = obj.get("id", "?")
    value = obj.get(SIGNATURE_PROPERTY)
    if value is None:
        raise VerificationError(UNSIGNED, f"object {where} is not signed ({SIGNATURE_PROPERTY})")
    if not isinstance(value, str) or len(value) > _MAX_SIGNATURE_CHARS:
        raise VerificationError(MALFORMED_SIGNATURE, f"signature of {where} is not a string JWS")
    parts = value.split(".")
    if len(parts) != 3 or parts[1] != "" or not parts[0] or not parts[2]:
        raise VerificationError(
            MALFORMED_SIGNATURE, f"signature of {where} is not a detached compact JWS (a..c)"
        )
    try:
        alg, kid = _protected_header(parts[0])
        signature = urlsafe_b64decode(parts[2].encode("ascii"))
    except VerificationError as e:
        raise VerificationError(e.reason, f"{e} ({where})") from e
    except (JoseError, ValueError, TypeError, UnicodeEncodeError) as e:
        raise VerificationError(
            MALFORMED_SIGNATURE, f"signature of {where} is unreadable: {e}"
        ) from e
    return ReadSignature(
        alg=alg,
        kid=kid,
        header_segment=parts[0].encode("ascii"),
        signature=signature,
        payload=canonical_bytes(obj),
    )


def signature_kid(obj: Mapping[str, Any]) -> str:
    """The kid named by an object's signature (not yet verified); see :func:`read_signature`."""
    return read_signature(obj).kid


def check_signature(obj: Mapping[str, Any], read: ReadSignature, trusted: TrustedKey) -> None:
    """Verify a read signature with ``trusted`` (the key its kid named).

    The key must belong to the object's publisher (``created_by_ref``), or be a hub's key that
    may re-publish; an object without ``created_by_ref`` (cyber-observables, marking
    definitions) is attributed to the key's identity. The JWS signing input is rebuilt from the
    header segment received and the canonical payload (RFC 7515 section 5.2, detached content
    as in Appendix F) and checked by joserfc's algorithm for the key. Raises VerificationError
    with the reason (WRONG_PUBLISHER, BAD_SIGNATURE).
    """
    where = obj.get("id", "?")
    publisher = obj.get("created_by_ref")
    if publisher is not None and publisher != trusted.identity_ref and not trusted.may_republish:
        raise VerificationError(
            WRONG_PUBLISHER,
            f"object {where} is published by {publisher} but signed by key {trusted.kid} "
            f"of {trusted.identity_ref}",
        )
    signing_input = read.header_segment + b"." + urlsafe_b64encode(read.payload)
    try:
        algorithm = _REGISTRY.get_alg(read.alg)
        algorithm.check_key(trusted.key)
        valid = algorithm.verify(signing_input, read.signature, trusted.key)
    except JoseError as e:
        raise VerificationError(
            BAD_SIGNATURE, f"signature of {where} does not verify with key {trusted.kid}: {e}"
        ) from e
    if not valid:
        raise VerificationError(
            BAD_SIGNATURE, f"signature of {where} does not verify with key {trusted.kid}"
        )


def verify_object(obj: Mapping[str, Any], trusted: TrustedKey) -> bytes:
    """Read and verify ``obj``'s signature with ``trusted``; return the canonical bytes signed.

    Raises VerificationError with the reason (see :func:`read_signature` and
    :func:`check_signature`).
    """
    read = read_signature(obj)
    check_signature(obj, read, trusted)
    return read.payload


def stored_json(obj: Mapping[str, Any], payload: bytes) -> str:
    """The JSON text of a signed object from its canonical bytes (no second serialisation):
    the canonical members, then the signature. The same object, members in another order."""
    signature = json.dumps(obj[SIGNATURE_PROPERTY], ensure_ascii=True)
    return payload.decode("utf-8")[:-1] + f',"{SIGNATURE_PROPERTY}":{signature}}}'
