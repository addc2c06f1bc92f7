"""CVE description text: the HTML some CNAs publish (Microsoft's ``<p>...</p>``) made plain.

Only formatting markup is removed. Descriptions of cross-site scripting bugs quote markup as
text (``... via a <script> tag``), and dropping it would change their meaning, so any tag that is
not a formatting tag stays as written. This is for readability, not sanitising: whoever renders
a description as HTML must still escape it. Parsing uses the standard library's tokenising
HTMLParser; nothing is evaluated or fetched.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Final

# Tags that start a paragraph, tags that start a line, and tags that only style text.
_PARAGRAPH_TAGS: Final = frozenset(
    {"p", "div", "ul", "ol", "dl", "pre", "blockquote", "table", "hr"}
    | {"h1", "h2", "h3", "h4", "h5", "h6"}
)
_LINE_TAGS: Final = frozenset({"br", "li", "tr", "dt", "dd"})
_INLINE_TAGS: Final = frozenset(
    {"b", "i", "u", "em", "strong", "code", "span", "a", "sup", "sub", "small", "tt", "td", "th"}
    | {"tbody", "thead", "font", "kbd", "var", "samp", "abbr", "cite"}
)
_FORMATTING_TAG = re.compile(
    r"</?(?:" + "|".join(sorted(_PARAGRAPH_TAGS | _LINE_TAGS | _INLINE_TAGS)) + r")\b[^<>]*>",
    re.IGNORECASE,
)
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def plain_description(text: str) -> str:
    """``text`` with formatting markup turned into line breaks and entities decoded.

    Text without a formatting tag is returned unchanged (stripped), ``&amp;`` and all: in plain
    descriptions an ampersand is literal.
    """
    if not _FORMATTING_TAG.search(text):
        return text.strip()
    parser = _MarkupToText()
    parser.feed(text)
    parser.close()
    return _tidy("".join(parser.pieces))


class _MarkupToText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, self.get_starttag_text() or "", opening=True)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, self.get_starttag_text() or "", opening=True)

    def handle_endtag(self, tag: str) -> None:
        self._tag(tag, f"</{tag}>", opening=False)

    def handle_data(self, data: str) -> None:
        self.pieces.append(data)

    def _tag(self, tag: str, written: str, *, opening: bool) -> None:
        if tag in _PARAGRAPH_TAGS:
            self.pieces.append("\n\n")
        elif tag in _LINE_TAGS:
            self.pieces.append("\n" if opening else "")
        elif tag not in _INLINE_TAGS:
            self.pieces.append(written)  # quoted markup, part of the text


def _tidy(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    joined = "\n".join(lines)
    return _BLANK_LINES.sub("\n\n", joined).strip()
