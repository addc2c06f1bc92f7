"""The key-encryption key (KEK): where it comes from, its file format, how sessions find it.

The KEK is 32 random bytes kept outside the database, given either as a value
(``PANACEA_KEK``, base64) or as a file (``PANACEA_KEK_FILE``, base64 text, mode 0600). It only
ever wraps data keys (:class:`panacea.identity.key_records.DataKey`); a copy of the database
without it reveals no sealed value.

In demo mode with no KEK configured, one is generated next to the database (an SQLite file
``x.db`` gets ``x.kek``; otherwise ``data_dir/panacea.kek``) and a warning is logged. Outside
demo mode a missing KEK is an error.

A session finds its KEK through :func:`kek_source_of`: the source bound to its session factory
with :func:`bind_kek` (``create_app`` and the ``keys`` commands do this), or else the one the
process settings describe.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from panacea.config import Settings, get_settings
from panacea.identity.errors import EncryptionError

KEK_BYTES = 32
DEMO_KEK_NAME = "panacea.kek"
# Key of the KekSource in Session.info (and in a sessionmaker's ``info``).
SESSION_INFO_KEY = "panacea.kek_source"
_FINGERPRINT_LABEL = b"panacea kek fingerprint v1"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kek:
    """A 256-bit key-encryption key. Its repr never shows the key."""

    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) != KEK_BYTES:
            raise EncryptionError(f"a KEK must be {KEK_BYTES} bytes, not {len(self.key)}")

    @classmethod
    def generate(cls) -> Kek:
        """A new KEK from the operating system's CSPRNG."""
        return cls(secrets.token_bytes(KEK_BYTES))

    @property
    def kek_id(self) -> str:
        """A public fingerprint (32 hex digits) naming the key without revealing it.

        HMAC-SHA-256 keyed by the KEK itself over a fixed label: one-way, and unrelated to any
        value the KEK encrypts.
        """
        return hmac.new(self.key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:32]

    def encoded(self) -> str:
        """The base64 text stored in a KEK file or given as ``PANACEA_KEK``."""
        return base64.b64encode(self.key).decode("ascii")


def parse_kek(text: str, *, where: str) -> Kek:
    """The KEK in base64 ``text``. Raises EncryptionError naming ``where`` if malformed."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as e:
        raise EncryptionError(f"{where}: not base64 ({e})") from e
    if len(key) != KEK_BYTES:
        raise EncryptionError(f"{where}: a KEK must be {KEK_BYTES} bytes, found {len(key)}")
    return Kek(key)


def read_kek_file(path: Path) -> Kek:
    """The KEK stored in ``path``. Raises EncryptionError if unreadable or malformed.

    A file readable by group or others is accepted with a warning (container secrets are
    often mounted 0644), since refusing would only push operators to weaker workarounds.
    """
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as e:
        raise EncryptionError(f"cannot read the KEK file {path}: {e}") from e
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("KEK file %s is accessible to group or others; chmod 600 it", path)
    return parse_kek(text, where=f"KEK file {path}")


def write_kek_file(path: Path, kek: Kek) -> None:
    """Create ``path`` (mode 0600, must not exist) holding ``kek``, flushed to disk.

    Raises EncryptionError if it exists or cannot be written: a KEK file is never overwritten
    in place, since losing a KEK loses every value sealed under it.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise EncryptionError(f"cannot create the KEK file {path}: {e}") from e
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(kek.encoded() + "\n")
            out.flush()
            os.fsync(out.fileno())
    except OSError as e:
        path.unlink(missing_ok=True)
        raise EncryptionError(f"cannot write the KEK file {path}: {e}") from e


