"""Per-object signatures: RFC 8785 canonical JSON, detached JWS (Ed25519, ES256)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import rfc8785
import stix2
from hypothesis import given, settings
from hypothesis import strategies as st

from panacea.sharing.errors import SigningKeyError, VerificationError
from panacea.sharing.signing import (
    BAD_SIGNATURE,
    EXTENSION_DEFINITION_ID,
    MALFORMED_SIGNATURE,
    SIGNATURE_PROPERTY,
    UNSIGNED,
    WRONG_PUBLISHER,
    TrustedKey,
    canonical_bytes,
    extension_definition,
    public_key_from_jwk,
    signature_kid,
    verify_object,
)
from tests.sharing.taxii_world import Publisher, indicator, observable


def _segment(header: Any) -> str:
    raw = json.dumps(header).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def trusted(publisher: Publisher, *, may_republish: bool = False) -> TrustedKey:
    public = public_key_from_jwk(publisher.key.as_dict(private=False))
    return TrustedKey(
        kid=publisher.signer.kid,
        identity_ref=publisher.identity_ref,
        key=public,
        may_republish=may_republish,
    )


def reason_of(obj: dict[str, Any], key: TrustedKey) -> str:
    with pytest.raises(VerificationError) as caught:
        verify_object(obj, key)
    return caught.value.reason


@pytest.mark.parametrize(("curve", "alg"), [("Ed25519", "Ed25519"), ("P-256", "ES256")])
def test_round_trip(curve: str, alg: str) -> None:
    publisher = Publisher.new(curve=curve)
    original = indicator(publisher.identity_ref)
    signed = publisher.sign(original)
    header_b64, payload, signature = signed[SIGNATURE_PROPERTY].split(".")
    assert payload == ""  # detached content, RFC 7515 Appendix F
    assert signature
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    assert header == {"alg": alg, "kid": publisher.signer.kid}
    assert signature_kid(signed) == publisher.signer.kid
    assert signed["extensions"] == {
        EXTENSION_DEFINITION_ID: {"extension_type": "toplevel-property-extension"}
    }
    assert {k: v for k, v in signed.items() if k not in {SIGNATURE_PROPERTY, "extensions"}} == (
        original
    )
    assert verify_object(signed, trusted(publisher)) == canonical_bytes(signed)
    # Still a valid STIX 2.1 object for the stix2 library (a toplevel-property extension).
    assert isinstance(stix2.parse(signed), stix2.v21.Indicator)
    assert stix2.parse(extension_definition())["extension_properties"] == [SIGNATURE_PROPERTY]


def test_any_change_breaks_the_signature() -> None:
    publisher = Publisher.new()
    signed = publisher.sign(indicator(publisher.identity_ref))
    key = trusted(publisher)
    changes: list[dict[str, Any]] = [
        {"pattern": "[ipv4-addr:value = '192.0.2.1']"},
        {"confidence": 81},
        {"labels": ["benign"]},
        {"modified": "2026-01-05T08:00:00.001Z"},
        {"object_marking_refs": ["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"]},
        {"extensions": {}},
        {"x_extra": True},
    ]
    for change in changes:
        assert reason_of({**signed, **change}, key) == BAD_SIGNATURE, change
    # Removing a property is a change too.
    assert reason_of({k: v for k, v in signed.items() if k != "name"}, key) == BAD_SIGNATURE
    # Key order and whitespace are not: the canonical form is what is signed.
    reordered = json.loads(json.dumps(dict(reversed(list(signed.items()))), indent=2))
    verify_object(reordered, key)


def test_who_may_sign_what() -> None:
    origin = Publisher.new()
    hub = Publisher.new()
    signed_by_hub = hub.sign(origin.sign(indicator(origin.identity_ref)))
    assert reason_of(signed_by_hub, trusted(hub)) == WRONG_PUBLISHER
    verify_object(signed_by_hub, trusted(hub, may_republish=True))
    # An observable has no created_by_ref: the key's identity is its publisher.
    verify_object(origin.sign(observable(1)), trusted(origin))
    # The same kid, another key (a forged registration or a key mix-up): does not verify.
    impostor = Publisher.new(curve="P-256")
    forged = TrustedKey(
        kid=origin.signer.kid,
        identity_ref=origin.identity_ref,
        key=public_key_from_jwk(impostor.key.as_dict(private=False)),
    )
    assert reason_of(origin.sign(indicator(origin.identity_ref)), forged) == BAD_SIGNATURE


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, UNSIGNED),
        (42, MALFORMED_SIGNATURE),
        ("a.b.c", MALFORMED_SIGNATURE),  # content not detached
        ("a..", MALFORMED_SIGNATURE),
        ("!!..abc", MALFORMED_SIGNATURE),
        ("eyJhbGciOiJub25lIiwia2lkIjoieCJ9..c2ln", MALFORMED_SIGNATURE),  # alg none
        ("eyJhbGciOiJIUzI1NiIsImtpZCI6IngifQ..c2ln", MALFORMED_SIGNATURE),  # alg HS256
        ("eyJhbGciOiJFZDI1NTE5In0..c2ln", MALFORMED_SIGNATURE),  # no kid
        (  # RFC 7797 unencoded payload: another signing input
            _segment({"alg": "Ed25519", "kid": "k", "b64": False, "crit": ["b64"]}) + "..c2ln",
            MALFORMED_SIGNATURE,
        ),
        (_segment(["alg", "Ed25519"]) + "..c2ln", MALFORMED_SIGNATURE),
    ],
)
def test_malformed_signatures(signature: Any, reason: str) -> None:
    obj = indicator(Publisher.new().identity_ref)
    if signature is not None:
        obj[SIGNATURE_PROPERTY] = signature
    with pytest.raises(VerificationError) as caught:
        signature_kid(obj)
    assert caught.value.reason == reason


def test_public_keys_only() -> None:
    publisher = Publisher.new()
    with pytest.raises(SigningKeyError, match="private part"):
        public_key_from_jwk(publisher.key.as_dict(private=True))
    with pytest.raises(SigningKeyError, match="key type"):
        public_key_from_jwk({"kty": "oct", "k": "c2VjcmV0"})
    with pytest.raises(SigningKeyError, match="unsupported signing key"):
        public_key_from_jwk(
            {"kty": "OKP", "crv": "X25519", "x": "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}
        )


def test_rfc_8785_example() -> None:
    """RFC 8785 section 3.2.4: sorting, number and string forms (the rfc8785 path)."""
    value = json.loads(
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_bytes(value) == expected.encode("utf-8")


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.sampled_from([2**53 - 1, 2**53, -(2**53 - 1), -(2**53)])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _json, max_size=6))
def test_fast_path_is_rfc_8785(value: dict[str, Any]) -> None:
    """The standard-library path gives RFC 8785's bytes wherever it is taken."""
    value.pop(SIGNATURE_PROPERTY, None)
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        with pytest.raises(VerificationError):
            canonical_bytes(value)
        return
    assert canonical_bytes(value) == expected


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": [1, "x"]}
    for _ in range(depth):
        value = {"inner": value}
    return value


