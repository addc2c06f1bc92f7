"""What identifies patients, staff and internal hosts in incident text: the detection rules.

Each ``find_*`` function yields :class:`Match` spans of one kind of identifier in a text; the
anonymiser (:mod:`panacea.sharing.anonymise`) arbitrates overlaps by priority and replaces
them with keyed pseudonyms. The rules are deterministic and language-aware for English,
Italian, German and Greek:

- *labelled* values: what follows "MRN", "cartella clinica", "Patientennummer",
  "αριθμός μητρώου", "codice fiscale", "Steuer-ID", "ΑΜΚΑ", "Tel.", "hostname", "user", and
  dates after "DOB", "nato il", "geb.", "ημερομηνία γέννησης";
- *structured* values that validate: Italian codice fiscale, Greek AMKA (a DDMMYY date and the
  Luhn digit), German tax id (ISO 7064 MOD 11,10) and identity card number (ICAO 9303 check
  digit), US SSN, Italian health-card number, e-mail addresses, phone numbers in international
  and Italian/German/Greek national formats, MAC addresses, IPv4/IPv6 addresses that are not
  globally routable (RFC 1918, RFC 4193, link-local, CGNAT...), host names under internal
  suffixes (``.local``, ``.lan``, ``.corp``...), NetBIOS-style host names (``SRV-PACS-01``),
  UNC paths, ``DOMAIN\\user`` and profile paths;
- *names* after titles and roles (Dr., Sig.ra, Herr/Frau, κ./κα., "patient", "Pfleger",
  "νοσηλεύτρια"...) and after field labels ("Nome:", "Von:", "Ονοματεπώνυμο:").

*Keep* spans protect what must survive: CVE/CWE/CAPEC ids, ATT&CK ids, threat-actor cluster
names (APT28, TA505...), hashes, timestamps and dates that are not dates of birth, public IP
addresses (indicators) and pseudonyms already in the text.

Labels are matched on a *folded* copy of the text (lower case, accents stripped, final sigma
as sigma: :func:`fold`) of the same length, so "ΑΡΙΘΜΟΣ ΜΗΤΡΩΟΥ" and "αριθμός μητρώου" are
one label and the spans found map back to the original text.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Kind(StrEnum):
    """What a pseudonym stands for (the prefix of ``[kind-1a2b3c4d]``)."""

    PERSON = "person"
    MRN = "mrn"
    NATIONAL_ID = "national-id"
    EMAIL = "email"
    PHONE = "phone"
    IP = "ip"
    HOST = "host"
    MAC = "mac"
    ACCOUNT = "account"
    DOB = "dob"
    ORG = "org"


# Priorities: lower wins an overlap. Labelled and dictionary values are the most certain,
# keep spans come before the generic rules they protect against.
P_PSEUDONYM = -1
P_EMAIL = 0
P_LABEL = 1
P_KEEP = 2
P_STRUCTURED = 3
P_NAME = 4
P_GENERIC = 5


@dataclass(frozen=True)
class Match:
    """A span of the text: an identifier of ``kind`` (canonical ``value``), or kept (kind None)."""

    start: int
    end: int
    priority: int
    kind: Kind | None
    value: str = ""


def _fold_char(ch: str) -> str:
    base = unicodedata.normalize("NFD", ch)[0].lower()[0]
    return "σ" if base == "ς" else base


def fold(text: str) -> str:
    """Lower case without accents, one character per character (offsets are preserved)."""
    if text.isascii():
        return text.lower()
    return "".join(_fold_char(ch) for ch in text)


def normalise(value: str) -> str:
    """Canonical form of an identifier for hashing and dictionary look-ups."""
    return " ".join(fold(value).split())


def _fold_pattern(pattern: str) -> str:
    """Fold the non-ASCII letters of a regex written in natural Greek/Italian/German."""
    return "".join(ch if ch.isascii() else _fold_char(ch) for ch in pattern)


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


# --------------------------------------------------------------------------- keep spans

_KEEP_PATTERNS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\bCVE-\d{4}-\d{4,7}\b",
        r"\b(?:CWE|CAPEC)-\d{1,6}\b",
        r"\bGHSA(?:-[0-9a-z]{4}){3}\b",
        # ATT&CK: techniques, tactics, software, groups, mitigations, campaigns, data sources.
        r"\b(?:T\d{4}(?:\.\d{3})?|TA\d{4}|S\d{4}|G\d{4}|M\d{4}|C\d{4}|DS\d{4})\b",
        # Threat-actor cluster names (public vendor names, not hosts).
        r"\b(?:APT|FIN|UNC|UNK|TA|DEV|STORM|UAC|TAG|TEMP)-?\d{1,4}\b",
        r"\bKB\d{6,7}\b",
        r"\bMS\d{2}-\d{3}\b",
        # Hashes (MD5, SHA-1, SHA-256, SHA-512).
        r"\b(?:[0-9a-f]{128}|[0-9a-f]{64}|[0-9a-f]{40}|[0-9a-f]{32})\b",
        # Timestamps and dates (dates of birth are caught before, by their labels).
        r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?",
        r"(?<![\d.])\d{1,2}[./]\d{1,2}[./]\d{2,4}(?![\d]|\.\d)",
        r"(?<![\w:])\d{1,2}:\d{2}(?::\d{2})?(?![\w:])",
        # Technical tokens that look like host names or numbers.
        r"\b(?:SHA|MD|AES|RSA|TLS|SSL|DTLS|IPv|X\.?(?=509)|RFC|ISO|IEC|NIS|COVID|SARS-CoV|HL|Win|SMBv|"
        r"NTLMv|CVSS|HTTP|UTF|WPA|EN|SP|NIST|PCI|CIS|DICOM|IEEE)[- ]?\d[\d.:]*\b",
    )
]


# Pseudonyms already in the text: nothing touches them (anonymising twice changes nothing).
PSEUDONYM_PATTERN = re.compile(
    r"\[(?:person|mrn|national-id|email|phone|ip|host|mac|account|dob|org)-[0-9a-f]{8}\]"
)


def find_keep(text: str) -> Iterator[Match]:
    """Spans that no generic rule may touch (public indicators, technical ids, dates)."""
    for m in PSEUDONYM_PATTERN.finditer(text):
        yield Match(m.start(), m.end(), P_PSEUDONYM, None)
    for pattern in _KEEP_PATTERNS:
        for m in pattern.finditer(text):
            yield Match(m.start(), m.end(), P_KEEP, None)


# --------------------------------------------------------------------------- e-mail

_AT = r"(?:@|\s?[\[(]at[\])]\s?)"
_DOT = r"(?:\.|\[\.\]|\(\.\)|\[dot\]|\(dot\))"
_EMAIL = re.compile(
    rf"(?<![\w.+%-])(?P<local>[\w.+%-]{{1,64}}){_AT}"
    rf"(?P<domain>[\w-]{{1,63}}(?:{_DOT}[\w-]{{1,63}})+)",
    re.IGNORECASE,
)


def email_canonical(local: str, domain: str) -> str:
    """An address as ``local@domain``, de-obfuscated and folded."""
    clean = re.sub(r"\[\.\]|\(\.\)|\[dot\]|\(dot\)", ".", domain, flags=re.IGNORECASE)
    return f"{local}@{clean}".casefold()


def find_emails(text: str) -> Iterator[Match]:
    """E-mail addresses, obfuscated ones (``name [at] host[.]it``) included."""
    for m in _EMAIL.finditer(text):
        canonical = email_canonical(m["local"], m["domain"])
        tld = canonical.rsplit(".", 1)[-1]
        if len(tld) < 2 or not tld.isalpha():
            continue
        yield Match(m.start(), m.end(), P_EMAIL, Kind.EMAIL, canonical)


# --------------------------------------------------------------------------- addresses

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(
    rf"(?<![\w.]){_OCTET}(?:(?:\.|\[\.\]|\(\.\)){_OCTET}){{3}}(?:/\d{{1,2}})?(?!\w|\.\d)"
)
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%\w+)?(?:/\d{1,3})?(?![\w:]|\.\w)"
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_address(text: str) -> Network | None:
    """An address or prefix written in text (defanged ``10.0.0[.]1`` too), else None."""
    clean = re.sub(r"\[\.\]|\(\.\)", ".", text).split("%")[0]
    try:
        if "/" in clean:
            return ipaddress.ip_network(clean, strict=False)
        return ipaddress.ip_network(ipaddress.ip_address(clean))
    except ValueError:
        return None


def is_internal(network: Network, own: tuple[Network, ...] = ()) -> bool:
    """True for a non-globally-routable prefix (RFC 6890 special-purpose, RFC 1918, RFC 4193,
    link-local, loopback, CGNAT, documentation) or one inside the organisation's own networks.

    Globally routable addresses are kept: an attacker's address is an indicator.
    """
    address = network.network_address
    if not address.is_global:
        return True
    return any(
        network.version == mine.version and network.subnet_of(mine)  # type: ignore[arg-type]
        for mine in own
    )


def find_addresses(text: str, own: tuple[Network, ...] = ()) -> Iterator[Match]:
    """IPv4/IPv6 addresses and prefixes: internal ones to pseudonymise, public ones kept."""
    for pattern in (_IPV4, _IPV6):
        for m in pattern.finditer(text):
            candidate = m.group()
            if pattern is _IPV6 and not any(c in "0123456789abcdefABCDEF" for c in candidate):
                continue
            network = parse_address(candidate)
            if network is None:
                continue
            if is_internal(network, own):
                yield Match(m.start(), m.end(), P_LABEL, Kind.IP, canonical_network(network))
            else:
                yield Match(m.start(), m.end(), P_LABEL, None)


def canonical_network(network: Network) -> str:
    """``10.0.0.1`` for a single address, ``10.0.0.0/8`` for a prefix."""
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


_MAC = re.compile(
    r"(?<![\w:.-])(?:[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}"
    r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})(?![\w:-]|\.\w)"
)


def find_macs(text: str) -> Iterator[Match]:
    """MAC addresses (``00:1a:2b:...``, ``00-1A-...``, Cisco ``001a.2b3c.4d5e``)."""
    for m in _MAC.finditer(text):
        canonical = re.sub(r"[^0-9a-f]", "", m.group().lower())
        yield Match(m.start(), m.end(), P_LABEL, Kind.MAC, canonical)


# --------------------------------------------------------------------------- host names

# Suffixes that never resolve on the Internet (RFC 6762 .local, RFC 8375 home.arpa, and the
# de-facto private ones). ".int" and ".ad" are real top-level domains and are not here.
INTERNAL_SUFFIXES = frozenset(
    {
        "local",
        "lan",
        "internal",
        "intranet",
        "intra",
        "corp",
        "home",
        "localdomain",
        "private",
        "priv",
        "loc",
        "home.arpa",
        "localhost",
    }
)
_FQDN = re.compile(
    r"(?<![\w@.-])(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.|\[\.\]))+"
    r"[A-Za-z][A-Za-z0-9-]{0,62}(?![\w-]|\.[A-Za-z0-9])"
)


def host_canonical(name: str) -> str:
    """A host name folded, de-fanged, without trailing dot."""
    return re.sub(r"\[\.\]", ".", name).rstrip(".").casefold()


def find_internal_fqdns(text: str, own_domains: frozenset[str] = frozenset()) -> Iterator[Match]:
    """Host names under an internal suffix or one of the organisation's own domains."""
    for m in _FQDN.finditer(text):
        name = host_canonical(m.group())
        labels = name.split(".")
        suffixes = {".".join(labels[i:]) for i in range(1, len(labels))}
        if suffixes & INTERNAL_SUFFIXES or suffixes & own_domains or name in own_domains:
            yield Match(m.start(), m.end(), P_STRUCTURED, Kind.HOST, name)


