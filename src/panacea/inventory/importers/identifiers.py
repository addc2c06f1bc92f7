"""The names that identify software, as importers store them: CPE names and package URLs.

Importers store one canonical text per identifier, so that re-imports compare equal and the
vulnerability matcher reads back exactly what it parses: CPE 2.3 formatted strings as
``panacea.vulndb.cpe`` writes them, package URLs as ``packageurl-python`` writes them.
"""

from __future__ import annotations

from packageurl import PackageURL

from panacea.vulndb.cpe import ANY, NA, parse_cpe


def canonical_cpe(text: str) -> str:
    """Return ``text`` (a CPE 2.3 formatted string or a CPE 2.2 URI) as a CPE 2.3 string.

    Raises ValueError, saying why, for text that is not a CPE name or one that names no vendor
    or no product: such a name would identify nothing.
    """
    name = parse_cpe(text)
    if ANY in name.vendor_product or NA in name.vendor_product:
        raise ValueError(f"a CPE name needs a vendor and a product: {text!r}")
    return str(name)


def canonical_purl(text: str) -> str:
    """Return the package URL ``text`` in canonical form; raise ValueError if it is not one."""
    try:
        # packageurl-python can parse names it cannot write back (e.g. a lone "/"): TypeError
        return str(PackageURL.from_string(text.strip()).to_string())
    except (ValueError, TypeError) as e:
        raise ValueError(f"not a package URL: {e}") from e


def purl_version(text: str) -> str | None:
    """Return the version of the package URL ``text``, or None; raise ValueError if invalid."""
    version = PackageURL.from_string(text).version
    return str(version) if version else None