def demo_kek_path(settings: Settings, database_url: str) -> Path:
    """Where demo mode keeps its generated KEK: next to an SQLite file, else in data_dir."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        return settings.data_dir / DEMO_KEK_NAME
    database = url.database or ""
    is_file = database not in ("", ":memory:") and not database.startswith("file:")
    if url.get_backend_name() == "sqlite" and is_file:
        db_path = Path(database)
        return db_path.with_name(f"{db_path.stem}.kek")
    return settings.data_dir / DEMO_KEK_NAME


class KekSource:
    """The configured KEK, loaded on first use.

    When the KEK comes from a file, a data key wrapped by a different KEK makes the source
    re-read the file once: ``panacea keys rotate`` replaces the file, so a running server picks
    up the new KEK without a restart.
    """

    def __init__(
        self, *, value: SecretStr | None = None, file: Path | None = None, generate: bool = False
    ) -> None:
        if value is None and file is None:
            raise EncryptionError("a KEK source needs a value or a file")
        self.value = value
        self.file = file
        # Demo mode: create the file with a fresh KEK if it does not exist.
        self.generate = generate
        self._lock = threading.Lock()
        self._kek: Kek | None = None

    def __repr__(self) -> str:
        where = "value" if self.value is not None else str(self.file)
        return f"KekSource({where})"

    def current(self) -> Kek:
        """The KEK (loaded, or generated in demo mode, on first use)."""
        with self._lock:
            if self._kek is None:
                self._kek = self._load()
            return self._kek

    def matching(self, kek_id: str) -> Kek:
        """The KEK whose fingerprint is ``kek_id``.

        Raises EncryptionError if neither the loaded KEK nor a fresh read of the file matches.
        """
        kek = self.current()
        if kek.kek_id == kek_id:
            return kek
        if self.value is None:
            with self._lock:
                self._kek = self._load()
                kek = self._kek
            if kek.kek_id == kek_id:
                return kek
        raise EncryptionError(
            f"a data key is wrapped by KEK {kek_id} but the configured KEK is {kek.kek_id} "
            f"({self!r}): wrong KEK, or it was rotated and this process has the old one"
        )

    def _load(self) -> Kek:
        if self.value is not None:
            return parse_kek(self.value.get_secret_value(), where="setting PANACEA_KEK")
        assert self.file is not None
        if self.generate and not self.file.exists():
            kek = Kek.generate()
            try:
                write_kek_file(self.file, kek)
            except EncryptionError:
                # Another process created it first: use theirs.
                if not self.file.exists():
                    raise
            else:
                log.warning(
                    "demo mode: generated a key-encryption key in %s; keep it with the "
                    "database (without it encrypted fields are lost) and configure "
                    "PANACEA_KEK_FILE outside demo mode",
                    self.file,
                )
                return kek
        return read_kek_file(self.file)


def kek_source(settings: Settings, database_url: str | None = None) -> KekSource:
    """The KEK source ``settings`` describe for the database at ``database_url``.

    Precedence: ``kek`` (value), then ``kek_file``, then, in demo mode only, a generated file
    next to the database. Raises EncryptionError outside demo mode when none is configured.
    """
    if settings.kek is not None:
        return KekSource(value=settings.kek)
    if settings.kek_file is not None:
        return KekSource(file=settings.kek_file)
    if settings.demo_mode:
        url = database_url or settings.database_url
        return KekSource(file=demo_kek_path(settings, url), generate=True)
    raise EncryptionError(
        "no key-encryption key configured: set PANACEA_KEK_FILE to a file of 32 random bytes "
        "in base64 (create one with `panacea keys generate --out FILE`), or PANACEA_KEK"
    )


def bind_kek(sessions: sessionmaker[Session], source: KekSource) -> None:
    """Make every session of ``sessions`` seal and unseal with ``source``."""
    info = dict(sessions.kw.get("info") or {})
    info[SESSION_INFO_KEY] = source
    sessions.configure(info=info)


_default_sources: dict[str, KekSource] = {}
_default_lock = threading.Lock()


def kek_source_of(session: Session) -> KekSource:
    """The KEK source of ``session``: the one bound to it, else the process settings'.

    Raises EncryptionError if neither is configured (outside demo mode).
    """
    bound = session.info.get(SESSION_INFO_KEY)
    if isinstance(bound, KekSource):
        return bound
    url = session.get_bind().engine.url.render_as_string(hide_password=True)
    with _default_lock:
        source = _default_sources.get(url)
        if source is None:
            source = kek_source(get_settings(), url)
            _default_sources[url] = source
        return source
