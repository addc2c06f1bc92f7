"""From package URLs (SBOM components) to the CPE names NVD files their vulnerabilities under.

NVD knows products by ``vendor:product`` (``openbsd:openssh``), SBOMs by purl
(``pkg:deb/debian/openssh-server@1:8.5p1-1``); nothing derives one from the other reliably, so
this is a curated table for the stacks hospitals run, which an organisation extends or corrects
with ``PurlCpeRule`` rows. A mapping names purl type, namespace and name; ``*`` as type or
namespace means any. The most specific mapping wins (exact namespace, then any namespace, then
any type), and an organisation's rule replaces the curated mapping with the same key.

Distribution packages carry the distribution's version (``1:8.5p1-3ubuntu0.10``): the epoch and
the packaging revision are dropped to get the upstream version NVD ranges speak of. Distributions
backport fixes without changing that version, which is one reason such findings stay *potential*.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from packageurl import PackageURL
from sqlalchemy import select
from sqlalchemy.orm import Session

from panacea.errors import PanaceaError
from panacea.inventory.overrides import PurlCpeRule
from panacea.vulndb.cpe import Cpe, parse_cpe

ANY_KEY = "*"
_DISTRIBUTION_TYPES = {"deb", "rpm", "apk", "alpm"}
_EPOCH = re.compile(r"^\d+:")


class PurlError(PanaceaError, ValueError):
    """A string that is not a package URL; the message names it."""


@dataclass(frozen=True)
class PurlCpeMapping:
    """Packages ``purl_type/namespace/name`` are the CPE product ``part:vendor:product``."""

    purl_type: str
    namespace: str
    name: str
    vendor: str
    product: str
    part: str = "a"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.purl_type.lower(), self.namespace.lower(), self.name.lower())


def _m(
    purl_type: str, namespace: str, names: str, vendor: str, product: str
) -> list[PurlCpeMapping]:
    return [PurlCpeMapping(purl_type, namespace, n, vendor, product) for n in names.split()]


# Vendor:product pairs as NVD uses them (checked against NVD records where the CVE is named).
CURATED: tuple[PurlCpeMapping, ...] = (
    # Java: Log4Shell lives in log4j-core only; log4j-api is deliberately absent.
    *_m("maven", "org.apache.logging.log4j", "log4j-core", "apache", "log4j"),
    *_m("maven", "log4j", "log4j", "apache", "log4j"),
    *_m(
        "maven",
        "org.apache.activemq",
        "activemq-client activemq-broker activemq-all",
        "apache",
        "activemq",
    ),
    *_m("maven", "org.apache.tomcat.embed", "tomcat-embed-core", "apache", "tomcat"),
    *_m("maven", "org.apache.tomcat", "tomcat-catalina", "apache", "tomcat"),
    *_m("maven", "org.apache.struts", "struts2-core", "apache", "struts"),
    *_m("maven", "org.apache.commons", "commons-text", "apache", "commons_text"),
    *_m("maven", "com.fasterxml.jackson.core", "jackson-databind", "fasterxml", "jackson-databind"),
    *_m(
        "maven",
        "org.springframework",
        "spring-beans spring-webmvc spring-core",
        "vmware",
        "spring_framework",
    ),
    # Healthcare integration and imaging.
    *_m("github", "nextgenhealthcare", "connect", "nextgen", "mirth_connect"),
    *_m("docker", "nextgenhealthcare", "connect", "nextgen", "mirth_connect"),
    *_m(ANY_KEY, ANY_KEY, "mirth-connect mirth_connect mirthconnect", "nextgen", "mirth_connect"),
    *_m(ANY_KEY, ANY_KEY, "dcmtk", "offis", "dcmtk"),
    *_m("github", "dcmtk", "dcmtk", "offis", "dcmtk"),
    *_m(ANY_KEY, ANY_KEY, "orthanc", "orthanc-server", "orthanc"),
    # Network daemons and libraries, under their upstream and distribution package names.
    *_m(
        ANY_KEY,
        ANY_KEY,
        "openssh openssh-server openssh-client openssh-portable",
        "openbsd",
        "openssh",
    ),
    *_m(
        ANY_KEY,
        ANY_KEY,
        "openssl openssl-libs libssl1.0.0 libssl1.0.2 libssl1.1 libssl3",
        "openssl",
        "openssl",
    ),
    *_m(ANY_KEY, ANY_KEY, "httpd apache2 apache-httpd apache_http_server", "apache", "http_server"),
    *_m(ANY_KEY, ANY_KEY, "nginx", "f5", "nginx"),
    *_m(ANY_KEY, ANY_KEY, "nginx", "nginx", "nginx"),
    *_m(ANY_KEY, ANY_KEY, "activemq apache-activemq", "apache", "activemq"),
    *_m(ANY_KEY, ANY_KEY, "tomcat tomcat9 tomcat10", "apache", "tomcat"),
    *_m(ANY_KEY, ANY_KEY, "mosquitto", "eclipse", "mosquitto"),
    *_m(ANY_KEY, ANY_KEY, "dropbear dropbear-bin", "dropbear_ssh_project", "dropbear_ssh"),
    *_m(ANY_KEY, ANY_KEY, "busybox", "busybox", "busybox"),
    *_m(ANY_KEY, ANY_KEY, "zlib zlib1g", "zlib", "zlib"),
    *_m(ANY_KEY, ANY_KEY, "curl", "haxx", "curl"),
    *_m(ANY_KEY, ANY_KEY, "libcurl libcurl4", "haxx", "libcurl"),
    *_m(ANY_KEY, ANY_KEY, "glibc libc6", "gnu", "glibc"),
    *_m(ANY_KEY, ANY_KEY, "bash", "gnu", "bash"),
    *_m(ANY_KEY, ANY_KEY, "sudo", "sudo_project", "sudo"),
    *_m(ANY_KEY, ANY_KEY, "samba", "samba", "samba"),
    *_m(ANY_KEY, ANY_KEY, "postgresql", "postgresql", "postgresql"),
    *_m(ANY_KEY, ANY_KEY, "libxml2", "xmlsoft", "libxml2"),
    *_m(ANY_KEY, ANY_KEY, "treck-tcpip treck_tcp_ip", "treck", "tcp\\/ip"),
    # Web front ends and language packages.
    *_m("npm", ANY_KEY, "jquery", "jquery", "jquery"),
    *_m("npm", ANY_KEY, "lodash", "lodash", "lodash"),
    *_m("pypi", ANY_KEY, "django", "djangoproject", "django"),
    *_m("pypi", ANY_KEY, "requests", "python", "requests"),
    *_m("pypi", ANY_KEY, "urllib3", "python", "urllib3"),
    *_m("pypi", ANY_KEY, "pillow", "python", "pillow"),
    *_m("pypi", ANY_KEY, "jinja2", "palletsprojects", "jinja"),
    *_m("pypi", ANY_KEY, "pyyaml", "pyyaml", "pyyaml"),
    *_m("pypi", ANY_KEY, "cryptography", "cryptography_project", "cryptography"),
)


class PurlCpeTable:
    """Looks up the CPE names of package URLs."""

    def __init__(
        self, mappings: Iterable[PurlCpeMapping], *, overrides: Iterable[PurlCpeMapping] = ()
    ) -> None:
        self._products: dict[tuple[str, str, str], list[tuple[str, str, str]]] = {}
        self._cache: dict[tuple[str, str | None], tuple[Cpe, ...]] = {}
        for mapping in mappings:
            self._add(mapping)
        replaced: set[tuple[str, str, str]] = set()
        for mapping in overrides:
            if mapping.key not in replaced:
                self._products.pop(mapping.key, None)
                replaced.add(mapping.key)
            self._add(mapping)

    def cpes_for(self, purl: str, *, version: str | None = None) -> list[Cpe]:
        """The CPE names of ``purl``, versioned by the purl's (upstream) version or ``version``.

        Returns an empty list for a package the table does not know. Raises PurlError when
        ``purl`` is not a package URL.
        """
        # The same packages recur on thousands of assets: parse each (purl, version) once.
        key = (purl, version)
        if key not in self._cache:
            self._cache[key] = self._derive(purl, version)
        return list(self._cache[key])

    def products_for(self, purl_type: str, namespace: str, name: str) -> list[tuple[str, str, str]]:
        """``(part, vendor, product)`` for a package, by the most specific mapping; may be empty."""
        purl_type, namespace, name = purl_type.lower(), namespace.lower(), name.lower()
        for key in (
            (purl_type, namespace, name),
            (purl_type, ANY_KEY, name),
            (ANY_KEY, ANY_KEY, name),
        ):
            if key in self._products:
                return list(self._products[key])
        return []

    def _derive(self, purl: str, version: str | None) -> tuple[Cpe, ...]:
        package = parse_purl(purl)
        found = self.products_for(package.type, package.namespace or "", package.name)
        if package.version:
            version = upstream_version(package.type, package.version)
        cpes = [parse_cpe(f"cpe:2.3:{part}:{vendor}:{product}") for part, vendor, product in found]
        return tuple(cpe.with_version(version) if version else cpe for cpe in cpes)

    def _add(self, mapping: PurlCpeMapping) -> None:
        product = (mapping.part, mapping.vendor.lower(), mapping.product.lower())
        products = self._products.setdefault(mapping.key, [])
        if product not in products:
            products.append(product)


def organisation_table(session: Session, organisation_id: int) -> PurlCpeTable:
    """The curated table with the organisation's ``PurlCpeRule`` rows on top.

    A rule with an empty namespace applies to every namespace of its type and name.
    """
    rules = session.scalars(
        select(PurlCpeRule).where(PurlCpeRule.organisation_id == organisation_id)
    ).all()
    overrides = [
        PurlCpeMapping(r.purl_type, r.namespace or ANY_KEY, r.name, r.cpe_vendor, r.cpe_product)
        for r in rules
    ]
    return PurlCpeTable(CURATED, overrides=overrides)


def parse_purl(purl: str) -> PackageURL:
    """Parse a package URL; raise PurlError naming it when it is not one."""
    try:
        return PackageURL.from_string(purl.strip())
    except ValueError as error:
        raise PurlError(f"not a package URL: {purl!r}: {error}") from error


def upstream_version(purl_type: str, version: str) -> str:
    """The upstream part of a package version: ``1:8.5p1-3ubuntu0.10`` -> ``8.5p1`` for deb.

    Only distribution package types (deb, rpm, apk, alpm) carry an epoch and a packaging revision;
    other versions are returned unchanged.
    """
    if purl_type.lower() not in _DISTRIBUTION_TYPES:
        return version
    without_epoch = _EPOCH.sub("", version)
    upstream, _, _revision = without_epoch.rpartition("-")
    return upstream or without_epoch
