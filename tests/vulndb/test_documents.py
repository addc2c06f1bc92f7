"""Feed documents: kinds told apart by content; field paths as JSON paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from panacea.vulndb.documents import DocumentKind, decode_json, field_path, json_kind, read_json
from panacea.vulndb.errors import FeedFileError


@pytest.mark.parametrize(
    ("relative", "kind"),
    [
        ("nvd/CVE-2024-3400.json", DocumentKind.NVD),
        ("kev/known_exploited_vulnerabilities.json", DocumentKind.KEV),
        ("kev/known_exploited_vulnerabilities_schema.json", DocumentKind.JSON_SCHEMA),
        ("cve5/CVE-2024-3400.json", DocumentKind.CVE5),
    ],
)
def test_kind_of_real_documents(shared_data: Path, relative: str, kind: DocumentKind) -> None:
    assert json_kind(read_json(shared_data / relative)) is kind


@pytest.mark.parametrize(
    "document",
    [[], "CVE-2024-3400", {"id": "GHSA-xxxx"}, {"vulnerabilities": []}, {"format": "OSV"}],
)
def test_unrecognised_documents(document: object) -> None:
    assert json_kind(document) is None


def test_nvd_page_is_recognised_by_its_format() -> None:
    assert json_kind({"format": "NVD_CVE", "vulnerabilities": []}) is DocumentKind.NVD


@pytest.mark.parametrize(
    ("location", "path"),
    [
        (("vulnerabilities", 3, "cve", "id"), "vulnerabilities[3].cve.id"),
        ((0, "cve"), "[0].cve"),
        ((), "(document)"),
    ],
)
def test_field_path(location: tuple[int | str, ...], path: str) -> None:
    assert field_path(location) == path


def test_bad_bytes_name_the_source() -> None:
    with pytest.raises(FeedFileError, match="not UTF-8") as raised:
        decode_json(b'{"id": "\xff"}', source="https://kev.test/kev.json")

    assert raised.value.source == "https://kev.test/kev.json"


def test_unreadable_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(FeedFileError, match="cannot read") as raised:
        read_json(tmp_path / "missing.json")

    assert raised.value.source == str(tmp_path / "missing.json")