# First segments of upper-case tokens that are technology, not hosts.
_NOT_HOST_PREFIXES = frozenset(
    {
        "CVE",
        "CWE",
        "CAPEC",
        "GHSA",
        "DEV",
        "STORM",
        "UAC",
        "COVID",
        "SARS",
        "NIS",
        "ISO",
        "IEC",
        "EN",
        "RFC",
        "NIST",
        "SP",
        "CIS",
        "HL7",
        "FHIR",
        "ICS",
        "CERT",
        "CSIRT",
        "MITRE",
        "TLP",
        "PCI",
        "DSS",
        "IEEE",
        "UTF",
        "AES",
        "SHA",
        "SHA1",
        "SHA2",
        "SHA256",
        "RSA",
        "TLS",
        "SSL",
        "DTLS",
        "SMB",
        "SMBV1",
        "SMBV2",
        "SMBV3",
        "NTLM",
        "NTLMV2",
        "RDP",
        "SSH",
        "VNC",
        "HTTP",
        "DNS",
        "WPA",
        "WPA2",
        "WPA3",
        "MD5",
        "IPV4",
        "IPV6",
        "WIN",
        "WIN10",
        "WIN11",
        "KB",
        "MS",
        "APT",
        "FIN",
        "UNC",
        "TA",
        "GDPR",
        "DSGVO",
        "NIS2",
        "MFA",
        "EDR",
        "XDR",
        "SIEM",
        "SOC",
        "ENISA",
        "BSI",
        "ACN",
        "AGID",
        "HIPAA",
        "ICD",
        "ICD10",
        "DRG",
        "X509",
        "ASN1",
        "IOC",
        "TTP",
        "LOCKBIT",
        "BLACKCAT",
        "ALPHV",
        "AKIRA",
        "RHYSIDA",
        "MEDUSA",
        "PLAY",
    }
)
_NETBIOS = re.compile(r"(?<![\w-])[A-Z][A-Z0-9]{1,14}(?:-[A-Z0-9]{1,15}){1,4}(?![\w-])")
_HOST_PREFIXED = re.compile(
    r"(?<![\w-])(?:SRV|SVR|WS|WKS|PC|DC|NAS|FS|SQL|DB|PACS|RIS|HIS|LIS|EHR|EMR|VM|ESX|ESXI|HV|"
    r"PRT|PRN|LAP|NB|CLT|APP|WEB|MAIL|EXCH|VPN|FW|CTX|RDS|KIOSK|MED|LAB|ICU|BKP|NTB)"
    r"[A-Z]?\d{2,6}[A-Z]?(?![\w-])"
)


