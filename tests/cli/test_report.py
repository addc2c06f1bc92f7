"""``panacea report``: the board report as HTML and Markdown, and its trend."""

from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from panacea.cli.main import main

ORG = "Demo General Hospital"


@pytest.fixture(scope="module")
def demo_url(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("report") / "demo.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    assert main(["--db", url, "demo", "--assets", "80", "--no-serve"]) == 0
    return url


def test_html_report_is_one_valid_page_with_the_ranked_services(
    demo_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "board.html"
    argv = ["--db", demo_url, "report", "--org", ORG, "--out", str(out), "--entry", "internet"]
    assert main([*argv, "--budget", "2000"]) == 0
    assert main([*argv, "--budget", "2000"]) == 0  # a second snapshot: the trend has a line
    page = out.read_text()
    HTMLParser().feed(page)
    assert page.startswith("<!doctype html>")
    assert "Electronic health record" in page
    assert "CVE-2018-13379" in page
    assert "<polyline" in page
    assert "<script" not in page
    assert page.index("The plan") < page.index("Trend")


def test_markdown_report(demo_url: str, tmp_path: Path) -> None:
    out = tmp_path / "board.md"
    argv = ["--db", demo_url, "report", "--org", ORG, "--out", str(out), "--entry", "internet"]
    assert main(argv) == 0
    text = out.read_text()
    assert text.startswith(f"# Cyber risk to clinical services: {ORG}")
    assert "| Electronic health record |" in text


def test_report_refuses_other_suffixes(
    demo_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "board.pdf"
    assert main(["--db", demo_url, "report", "--org", ORG, "--out", str(out)]) == 1
    assert "written as .html or .md" in capsys.readouterr().err
