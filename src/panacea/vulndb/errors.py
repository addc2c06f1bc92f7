"""Errors of the vulnerability feeds.

::

    PanaceaError
    └── FeedError                a feed cannot be read, downloaded or stored
        ├── FeedFileError        a document that cannot be loaded: names the file and line or field
        ├── CvssVectorError      a CVSS vector string the ``cvss`` package rejects
        └── FeedDownloadError    an online source failed: names the URL and what went wrong

``CpeError`` (panacea.vulndb.cpe) is a sibling under PanaceaError: CPE names come from inventories
as well as from feeds.
"""

from __future__ import annotations

from panacea.errors import PanaceaError


class FeedError(PanaceaError):
    """Base of the vulnerability feed errors."""


class FeedFileError(FeedError):
    """A feed document that cannot be loaded.

    ``source`` is the file path or URL; ``location`` a line (``line 12``) or a field path
    (``vulnerabilities[3].cve.metrics.cvssMetricV31[0].cvssData.vectorString``), or None when the
    whole document is wrong (truncated JSON, unknown kind).
    """

    def __init__(self, source: str, location: str | None, message: str) -> None:
        where = f"{source}: {location}" if location else source
        super().__init__(f"{where}: {message}")
        self.source = source
        self.location = location
        self.message = message


class CvssVectorError(FeedError):
    """A CVSS vector that does not parse; the message names the vector."""


class FeedDownloadError(FeedError):
    """An online feed that could not be fetched: HTTP status, timeout, oversized or bad body."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url
        self.message = message