_TICKET = re.compile(r"[A-Z]{2,6}-(?:19|20)\d{2}-\d{1,6}")


def find_netbios_hosts(text: str) -> Iterator[Match]:
    """Upper-case host names: ``SRV-PACS-01``, ``WS-ICU-0231``, ``PACS01``, ``DC02``."""
    for pattern in (_NETBIOS, _HOST_PREFIXED):
        for m in pattern.finditer(text):
            token = m.group()
            if not any(c.isdigit() for c in token):
                continue
            first = token.split("-", 1)[0]
            if first in _NOT_HOST_PREFIXES or token.replace("-", "") in _NOT_HOST_PREFIXES:
                continue
            if _TICKET.fullmatch(token):
                continue  # "IR-2024-0117": a report number, not a host
            yield Match(m.start(), m.end(), P_GENERIC, Kind.HOST, token.casefold())


# Account names that identify nobody (built-in or generic).
GENERIC_ACCOUNTS = frozenset(
    {
        "administrator",
        "admin",
        "root",
        "system",
        "guest",
        "krbtgt",
        "localsystem",
        "networkservice",
        "localservice",
        "defaultaccount",
        "wdagutilityaccount",
        "sa",
        "postgres",
        "www-data",
        "nobody",
        "daemon",
        "user",
        "users",
        "test",
        "service",
        "support",
        "public",
        "default",
        "all users",
        "default user",
        "administrators",
        "everyone",
        "authenticated users",
        "domain admins",
        "domain users",
        "system32",
    }
)
_UNC = re.compile(r"\\\\(?P<v>[A-Za-z0-9_.$-]{1,63})(?=[\\\s,;:)\"']|$)")
_PROFILE = re.compile(
    r"(?i:[a-z]:\\(?:users|documents and settings|dokumente und einstellungen|utenti)\\)"
    r"(?P<v>[^\\/:*?\"<>|\s]{1,64})"
)
_HOME = re.compile(r"(?<![\w/])/home/(?P<v>[a-z_][a-z0-9_.-]{0,31})")
_DOMAIN_USER = re.compile(
    r"(?<![\w\\:])(?P<d>[A-Za-z][A-Za-z0-9-]{0,14})\\(?P<u>[A-Za-z0-9][A-Za-z0-9._-]{0,63})(?![\w\\])"
)
_NOT_DOMAINS = frozenset({"hklm", "hkcu", "hkcr", "hku", "hkcc", "builtin", "authority", "nt"})


