"""Errors of information sharing.

::

    PanaceaError
    └── SharingError                 something that cannot be shared or received as asked
        ├── IncidentError            an incident record that is invalid or does not exist
        │   └── IncidentNotFoundError  no such incident in the organisation (also NotFoundError)
        ├── UnknownTechniqueError    an ATT&CK technique id absent from the shipped ATT&CK data
        ├── StixError                a STIX object or bundle that cannot be built or read
        ├── SigningError             an object this platform cannot sign (no key, foreign creator)
        ├── VerificationError        a signature that is missing, malformed, unknown or wrong
        ├── SigningKeyError          a signing key or peer key that is invalid, unknown or taken
        ├── TaxiiError               a TAXII request refused: carries the HTTP status to answer
        ├── MarkingError             a TLP marking that is unknown or a forged TLP definition
        ├── PolicyError              a share or a forward that the TLP rules refuse
        │   └── NoRecipientsError    a share that names nobody (fails closed)
        ├── SharingGroupError        a sharing-group request that is invalid (name, description)
        ├── TaxiiClientError         a remote TAXII server that refused or could not be reached
        ├── PeerError                a peer (remote collection) that is invalid or unknown
        └── AnonymisationError       an object or key the anonymiser cannot process
            └── InternalObservableError  an observable of the organisation's own (withheld)
"""

from __future__ import annotations

from panacea.errors import PanaceaError
from panacea.identity.errors import NotFoundError


class SharingError(PanaceaError):
    """Base of the sharing errors."""


class IncidentError(SharingError):
    """An incident that is invalid (the message names the field) or does not exist."""


class IncidentNotFoundError(IncidentError, NotFoundError):
    """No such incident in the organisation: the API answers 404, as for anything not found."""


class UnknownTechniqueError(SharingError):
    """An ATT&CK technique id that the shipped ATT&CK data does not hold (or holds as revoked)."""


class StixError(SharingError):
    """A STIX 2.1 object or bundle that cannot be built, parsed or validated."""


class SigningError(SharingError):
    """An object the platform cannot sign: no key for the organisation, or another creator's."""


class VerificationError(SharingError):
    """A signature that does not verify; ``reason`` is the quarantine reason code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class SigningKeyError(SharingError):
    """A signing or peer key that is malformed, of an unsupported type, unknown or taken."""


class TaxiiError(SharingError):
    """A TAXII request that is refused; answered as a TAXII error message with ``status``."""

    def __init__(
        self,
        status: int,
        title: str,
        description: str = "",
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{title}: {description}" if description else title)
        self.status = status
        self.title = title
        self.description = description
        self.headers = headers or {}


class MarkingError(SharingError):
    """A TLP level or marking that is unknown, or a TLP marking definition that is forged."""


class PolicyError(SharingError):
    """A share or a re-share that the TLP rules refuse; the message says which rule."""


class NoRecipientsError(PolicyError):
    """A share with no recipient: it goes nowhere rather than anywhere (fails closed)."""


class SharingGroupError(SharingError):
    """A sharing-group request that is invalid (an empty or too long name or description)."""


class TaxiiClientError(SharingError):
    """A request to a remote TAXII server that failed: refused (``status`` is its HTTP status),
    unreachable after the retries (``status`` None), or answered with something not TAXII."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PeerError(SharingError):
    """A peer (a remote TAXII collection) that is malformed, unknown or not usable as asked."""


class AnonymisationError(SharingError):
    """An object the anonymiser cannot process, or a pseudonym key that cannot be used."""


class InternalObservableError(AnonymisationError):
    """An observable whose values are the organisation's own: it is withheld, never shared."""