@pytest.mark.parametrize(
    "value",
    [
        # Every control character, DEL, the line and paragraph separators, quotes, slashes.
        {"text": "".join(map(chr, range(0x20))) + "\x7f\u2028\u2029\"'\\/"},
        # Beyond ASCII, in and beyond the Basic Multilingual Plane; keys in code-point order.
        {"b": "Hôpital 病院 😀", "a": ["é", {"Z": "z", "_": None, "a": True}], "A": False},
        # The integers at the edge of RFC 8785's number domain, nested lists.
        {"n": [2**53 - 1, -(2**53 - 1), 0, [[-1]]], "m": {"k": [False, None]}},
        # Deeper than orjson nests (255): the reference serialises it.
        _nested(300),
    ],
    ids=["controls", "unicode", "integers", "deep"],
)
def test_canonical_form_is_rfc_8785(value: dict[str, Any]) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "value",
    [
        {"name": "lone \ud800 surrogate"},
        {"list": ["\udfff"]},
        # Past the safe integers (rfc8785 refuses 2^53 itself, which a double holds exactly).
        {"big": 2**53},
        {"big": [-(2**53)]},
        {"big": 2**53 + 1},
        {"float": float("nan")},
    ],
)
def test_values_without_canonical_form(value: dict[str, Any]) -> None:
    with pytest.raises(VerificationError) as caught:
        canonical_bytes(value)
    assert caught.value.reason == MALFORMED_SIGNATURE
