"""Canonical CPE names and package URLs as importers store them."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from packageurl import PackageURL

from panacea.inventory.importers.identifiers import canonical_cpe, canonical_purl, purl_version


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        (
            "cpe:2.3:o:windriver:vxworks:6.9.4:*:*:*:*:*:*:*",
            "cpe:2.3:o:windriver:vxworks:6.9.4:*:*:*:*:*:*:*",
        ),
        ("CPE:2.3:A:OFFIS:DCMTK:3.6.6", "cpe:2.3:a:offis:dcmtk:3.6.6:*:*:*:*:*:*:*"),
        (
            "cpe:/o:linux:linux_kernel:3.10.108",
            "cpe:2.3:o:linux:linux_kernel:3.10.108:*:*:*:*:*:*:*",
        ),
        ("cpe:2.3:a:treck:tcp\\/ip:6.0.1.66", "cpe:2.3:a:treck:tcp\\/ip:6.0.1.66:*:*:*:*:*:*:*"),
    ],
)
def test_canonical_cpe(text: str, canonical: str) -> None:
    assert canonical_cpe(text) == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Windows 10", "not a CPE name"),
        ("cpe:/", "needs a vendor and a product"),
        ("cpe:2.3:a:-:dcmtk:3.6.6", "needs a vendor and a product"),
        ("cpe:2.3:q:offis:dcmtk:3.6.6", "part must be a, o or h"),
    ],
)
def test_not_a_cpe(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        canonical_cpe(text)


@pytest.mark.parametrize(
    ("text", "canonical", "version"),
    [
        ("pkg:generic/dcmtk@3.6.6", "pkg:generic/dcmtk@3.6.6", "3.6.6"),
        ("pkg:npm/%40angular/core@1.0", "pkg:npm/%40angular/core@1.0", "1.0"),
        ("pkg:maven/log4j-core", "pkg:maven/log4j-core", None),
        ("pkg:generic/a b@1", "pkg:generic/a%20b@1", "1"),
    ],
)
def test_canonical_purl(text: str, canonical: str, version: str | None) -> None:
    assert canonical_purl(text) == canonical
    assert purl_version(canonical) == version


@pytest.mark.parametrize("text", ["maven/log4j-core@2.14.1", "pkg:npm", "pkg:x/y@1?a"])
def test_not_a_purl(text: str) -> None:
    with pytest.raises(ValueError, match="not a package URL"):
        canonical_purl(text)


NAME = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12)


@given(
    part=st.sampled_from("aoh"),
    vendor=NAME.filter(lambda s: s not in ("*", "-") and ":" not in s and "\\" not in s),
    product=NAME.filter(lambda s: s not in ("*", "-") and ":" not in s and "\\" not in s),
    version=NAME.filter(lambda s: ":" not in s and "\\" not in s),
)
def test_canonical_cpe_is_idempotent(part: str, vendor: str, product: str, version: str) -> None:
    once = canonical_cpe(f"cpe:2.3:{part}:{vendor}:{product}:{version}")
    assert canonical_cpe(once) == once
    assert once.startswith(f"cpe:2.3:{part}:")


@given(
    purl_type=st.sampled_from(["generic", "npm", "pypi", "maven", "deb"]),
    name=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x24F), min_size=1, max_size=20),
    version=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=10),
)
def test_canonical_purl_is_idempotent(purl_type: str, name: str, version: str) -> None:
    namespace = "org.example" if purl_type == "maven" else None
    try:
        text = PackageURL(
            type=purl_type, namespace=namespace, name=name, version=version
        ).to_string()
    except (ValueError, TypeError):
        # packageurl-python refuses (or fails on) some names when writing: nothing to parse then.
        assume(False)
        return
    try:
        once = canonical_purl(text)
    except ValueError:
        assume(False)  # a name packageurl-python cannot write back, refused with a clear error
        return
    assert canonical_purl(once) == once
