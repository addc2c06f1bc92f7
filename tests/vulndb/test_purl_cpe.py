"""Package URLs to the CPE names NVD uses."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from panacea.inventory.overrides import PurlCpeRule
from panacea.inventory.service import ensure_organisation
from panacea.vulndb.purl_cpe import (
    CURATED,
    PurlCpeMapping,
    PurlCpeTable,
    PurlError,
    organisation_table,
    upstream_version,
)

CURATED_TABLE = PurlCpeTable(CURATED)


@pytest.mark.parametrize(
    ("purl", "expected"),
    [
        (
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1?type=jar",
            ["cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*"],
        ),
        ("pkg:maven/org.apache.logging.log4j/log4j-api@2.14.1", []),  # not the vulnerable jar
        (
            "pkg:maven/org.apache.activemq/activemq-client@5.17.3",
            ["cpe:2.3:a:apache:activemq:5.17.3:*:*:*:*:*:*:*"],
        ),
        (
            "pkg:github/nextgenhealthcare/connect@4.3.0",
            ["cpe:2.3:a:nextgen:mirth_connect:4.3.0:*:*:*:*:*:*:*"],
        ),
        (
            "pkg:generic/mirth-connect@4.4.0",
            ["cpe:2.3:a:nextgen:mirth_connect:4.4.0:*:*:*:*:*:*:*"],
        ),
        ("pkg:generic/dcmtk@3.6.6", ["cpe:2.3:a:offis:dcmtk:3.6.6:*:*:*:*:*:*:*"]),
        ("pkg:deb/debian/dcmtk@3.6.7-9", ["cpe:2.3:a:offis:dcmtk:3.6.7:*:*:*:*:*:*:*"]),
        (
            "pkg:deb/debian/openssh-server@1:8.5p1-1?arch=amd64&distro=debian-11",
            ["cpe:2.3:a:openbsd:openssh:8.5p1:*:*:*:*:*:*:*"],
        ),
        (
            "pkg:deb/ubuntu/openssh-server@1:8.9p1-3ubuntu0.10",
            ["cpe:2.3:a:openbsd:openssh:8.9p1:*:*:*:*:*:*:*"],
        ),
        ("pkg:generic/openssl@1.0.2k", ["cpe:2.3:a:openssl:openssl:1.0.2k:*:*:*:*:*:*:*"]),
        (
            "pkg:rpm/redhat/openssl-libs@1.1.1k-7.el8",
            ["cpe:2.3:a:openssl:openssl:1.1.1k:*:*:*:*:*:*:*"],
        ),
        ("pkg:deb/debian/apache2@2.4.49-1", ["cpe:2.3:a:apache:http_server:2.4.49:*:*:*:*:*:*:*"]),
        (
            "pkg:generic/nginx@1.18.0",
            [
                "cpe:2.3:a:f5:nginx:1.18.0:*:*:*:*:*:*:*",
                "cpe:2.3:a:nginx:nginx:1.18.0:*:*:*:*:*:*:*",
            ],
        ),
        ("pkg:npm/jquery@3.4.1", ["cpe:2.3:a:jquery:jquery:3.4.1:*:*:*:*:*:*:*"]),
        ("pkg:pypi/jquery@3.4.1", []),  # the npm mapping does not leak to other ecosystems
        ("pkg:generic/treck-tcpip@6.0.1.41", ["cpe:2.3:a:treck:tcp\\/ip:6.0.1.41:*:*:*:*:*:*:*"]),
        ("pkg:generic/example-medical/infulink-gateway-firmware@4.2.1", []),
        ("pkg:generic/dcmtk", ["cpe:2.3:a:offis:dcmtk:*:*:*:*:*:*:*:*"]),
    ],
)
def test_curated_mappings(purl: str, expected: list[str]) -> None:
    assert [str(c) for c in CURATED_TABLE.cpes_for(purl)] == expected


def test_component_version_used_when_the_purl_has_none() -> None:
    (cpe,) = CURATED_TABLE.cpes_for("pkg:generic/dcmtk", version="3.6.5")
    assert cpe.version == "3.6.5"
    (cpe,) = CURATED_TABLE.cpes_for("pkg:generic/dcmtk@3.6.6", version="3.6.5")
    assert cpe.version == "3.6.6"


@pytest.mark.parametrize(
    ("purl_type", "version", "expected"),
    [
        ("deb", "1:8.5p1-1", "8.5p1"),
        ("deb", "2.0.11-1", "2.0.11"),
        ("deb", "8.5p1", "8.5p1"),
        ("rpm", "1.1.1k-7.el8", "1.1.1k"),
        ("apk", "9.3_p2-r0", "9.3_p2"),
        ("maven", "2.0-beta9", "2.0-beta9"),
        ("generic", "13.0-47.24", "13.0-47.24"),
    ],
)
def test_upstream_version(purl_type: str, version: str, expected: str) -> None:
    assert upstream_version(purl_type, version) == expected


def test_bad_purl_raises_naming_it() -> None:
    with pytest.raises(PurlError, match=r"'dcmtk@3\.6\.6'"):
        CURATED_TABLE.cpes_for("dcmtk@3.6.6")


def test_overrides_replace_curated_mapping_of_the_same_key() -> None:
    table = PurlCpeTable(CURATED, overrides=[PurlCpeMapping("*", "*", "nginx", "f5", "nginx_plus")])
    assert [str(c) for c in table.cpes_for("pkg:generic/nginx@1.25.0")] == [
        "cpe:2.3:a:f5:nginx_plus:1.25.0:*:*:*:*:*:*:*"
    ]


def test_most_specific_mapping_wins() -> None:
    table = PurlCpeTable(
        [
            PurlCpeMapping("*", "*", "connect", "generic", "connect"),
            PurlCpeMapping("github", "nextgenhealthcare", "connect", "nextgen", "mirth_connect"),
        ]
    )
    assert table.products_for("github", "nextgenhealthcare", "connect") == [
        ("a", "nextgen", "mirth_connect")
    ]
    assert table.products_for("github", "someone", "connect") == [("a", "generic", "connect")]


def test_organisation_rules_extend_the_table(sqlite_factory: sessionmaker[Session]) -> None:
    with sqlite_factory() as session:
        ours = ensure_organisation(session, "St Elsewhere")
        theirs = ensure_organisation(session, "Other Hospital")
        session.add_all(
            [
                PurlCpeRule(
                    organisation_id=ours.id,
                    purl_type="generic",
                    name="acme-dicom",
                    cpe_vendor="offis",
                    cpe_product="dcmtk",
                ),
                PurlCpeRule(
                    organisation_id=theirs.id,
                    purl_type="generic",
                    name="other-lib",
                    cpe_vendor="x",
                    cpe_product="y",
                ),
            ]
        )
        session.flush()
        table = organisation_table(session, ours.id)
    assert [str(c) for c in table.cpes_for("pkg:generic/vendor-ns/acme-dicom@3.6.2")] == [
        "cpe:2.3:a:offis:dcmtk:3.6.2:*:*:*:*:*:*:*"
    ]
    assert table.cpes_for("pkg:generic/other-lib@1.0") == []
    assert table.cpes_for("pkg:generic/dcmtk@3.6.6")  # the curated table is still there


@given(st.one_of(st.text(max_size=40), st.text(max_size=30).map(lambda t: "pkg:" + t)))
def test_any_text_parses_or_raises_purl_error(text: str) -> None:
    with contextlib.suppress(PurlError):
        CURATED_TABLE.cpes_for(text)
