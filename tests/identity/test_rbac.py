"""The permission matrix: complete, sane, and identical to what docs/security.md shows."""

from __future__ import annotations

from pathlib import Path

from panacea.identity.rbac import MATRIX, allows, matrix_markdown, permissions_of
from panacea.identity.roles import Permission, Role

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def test_docs_show_the_matrix_of_the_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("<!-- permission-matrix:start -->\n") + len(
        "<!-- permission-matrix:start -->\n"
    )
    end = text.index("<!-- permission-matrix:end -->")
    assert text[start:end].strip() == matrix_markdown().strip()


def test_every_permission_has_a_role_and_viewer_and_auditor_only_read() -> None:
    assert set(MATRIX) == set(Permission)
    assert all(MATRIX[p] for p in Permission)
    writes = {p for p in Permission if not p.value.endswith(":read")}
    assert permissions_of(Role.VIEWER) & writes == set()
    # The auditor reads and exports, and reviews break-glass; it changes nothing else.
    assert permissions_of(Role.AUDITOR) & writes == {
        Permission.REPORTS_EXPORT,
        Permission.BREAK_GLASS_REVIEW,
    }


def test_only_the_security_lead_accepts_risk() -> None:
    assert [r for r in Role if allows(r, Permission.RISK_ACCEPT)] == [Role.SECURITY_LEAD]