def find_paths(text: str) -> Iterator[Match]:
    """Servers of UNC paths, users of profile paths and ``DOMAIN\\user`` logons."""
    for m in _UNC.finditer(text):
        yield Match(m.start("v"), m.end("v"), P_STRUCTURED, Kind.HOST, host_canonical(m["v"]))
    for pattern in (_PROFILE, _HOME):
        for m in pattern.finditer(text):
            if m["v"].casefold() not in GENERIC_ACCOUNTS:
                yield Match(m.start("v"), m.end("v"), P_STRUCTURED, Kind.ACCOUNT, m["v"].casefold())
    for m in _DOMAIN_USER.finditer(text):
        if m["d"].casefold() in _NOT_DOMAINS or m["u"].casefold() in GENERIC_ACCOUNTS:
            continue
        yield Match(m.start(), m.end(), P_STRUCTURED, Kind.ACCOUNT, m.group().casefold())


# --------------------------------------------------------------------------- national ids

_CF_DIGIT = "0-9LMNPQRSTUVlmnpqrstuv"
_CODICE_FISCALE = re.compile(
    rf"(?<![A-Za-z0-9])[A-Za-z]{{6}}[{_CF_DIGIT}]{{2}}[ABCDEHLMPRSTabcdehlmprst]"
    rf"[{_CF_DIGIT}]{{2}}[A-Za-z][{_CF_DIGIT}]{{3}}[A-Za-z](?![A-Za-z0-9])"
)
_ELEVEN_DIGITS = re.compile(r"(?<![\d.,/-])\d{11}(?![\d.,/-]|\.\d)")
_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])")
_AUSWEIS = re.compile(
    r"(?<![A-Za-z0-9])[CFGHJKLMNPRTVWXYZ][CFGHJKLMNPRTVWXYZ0-9]{8}\d(?![A-Za-z0-9])"
)
_TESSERA = re.compile(r"(?<!\d)80380\d{15}(?!\d)")


