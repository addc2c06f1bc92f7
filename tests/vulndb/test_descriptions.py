"""CVE descriptions: formatting markup becomes plain text; quoted markup and plain text stay."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panacea.vulndb.descriptions import plain_description


@pytest.mark.parametrize(
    ("published", "plain"),
    [
        ("<p>First.</p>\n<p>Second &amp; <strong>last</strong>.</p>", "First.\n\nSecond & last."),
        ("Line one<br>line two<br/>line three", "Line one\nline two\nline three"),
        ("<ul><li>PAN-OS 10.2</li><li>PAN-OS 11.0</li></ul>", "PAN-OS 10.2\nPAN-OS 11.0"),
        ("<P CLASS='x'>Upper-case tags</P>", "Upper-case tags"),
        ('See <a href="https://msrc.example/">the advisory</a>.', "See the advisory."),
    ],
    ids=["paragraphs", "line-breaks", "list", "upper-case", "link"],
)
def test_formatting_markup_becomes_text(published: str, plain: str) -> None:
    assert plain_description(published) == plain


@pytest.mark.parametrize(
    "published",
    [
        "Stored XSS via the <script>alert(document.cookie)</script> payload in the name field.",
        "An <img src=x onerror=alert(1)> tag in a DICOM tag value is rendered unescaped.",
        "Versions < 1.12.0 & > 1.0 allow a=1&b=2 query strings.",
        "Orthanc before 1.12.0 allows authenticated users to overwrite arbitrary files.",
    ],
    ids=["quoted-script", "quoted-img", "comparisons", "plain"],
)
def test_text_without_formatting_markup_is_kept(published: str) -> None:
    assert plain_description(published) == published


def test_quoted_markup_survives_next_to_formatting() -> None:
    published = "<p>Injecting <script>alert(1)</script> into the <b>patient name</b>.</p>"

    assert (
        plain_description(published) == "Injecting <script>alert(1)</script> into the patient name."
    )


@given(st.text(alphabet=st.characters(blacklist_characters="<&")))
def test_text_without_markup_is_only_stripped(text: str) -> None:
    assert plain_description(text) == text.strip()


WORDS = st.lists(
    st.from_regex(r"[A-Za-z0-9.,;:()'-]{1,12}", fullmatch=True), min_size=1, max_size=8
)
TAGS = st.sampled_from(["p", "b", "strong", "li", "em", "div", "code"])


@settings(max_examples=50)
@given(st.lists(st.tuples(TAGS, WORDS), min_size=1, max_size=6))
def test_words_inside_formatting_tags_are_kept_in_order(parts: list[tuple[str, list[str]]]) -> None:
    # Adjacent inline elements render as one word (``<b>a</b><b>b</b>`` is "ab"): space them.
    published = " ".join(f"<{tag}>{' '.join(words)}</{tag}>" for tag, words in parts)

    assert plain_description(published).split() == [w for _, words in parts for w in words]
