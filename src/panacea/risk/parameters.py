"""The explicit, configurable formula of action probabilities (documented in docs/risk-model.md).

All probabilities are over one horizon (default 365 days) and assume the attacker of an entry
profile tries every step it can reach.

Exploit of a finding::

    p = exploitability x weaponisation x confidence x controls

- exploitability: the CVSS exploitability sub-score scaled to 0..1 (v3.x: 8.22·AV·AC·PR·UI / 3.887;
  v4.0: the same weights applied to AV, AC, AT, PR, UI; see ``exploitability``);
- weaponisation: 1 - (1 - base)(1 - kev)(1 - epss_h)(1 - intel), the chance a working exploit
  is in the attacker's hands within the horizon: ``base`` for any CVE, ``kev`` if CISA lists it
  as exploited, ``epss_h`` = 1 - (1 - EPSS)^(horizon/30) (EPSS is a 30-day probability; months
  taken as independent), ``intel`` the confidence of a shared sighting;
- confidence: 1 for a confirmed finding, ``potential_factor`` for one from version matching
  (vendors backport fixes without changing versions);
- controls: EDR multiplies by ``edr_factor`` code execution and credential theft on the asset;
  application allow-listing multiplies by ``allowlisting_factor`` client-side exploits and phishing.

Credential theft from a host where the attacker is admin (``harvest``): ``harvest_probability``
for an account that logs on to that very host, ``harvest_zone_probability`` for one that may
log on anywhere in its zone (its secrets are on some hosts, not all), times ``edr_factor``.
Client software on workstations (components, not network endpoints) is reached through what its
users receive: mail, documents, web pages, i.e. through the phishing profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from panacea.risk.errors import RiskModelError

ENTRY_PROFILES = ("internet", "phishing", "insider", "vendor")


@dataclass(frozen=True)
class RiskParameters:
    horizon_days: float = 365.0
    weaponisation_base: float = 0.25
    weaponisation_kev: float = 0.9
    potential_factor: float = 0.8
    edr_factor: float = 0.5
    allowlisting_factor: float = 0.3
    mfa_factor: float = 0.1
    logon_probability: float = 0.95
    harvest_probability: float = 0.6
    harvest_zone_probability: float = 0.3
    phishing_campaign_reach: float = 0.5
    entry_weights: dict[str, float] = field(
        default_factory=lambda: {"internet": 1.0, "phishing": 1.0, "insider": 0.05, "vendor": 0.1}
    )

    def __post_init__(self) -> None:
        for name in (
            "weaponisation_base",
            "weaponisation_kev",
            "potential_factor",
            "edr_factor",
            "allowlisting_factor",
            "mfa_factor",
            "logon_probability",
            "harvest_probability",
            "phishing_campaign_reach",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise RiskModelError(f"risk parameter {name}={value} is not a probability")
        if self.horizon_days <= 0:
            raise RiskModelError("the horizon must be a positive number of days")
        unknown = set(self.entry_weights) - set(ENTRY_PROFILES)
        if unknown:
            raise RiskModelError(
                f"unknown entry profiles {sorted(unknown)}; known: {ENTRY_PROFILES}"
            )

    def epss_over_horizon(self, epss_30_days: float) -> float:
        """EPSS is the probability of exploitation activity in the next 30 days."""
        return float(1.0 - (1.0 - epss_30_days) ** (self.horizon_days / 30.0))

    def weaponisation(self, *, kev: bool, epss: float | None, intel: float = 0.0) -> float:
        miss = (1 - self.weaponisation_base) * (1 - (self.weaponisation_kev if kev else 0.0))
        miss *= 1 - (self.epss_over_horizon(epss) if epss else 0.0)
        miss *= 1 - intel
        return 1.0 - miss
