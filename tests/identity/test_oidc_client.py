"""The relying party against a real OpenID Connect provider on 127.0.0.1 (no mocks).

Each test runs the authorization code flow over HTTP: PANACEA's client builds the request,
the test plays the browser (follows the provider's redirect), the client redeems the code.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from panacea.config import Settings
from panacea.identity.oidc import OidcClient, OidcConfig, VerifiedIdentity, claim_at
from panacea.identity.oidc_errors import OidcLoginError, OidcProviderError, SsoNotConfiguredError
from tests.identity.oidc_provider import OidcTestProvider, browse, running_provider


@pytest.fixture(scope="module")
def provider_server() -> Iterator[OidcTestProvider]:
    with running_provider() as p:
        yield p


@pytest.fixture
def provider(provider_server: OidcTestProvider) -> OidcTestProvider:
    provider_server.reset()
    return provider_server


def _config(provider: OidcTestProvider, **changes: object) -> OidcConfig:
    values: dict[str, object] = {
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
        "redirect_uri": provider.redirect_uris[0],
        "organisation": "Hôpital Test",
        "timeout_seconds": 5.0,
    }
    values.update(changes)
    return OidcConfig(**values)  # type: ignore[arg-type]


def _browse(url: str) -> tuple[str, str]:
    """The browser at the provider: (state, code) from its redirect back."""
    query = parse_qs(urlsplit(browse(url)).query)
    return query["state"][0], query["code"][0]


def _login(
    client: OidcClient, *, tamper: Callable[[str], str] = lambda url: url
) -> VerifiedIdentity:
    url, pending = client.authorization_request()
    state, code = _browse(tamper(url))
    return client.redeem(pending, state=state, code=code)


def test_a_full_login_yields_the_verified_identity(provider: OidcTestProvider) -> None:
    provider.user.groups = ["panacea-analysts", "nurses"]
    identity = _login(OidcClient(_config(provider)))
    assert identity.issuer == provider.issuer
    assert identity.subject == provider.user.sub
    assert identity.email == provider.user.email
    assert identity.email_verified is True
    assert identity.groups == ("panacea-analysts", "nurses")
    assert identity.assurance(frozenset()) == "sso"
    # PKCE and client authentication really happened (the provider checks both).
    request = provider.token_requests[-1]
    assert len(request["code_verifier"]) == 86
    assert request["auth_method"] == "client_secret_basic"


def test_the_authorization_request_carries_pkce_s256_state_and_nonce(
    provider: OidcTestProvider,
) -> None:
    url, pending = OidcClient(_config(provider)).authorization_request()
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith(f"{provider.issuer}/authorize?")
    assert query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256"
    assert query["state"] == pending.state
    assert query["nonce"] == pending.nonce
    assert query["redirect_uri"] == provider.redirect_uris[0]
    assert set(query["scope"].split()) == {"openid", "email", "profile"}
    assert pending.code_verifier not in url
    assert len({pending.state, pending.nonce, pending.code_verifier}) == 3


def test_client_secret_post_is_supported(provider: OidcTestProvider) -> None:
    _login(OidcClient(_config(provider, token_auth_method="client_secret_post")))
    assert provider.token_requests[-1]["auth_method"] == "client_secret_post"


def test_a_wrong_client_secret_is_refused_by_the_provider(provider: OidcTestProvider) -> None:
    with pytest.raises(OidcLoginError, match="invalid_client"):
        _login(OidcClient(_config(provider, client_secret="wrong")))


@dataclass(frozen=True)
class FromNow:
    seconds: int


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"nonce": "another-nonce"}, "nonce claim is wrong"),
        ({"nonce": None}, "lacks the nonce claim"),
        ({"aud": "another-client"}, "aud claim is wrong"),
        ({"aud": ["panacea", "another-client"]}, "other audiences"),
        ({"azp": "another-client"}, "azp claim is another client"),
        ({"iss": "https://evil.example"}, "iss claim is wrong"),
        ({"sub": None}, "lacks the sub claim"),
        ({"exp": FromNow(-120), "iat": FromNow(-400)}, "expired"),
        ({"iat": FromNow(-1000)}, "issued too long ago"),
        ({"iat": FromNow(600)}, "iat claim is wrong"),
    ],
)
def test_an_id_token_failing_a_check_is_refused(
    provider: OidcTestProvider, overrides: dict[str, object], message: str
) -> None:
    # Times are taken when the test runs, not when it is collected (a long suite runs minutes
    # later).
    now = int(time.time())
    provider.id_token_overrides = {
        k: now + v.seconds if isinstance(v, FromNow) else v for k, v in overrides.items()
    }
    with pytest.raises(OidcLoginError, match=message):
        _login(OidcClient(_config(provider)))


def test_a_bad_signature_is_refused(provider: OidcTestProvider) -> None:
    provider.sign_with_foreign_key = True
    with pytest.raises(OidcLoginError, match="signature does not verify"):
        _login(OidcClient(_config(provider)))


def test_a_pkce_mismatch_is_refused(provider: OidcTestProvider) -> None:
    """Someone in the middle swaps the code challenge: the provider refuses our verifier."""

    def swap_challenge(url: str) -> str:
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        query["code_challenge"] = "A" * 43
        return parts._replace(query=urlencode(query)).geturl()

    with pytest.raises(OidcLoginError, match="invalid_grant"):
        _login(OidcClient(_config(provider)), tamper=swap_challenge)


def test_a_wrong_state_is_refused_before_the_code_is_redeemed(
    provider: OidcTestProvider,
) -> None:
    client = OidcClient(_config(provider))
    url, pending = client.authorization_request()
    _, code = _browse(url)
    with pytest.raises(OidcLoginError, match="state"):
        client.redeem(pending, state="forged", code=code)
    assert provider.token_requests == []


def test_a_code_is_redeemed_once(provider: OidcTestProvider) -> None:
    client = OidcClient(_config(provider))
    url, pending = client.authorization_request()
    state, code = _browse(url)
    client.redeem(pending, state=state, code=code)
    with pytest.raises(OidcLoginError, match="invalid_grant"):
        client.redeem(pending, state=state, code=code)


def test_groups_come_from_userinfo_when_the_id_token_has_none(
    provider: OidcTestProvider,
) -> None:
    provider.user.groups_in_id_token = False
    provider.user.groups = ["panacea-leads"]
    assert _login(OidcClient(_config(provider))).groups == ("panacea-leads",)


def test_userinfo_about_another_subject_is_not_used(provider: OidcTestProvider) -> None:
    provider.user.groups_in_id_token = False
    provider.userinfo_sub = "someone-else"
    with pytest.raises(OidcLoginError, match="another subject"):
        _login(OidcClient(_config(provider)))


def test_a_groups_overage_reference_fails_closed(provider: OidcTestProvider) -> None:
    provider.user.groups_in_id_token = False
    provider.id_token_overrides = {"_claim_names": {"groups": "src1"}}
    with pytest.raises(OidcLoginError, match="overage"):
        _login(OidcClient(_config(provider)))


def test_a_groups_claim_of_another_type_is_refused(provider: OidcTestProvider) -> None:
    provider.id_token_overrides = {"groups": {"not": "a list"}}
    with pytest.raises(OidcLoginError, match="not a string or an array"):
        _login(OidcClient(_config(provider)))


def test_a_nested_groups_claim_is_found(provider: OidcTestProvider) -> None:
    provider.id_token_overrides = {"resource_access": {"panacea": {"roles": ["lead"]}}}
    identity = _login(OidcClient(_config(provider, groups_claim="resource_access.panacea.roles")))
    assert identity.groups == ("lead",)
    assert claim_at({"a.b": 1, "a": {"b": 2}}, "a.b") == 1


@pytest.mark.parametrize(
    ("amr", "acr", "acr_values", "expected"),
    [
        (["pwd", "mfa"], None, frozenset(), "mfa"),
        (["pwd", "otp"], None, frozenset(), "mfa"),
        (["hwk"], None, frozenset(), "mfa"),
        (["pwd"], None, frozenset(), "sso"),
        (["pwd", "sms"], None, frozenset(), "sso"),
        (None, "gold", frozenset({"gold"}), "mfa"),
        (None, "bronze", frozenset({"gold"}), "sso"),
    ],
)
def test_the_session_assurance_follows_amr_and_acr(
    provider: OidcTestProvider,
    amr: list[str] | None,
    acr: str | None,
    acr_values: frozenset[str],
    expected: str,
) -> None:
    provider.user.amr = amr
    provider.user.acr = acr
    identity = _login(OidcClient(_config(provider)))
    assert identity.assurance(acr_values) == expected


def test_a_rotated_key_is_fetched_once_but_not_more_than_once_a_minute(
    provider: OidcTestProvider,
) -> None:
    offset = [0.0]
    client = OidcClient(_config(provider), clock=lambda: time.time() + offset[0])
    _login(client)
    provider.rotate_key()
    # Within a minute of the last fetch an unknown kid is not worth another request.
    with pytest.raises(OidcLoginError, match="key the provider does not publish"):
        _login(client)
    assert provider.paths.count("/jwks") == 1
    offset[0] = 61.0
    _login(client)
    assert provider.paths.count("/jwks") == 2
    assert provider.paths.count("/.well-known/openid-configuration") == 1


def test_discovery_naming_another_issuer_is_refused(provider: OidcTestProvider) -> None:
    provider.discovery_overrides = {"issuer": "https://login.example"}
    with pytest.raises(OidcProviderError, match="must be identical"):
        OidcClient(_config(provider)).authorization_request()


def test_discovery_without_s256_is_refused(provider: OidcTestProvider) -> None:
    provider.discovery_overrides = {"code_challenge_methods_supported": ["plain"]}
    with pytest.raises(OidcProviderError, match="S256"):
        OidcClient(_config(provider)).authorization_request()


def test_a_provider_signing_only_with_hmac_is_refused(provider: OidcTestProvider) -> None:
    provider.discovery_overrides = {"id_token_signing_alg_values_supported": ["HS256"]}
    with pytest.raises(OidcProviderError, match="HS256"):
        OidcClient(_config(provider)).authorization_request()


def test_plain_http_endpoints_off_the_machine_are_refused(provider: OidcTestProvider) -> None:
    provider.discovery_overrides = {"token_endpoint": "http://idp.example/token"}
    with pytest.raises(OidcProviderError, match="token_endpoint"):
        OidcClient(_config(provider)).authorization_request()


def test_an_unreachable_provider_fails_fast() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = OidcConfig(
        issuer=f"http://127.0.0.1:{port}",
        client_id="panacea",
        client_secret="x",
        redirect_uri="http://localhost:8000/cb",
        organisation="Hôpital Test",
        timeout_seconds=2.0,
    )
    started = time.monotonic()
    with pytest.raises(OidcProviderError, match="could not be fetched"):
        OidcClient(config).authorization_request()
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"oidc_issuer": None}, "PANACEA_OIDC_ISSUER"),
        ({"oidc_issuer": "http://idp.example"}, "https"),
        ({"oidc_client_secret": None}, "PANACEA_OIDC_CLIENT_SECRET"),
        ({"oidc_scopes": ["email"]}, "openid"),
        ({"oidc_token_auth_method": "private_key_jwt"}, "not one of"),
    ],
)
def test_unusable_settings_are_named(changes: dict[str, object], message: str) -> None:
    values: dict[str, object] = {
        "oidc_issuer": "https://idp.example/realms/hospital",
        "oidc_client_id": "panacea",
        "oidc_client_secret": "secret",
        "oidc_organisation": "Hôpital Test",
    }
    values.update(changes)
    settings = Settings(**values)  # type: ignore[arg-type]
    with pytest.raises(SsoNotConfiguredError, match=message):
        OidcConfig.from_settings(settings, redirect_uri="https://panacea.example/cb")


def test_usable_settings_make_a_config() -> None:
    settings = Settings(
        oidc_issuer="https://idp.example/realms/hospital/",
        oidc_client_id="panacea",
        oidc_client_secret="secret",
        oidc_organisation="Hôpital Test",
        oidc_mfa_acr_values=["gold"],
    )
    config = OidcConfig.from_settings(settings, redirect_uri="https://panacea.example/cb")
    assert config.issuer == "https://idp.example/realms/hospital"
    assert config.mfa_acr_values == frozenset({"gold"})