def luhn_valid(digits: str) -> bool:
    """The Luhn (ISO/IEC 7812-1) check digit of ``digits`` is right."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def amka_valid(digits: str) -> bool:
    """A Greek AMKA: 11 digits, the first six a DDMMYY date, Luhn check digit."""
    if len(digits) != 11 or not digits.isdigit():
        return False
    day, month, year = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
    try:
        date(2000 + year, month, day)
    except ValueError:
        return False
    return luhn_valid(digits)


def steuer_id_valid(digits: str) -> bool:
    """A German tax identification number: 11 digits, no leading 0, ISO 7064 MOD 11,10 check."""
    if len(digits) != 11 or not digits.isdigit() or digits[0] == "0":
        return False
    product = 10
    for ch in digits[:10]:
        total = (int(ch) + product) % 10 or 10
        product = (total * 2) % 11
    check = (11 - product) % 10
    return check == int(digits[10])


def icao_check_digit(text: str) -> int:
    """ICAO 9303 check digit (weights 7, 3, 1; A=10 ... Z=35)."""
    total = 0
    for i, ch in enumerate(text):
        value = int(ch) if ch.isdigit() else ord(ch.upper()) - 55
        total += value * (7, 3, 1)[i % 3]
    return total % 10


def find_national_ids(text: str) -> Iterator[Match]:
    """National identifiers that validate without a label (see module docstring)."""
    for m in _CODICE_FISCALE.finditer(text):
        if any(c.isdigit() for c in m.group()):
            yield Match(m.start(), m.end(), P_STRUCTURED, Kind.NATIONAL_ID, m.group().casefold())
    for m in _ELEVEN_DIGITS.finditer(text):
        if amka_valid(m.group()) or steuer_id_valid(m.group()):
            yield Match(m.start(), m.end(), P_STRUCTURED, Kind.NATIONAL_ID, m.group())
    for m in _SSN.finditer(text):
        yield Match(m.start(), m.end(), P_STRUCTURED, Kind.NATIONAL_ID, _digits(m.group()))
    for m in _AUSWEIS.finditer(text):
        token = m.group()
        if icao_check_digit(token[:9]) == int(token[9]):
            yield Match(m.start(), m.end(), P_STRUCTURED, Kind.NATIONAL_ID, token.casefold())
    for m in _TESSERA.finditer(text):
        yield Match(m.start(), m.end(), P_STRUCTURED, Kind.NATIONAL_ID, m.group())


# --------------------------------------------------------------------------- phones

_PHONE = re.compile(
    r"(?<![\w+.,/-])(?:(?:\+|00)\d{1,3}[ \t./-]*)?(?:\(0?\d{1,5}\)[ \t./-]*)?\d{2,5}"
    r"(?:[ \t./-]?\d{2,8}){0,5}(?![\w]|[.,/-]\d)"
)
_DATE_SHAPE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")
_PHONE_GAP = re.compile(r"[ \t./-]+(?=\d)")


def phone_canonical(text: str) -> str:
    """Digits only; ``+39`` and ``0039`` alike."""
    digits = _digits(text)
    return digits[2:] if text.lstrip().startswith("00") else digits


def _phone_shaped(token: str) -> bool:
    digits = _digits(token)
    if not 8 <= len(digits) <= 15 or _DATE_SHAPE.fullmatch(token.strip()):
        return False
    head = token.lstrip()
    if head.startswith(("+", "00")):
        return True  # international (ITU-T E.164 with a prefix)
    if head.startswith(("(", "0")):
        return len(digits) >= 9  # Italian and German numbers with the trunk or area code
    # Italian mobiles (3xx), Greek landlines (2x) and mobiles (69x): ten digits.
    return len(digits) == 10 and (digits[0] in "23" or digits.startswith("69"))


def find_phones(text: str) -> Iterator[Match]:
    """Phone numbers in international, Italian, German and Greek formats (unlabelled)."""
    for m in _PHONE.finditer(text):
        token = m.group().rstrip(" \t./-")
        # The longest number first, then shorter ones ending at a group boundary: if the
        # longest runs into the next identifier ("+39 06 6859 1234 00:1B:..."), a shorter one
        # still covers the number.
        cuts = [len(token), *[g.start() for g in _PHONE_GAP.finditer(token)][::-1]]
        for cut in cuts:
            candidate = token[:cut].rstrip(" \t./-")
            if _phone_shaped(candidate):
                yield Match(
                    m.start(),
                    m.start() + len(candidate),
                    P_GENERIC,
                    Kind.PHONE,
                    phone_canonical(candidate),
                )


# --------------------------------------------------------------------------- labelled values

_MONTHS = _fold_pattern(
    r"(?:january|february|march|april|may|june|july|august|september|october|november|"
    r"december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|gennaio|febbraio|marzo|aprile|"
    r"maggio|giugno|luglio|agosto|settembre|ottobre|novembre|dicembre|januar|jänner|februar|"
    r"märz|mai|juni|juli|oktober|dezember|ιανουαρίου|φεβρουαρίου|μαρτίου|απριλίου|μαΐου|"
    r"ιουνίου|ιουλίου|αυγούστου|σεπτεμβρίου|οκτωβρίου|νοεμβρίου|δεκεμβρίου)\.?"
)
_DATE = (
    rf"(?:\d{{1,2}}[./-]\d{{1,2}}[./-](?:\d{{4}}|\d{{2}})|\d{{4}}-\d{{2}}-\d{{2}}|"
    rf"\d{{1,2}}\.?\s+{_MONTHS}\s+\d{{4}}|{_MONTHS}\s+\d{{1,2}},?\s+\d{{4}})"
)


def _labelled(labels: str, value: str) -> re.Pattern[str]:
    return re.compile(
        rf"(?<!\w)(?:{_fold_pattern(labels)})(?!\w)[\s:#=.,()-]*"
        rf"(?:(?:n|nr|no|num|αρ|αριθ)\.?\s*[:#]?\s*|nº\s*|n°\s*)?(?P<v>{value})"
    )


_DOB = _labelled(
    r"dob|d\.o\.b|date of birth|birth ?date|born(?: on)?|data di nascita|"
    r"nat[oa](?: a [^\n,;:]{1,40}?)? il|geburtsdatum|geb|geboren(?: am)?|"
    r"ημερομηνία γέννησης|ημ/νία γέννησης|ημ\. γέννησης|γεννήθηκε(?: στις)?|"
    r"γεννηθείς|γεννηθείσα|γεννημένος|γεννημένη",
    _DATE,
)
_MRN = _labelled(
    r"mrn|medical record(?: number| no| #)?|patient (?:id|number|no)|hospital number|"
    r"record number|cartella clinica|cartella|numero di cartella(?: clinica)?|codice paziente|"
    r"id paziente|nosologico|numero nosologico|patientennummer|patienten-?id|patienten-?nr|"
    r"fallnummer|fall-?nr|aufnahmenummer|αριθμός μητρώου(?: ασθενούς)?|αρ\. μητρώου|"
    r"αριθμός φακέλου|κωδικός ασθενούς|α\.μ\.",
    r"[a-z0-9][a-z0-9/_.-]{2,30}[a-z0-9]",
)
_NATIONAL_LABELLED = _labelled(
    r"codice fiscale|c\.f|cod\. fisc|steuer-?id|steuerliche identifikationsnummer|"
    r"steueridentifikationsnummer|idnr|steuer-idnr|personalausweis(?:nummer)?|ausweisnummer|"
    r"ausweis-?nr|reisepass(?:nummer)?|passport(?: no| number)?|passaporto|"
    r"carta d'identità|amka|α\.μ\.κ\.α|αμκα|αδτ|α\.δ\.τ|αριθμός ταυτότητας|"
    r"δελτίο ταυτότητας|δελτίου ταυτότητας|"
    r"αφμ|α\.φ\.μ|ssn|social security number|tessera sanitaria",
    # Digit groups ("86 095 742 719"), never the start of a next number ("... 185.220.").
    r"[a-zα-ω0-9]{1,20}(?:[ -]?[0-9]{2,12}(?![0-9]|[.,:][0-9])){0,4}",
)
_PHONE_LABELLED = _labelled(
    r"tel|tel\.|telephone|phone|mobile|cell|fax|telefono|cellulare|cell\.|interno|telefon|"
    r"handy|mobil|rufnummer|durchwahl|τηλ|τηλέφωνο|κινητό|εσωτ",
    r"\+?\(?\d[\d \t./()-]{1,22}\d",
)
_HOST_LABELLED = _labelled(
    r"host|hostname|host name|server|workstation|client|pc|computer|rechner|arbeitsplatz|"
    r"postazione|macchina|endpoint|nas|domain controller|διακομιστής|υπολογιστής|"
    r"σταθμός εργασίας|μηχάνημα",
    r"[a-z0-9][a-z0-9_.-]{0,62}[a-z0-9]",
)
_ACCOUNT_LABELLED = _labelled(
    r"user|username|user name|account|login|utente|utenza|benutzer|benutzername|konto|"
    r"χρήστης|λογαριασμός|όνομα χρήστη",
    r"[\"'„“«]?[a-z0-9][a-z0-9_.\\-]{1,63}",
)


def find_labelled(text: str) -> Iterator[Match]:
    """Values after their labels: dates of birth, record numbers, ids, phones, hosts, users.

    Host and account values rank below the keep spans ("server CVE-2024-21887" names no
    host); the others above them (a date after "DOB" is a date of birth).
    """
    folded = fold(text)
    for m in _DOB.finditer(folded):
        yield Match(
            m.start("v"), m.end("v"), P_LABEL, Kind.DOB, normalise(text[m.start("v") : m.end("v")])
        )
    for m in _MRN.finditer(folded):
        value = m["v"].rstrip("./-_")
        if sum(c.isdigit() for c in value) >= 3:
            yield Match(m.start("v"), m.start("v") + len(value), P_LABEL, Kind.MRN, value)
    for m in _NATIONAL_LABELLED.finditer(folded):
        if sum(c.isdigit() for c in m["v"]) >= 4:
            yield Match(
                m.start("v"), m.end("v"), P_LABEL, Kind.NATIONAL_ID, re.sub(r"[ -]", "", m["v"])
            )
    for m in _PHONE_LABELLED.finditer(folded):
        token = m["v"]
        digits = sum(c.isdigit() for c in token)
        # At most 15 digits (ITU-T E.164); an address after "Tel." is left to the address rule.
        if 3 <= digits <= 15 and not _DATE_SHAPE.fullmatch(token) and not _IPV4.search(token):
            yield Match(m.start("v"), m.end("v"), P_LABEL, Kind.PHONE, phone_canonical(token))
    for m in _HOST_LABELLED.finditer(folded):
        token = m["v"]
        # Dotted names are left to find_internal_fqdns: "C2 server evil-c2.example" is an
        # indicator, a single-label name is always internal.
        host_like = any(c.isdigit() for c in token) and any(c.isalpha() for c in token)
        version = re.fullmatch(r"v?\d+[a-z]?\d*", token) is not None
        if "." not in token and host_like and not version:
            yield Match(m.start("v"), m.end("v"), P_STRUCTURED, Kind.HOST, host_canonical(token))
    for m in _ACCOUNT_LABELLED.finditer(folded):
        token = m["v"].lstrip("\"'„“«")
        start = m.end("v") - len(token)
        quoted = len(token) != len(m["v"])
        special = any(c in "._\\" for c in token) or (
            any(c.isdigit() for c in token) and len(token) >= 4
        )
        lettered = any(c.isalpha() for c in token)
        if (quoted or special) and lettered and token not in GENERIC_ACCOUNTS:
            token = token.rstrip("._-")
            yield Match(start, start + len(token), P_STRUCTURED, Kind.ACCOUNT, token)


# --------------------------------------------------------------------------- names

# Titles and roles after which capitalised words are a person's name. Case-insensitive;
# the name words themselves must start with a capital (checked in code).
_TITLES = (
    r"dr|dr\.|doctor|mr|mr\.|mrs|mrs\.|ms|ms\.|miss|mx\.|prof|prof\.|nurse|sister|patient|"
    r"sig\.|sig\.ra|sig\.na|sigg\.|signor|signora|dott\.|dott\.ssa|dr\.ssa|prof\.ssa|ing\.|"
    r"avv\.|geom\.|infermiere|infermiera|paziente|collega|primario|medico|"
    r"herr|herrn|frau|patientin|pfleger|pflegerin|schwester|oberarzt|oberärztin|chefarzt|"
    r"chefärztin|arzt|ärztin|kollege|kollegin|mitarbeiter|mitarbeiterin|"
    r"κ\.|κα\.|κα|κ\.κ\.|δρ\.|δρ|καθ\.|κύριος|κύριο|κυρία|ασθενής|ασθενούς|ασθενή|"
    r"νοσηλεύτρια|νοσηλευτής|γιατρός|ιατρός|συνάδελφος|υπάλληλος|"
    r"analyst|radiographer|technician|operator|tecnico|tecnica|analista|radiologo|radiologa|"
    r"techniker|technikerin|τεχνικός|αναλυτής|χειριστής"
)
_FIELD_LABELS = (
    r"name|full name|patient name|nome|cognome|nome e cognome|nachname|vorname|"
    r"patient|patientin|paziente|ασθενής|όνομα|επώνυμο|ονοματεπώνυμο|reported by|"
    r"segnalato da|gemeldet von|αναφέρθηκε από|prepared by|redatto da|"
    r"erstellt von|συντάχθηκε από|contact|referente|ansprechpartner|υπεύθυνος|signed|firmato"
)
_TITLE = re.compile(rf"(?<![\w.])(?:{_fold_pattern(_TITLES)})(?=[\s])")
_FIELD = re.compile(rf"(?<![\w.])(?:{_fold_pattern(_FIELD_LABELS)})[ \t]*:")
# Message headers count only at the start of a line: "access granted to: Domain Admins" is prose.
_HEADER = re.compile(
    rf"(?m)^[ \t>*-]*(?:{_fold_pattern('from|to|cc|bcc|da|a|von|an|από|προς|κοιν')})[ \t]*:"
)
# A word of letters, not the start of "T1566" or "APT28" (no digit right after it).
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*(?![\w])\.?")
_GAP = re.compile(r"[ \t]+")
_GAP_COMMA = re.compile(r"[ \t]+|,[ \t]*")
_PARTICLES = frozenset(
    {
        "de",
        "di",
        "da",
        "del",
        "della",
        "dei",
        "von",
        "van",
        "der",
        "den",
        "zu",
        "la",
        "le",
        "du",
        "dos",
        "des",
        "lo",
        "vom",
    }
)
_SECONDARY_TITLES = frozenset(
    {"med.", "dipl.", "mag.", "univ.", "phd", "ph.d."}
    | {_fold_pattern(t).replace("\\.", ".") for t in _TITLES.split("|")}
)
# Capitalised words after a role word that are not names (headings, systems, acronyms).
_NOT_NAMES = frozenset(
    {
        "id",
        "portal",
        "data",
        "records",
        "record",
        "monitor",
        "management",
        "system",
        "information",
        "safety",
        "zero",
        "care",
        "list",
        "room",
        "ward",
        "daten",
        "akte",
        "zimmer",
        "station",
        "sistema",
        "dati",
        "reparto",
        "stanza",
        "σύστημα",
        "δεδομένα",
        "θάλαμος",
        "the",
        "a",
        "il",
        "la",
        "der",
        "die",
        "das",
        "ο",
        "η",
        "το",
    }
)
MAX_NAME_WORDS = 3


def _name_after(text: str, pos: int, *, field: bool) -> list[tuple[int, int, str]]:
    """The capitalised words that follow ``pos`` on the same line, as (start, end, canonical):
    the longest run first, then each shorter one (if the longest collides with something kept,
    such as "Storm-0558" after "Dr. Anna Weber", the shorter "Anna Weber" is still replaced).
    """
    words: list[str] = []
    ends: list[int] = []
    start = -1
    pending: list[str] = []
    for _ in range(MAX_NAME_WORDS * 3):
        # "Rossi, Mario" after a field label: a comma only after the first word.
        gap = (_GAP_COMMA if field and len(words) == 1 else _GAP).match(text, pos)
        if gap is None and words:
            break
        at = gap.end() if gap else pos
        m = _WORD.match(text, at)
        if m is None:
            break
        word = m.group()
        bare = word.rstrip(".")
        if fold(word) in _SECONDARY_TITLES:
            if words:
                break  # "Dr. Anna Weber Herr Klaus Müller": the next title starts a next name
            pos = m.end()
            continue
        if fold(bare) in _PARTICLES and words:
            pending.append(bare)
            pos = m.end()
            continue
        capital = bare[:1].isupper()
        acronym = bare.isupper() and len(bare) <= 3 and len(bare) > 1
        if not capital or acronym or fold(bare) in _NOT_NAMES:
            break
        if not words:
            start = m.start()
        words.extend(pending)
        pending = []
        words.append(bare)
        ends.append(m.start() + len(bare))
        pos = m.end()
        if len(ends) >= MAX_NAME_WORDS + 1 or (word.endswith(".") and len(bare) > 1):
            break  # enough words, or the end of a sentence
    found: list[tuple[int, int, str]] = []
    names = [w for w in words if fold(w) not in _PARTICLES]
    for count in range(len(ends), 0, -1):
        found.append((start, ends[count - 1], normalise(" ".join(names[:count]))))
    return found


def find_titled_names(text: str) -> Iterator[Match]:
    """Names after a title, a role ("patient", "Pfleger", "νοσηλεύτρια") or a field label."""
    folded = fold(text)
    for pattern, field in ((_TITLE, False), (_FIELD, True), (_HEADER, True)):
        for m in pattern.finditer(folded):
            written = text[m.start() : m.end()].rstrip(":. \t")
            if not field and written.isupper() and len(written) <= 3:
                continue  # "MS Teams", "MR scanner", "DR site": acronyms, not titles
            for start, end, canonical in _name_after(text, m.end(), field=field):
                yield Match(start, end, P_NAME, Kind.PERSON, canonical)


def canonical(kind: Kind, value: str) -> str:
    """The form of ``value`` that its pseudonym is computed from, so that every way of
    writing one identifier (``+39 06 6859 1234`` and ``0039 06 68591234``, ``PACS01`` and
    ``pacs01.``, ``10.0.0[.]5`` and ``10.0.0.5``) gets one pseudonym.
    """
    if kind is Kind.PHONE:
        return phone_canonical(value)
    if kind is Kind.IP:
        network = parse_address(value.strip())
        return canonical_network(network) if network is not None else normalise(value)
    if kind is Kind.MAC:
        return re.sub(r"[^0-9a-f]", "", value.lower())
    if kind is Kind.HOST:
        return host_canonical(value.strip())
    if kind is Kind.NATIONAL_ID:
        return re.sub(r"[\s-]", "", fold(value))
    return normalise(value)
