"""Callers' identity: JWT checking for every service and the gateway, and service tokens for peers.

Tokens are HS256 with ``JWT_SECRET`` or RS256/ES256 with keys from ``JWT_JWKS_URL``. ``exp`` is
required, ``aud`` is checked when configured, ``sub`` is the user id, and a ``role`` claim of
``service_role`` acts with owner rights on every project (internal callers).
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import time
from collections import OrderedDict
from dataclasses import dataclass

import jwt

from udb.config import AuthSettings
from udb.errors import Unauthenticated

SERVICE_ROLE = "service_role"
#: The longest bearer token accepted. A token travels on as gRPC metadata, whose size is bounded
#: (udb.server.MAX_METADATA_BYTES): a longer one is refused here, as 401, not there.
MAX_TOKEN_BYTES = 16 * 1024
_HMAC_ALGORITHMS = ["HS256"]
_JWKS_ALGORITHMS = ["RS256", "ES256"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's subject and role, and the token itself to pass on to peers."""

    subject: str
    role: str
    token: str
    expires_at: float

    @property
    def is_service(self) -> bool:
        return self.role == SERVICE_ROLE

    def __repr__(self) -> str:  # never print the token
        return f"Principal(subject={self.subject!r}, role={self.role!r})"


#: The authenticated caller of the RPC or request being served.
principal_var: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)


def current_principal() -> Principal:
    """The caller of the current RPC; the auth interceptor has set it for every protected method."""
    principal = principal_var.get()
    if principal is None:
        raise Unauthenticated("no authenticated caller")
    return principal


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` value."""
    if not header:
        raise Unauthenticated("missing bearer token")
    if len(header) > MAX_TOKEN_BYTES:
        raise Unauthenticated(f"the bearer token is longer than {MAX_TOKEN_BYTES // 1024} KiB")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("authorization must be 'Bearer <token>'")
    return token.strip()


class TokenVerifier:
    """Checks JWTs and remembers the good ones until they expire (the hot path pays once)."""

    def __init__(self, settings: AuthSettings, *, cache_size: int = 10_000, leeway_s: float = 5.0) -> None:
        self._secret = settings.jwt_secret.reveal() if settings.jwt_secret else None
        self._audience = settings.audience
        self._jwks = jwt.PyJWKClient(settings.jwks_url, cache_keys=True) if settings.jwks_url else None
        self._cache: OrderedDict[str, Principal] = OrderedDict()
        self._cache_size = cache_size
        self._leeway = leeway_s

    def cached(self, token: str) -> Principal | None:
        """The principal of a token seen before and still valid, without any work."""
        principal = self._cache.get(token)
        if principal is not None and principal.expires_at > time.time():
            return principal
        return None

    async def verify(self, token: str) -> Principal:
        """The principal a token proves; Unauthenticated when it is missing, bad, expired or forged."""
        principal = self.cached(token)
        if principal is not None:
            return principal
        claims = await self._decode(token)
        principal = self._principal(token, claims)
        self._cache[token] = principal
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return principal

    async def _decode(self, token: str) -> dict[str, object]:
        options = {"require": ["exp"], "verify_aud": self._audience is not None}
        try:
            header = jwt.get_unverified_header(token)
            algorithm = header.get("alg")
            if self._secret is not None and algorithm in _HMAC_ALGORITHMS:
                return jwt.decode(
                    token,
                    self._secret,
                    algorithms=_HMAC_ALGORITHMS,
                    audience=self._audience,
                    options=options,  # type: ignore[arg-type]
                    leeway=self._leeway,
                )
            if self._jwks is not None and algorithm in _JWKS_ALGORITHMS:
                # Key fetches are blocking HTTP; keep them off the event loop.
                key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
                return jwt.decode(
                    token,
                    key.key,
                    algorithms=_JWKS_ALGORITHMS,
                    audience=self._audience,
                    options=options,  # type: ignore[arg-type]
                    leeway=self._leeway,
                )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("token audience not accepted") from None
        except jwt.PyJWKClientError:
            raise Unauthenticated("token signing key not found") from None
        except (jwt.PyJWTError, TypeError, ValueError, OverflowError):
            # PyJWT's own claim checks raise the built-in errors on some wrong types.
            raise Unauthenticated("invalid token") from None
        raise Unauthenticated("token algorithm not accepted")

    @staticmethod
    def _principal(token: str, claims: dict[str, object]) -> Principal:
        # PyJWT reads numeric dates through int(), which takes "123" too: RFC 7519 says numbers.
        for name in ("exp", "iat", "nbf"):
            value = claims.get(name)
            if (value is not None or name == "exp") and not _is_number(value):
                raise Unauthenticated(f"token claim {name} must be a number")
        role = claims.get("role") or "authenticated"
        if not isinstance(role, str):
            raise Unauthenticated("token claim role must be a string")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            if role != SERVICE_ROLE:
                raise Unauthenticated("token has no subject")
            subject = "service"
        exp = claims["exp"]
        assert isinstance(exp, int | float)
        return Principal(subject=subject, role=role, token=token, expires_at=float(exp))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def mint_token(
    secret: str,
    *,
    subject: str,
    role: str = "authenticated",
    ttl_s: float = 3600.0,
    audience: str | None = None,
) -> str:
    """An HS256 token, for service identities and for local use (dev tokens, tests, the CLI)."""
    now = int(time.time())
    claims: dict[str, object] = {"sub": subject, "role": role, "iat": now, "exp": now + int(ttl_s)}
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")


class ServiceCredentials:
    """This process's own service-role token, minted with the HS256 secret or given as config."""

    _REFRESH_MARGIN_S = 300.0

    def __init__(self, settings: AuthSettings, service_name: str, *, ttl_s: float = 3600.0) -> None:
        self._secret = settings.jwt_secret.reveal() if settings.jwt_secret else None
        self._static = settings.service_token.reveal() if settings.service_token else None
        self._audience = settings.audience
        #: The service these credentials speak for (a label of its metrics).
        self.service_name = service_name
        self._subject = f"service:{service_name}"
        self._ttl = ttl_s
        self._token = ""
        self._expires_at = 0.0
        self._metadata: tuple[tuple[str, str], ...] = ()

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """gRPC call metadata that authenticates this service to a peer."""
        if self._static is not None and self._secret is None:
            return (("authorization", f"Bearer {self._static}"),)
        if time.time() > self._expires_at - self._REFRESH_MARGIN_S:
            assert self._secret is not None  # AuthSettings.from_env requires one of the two
            self._token = mint_token(
                self._secret,
                subject=self._subject,
                role=SERVICE_ROLE,
                ttl_s=self._ttl,
                audience=self._audience,
            )
            self._expires_at = time.time() + self._ttl
            self._metadata = (("authorization", f"Bearer {self._token}"),)
        return self._metadata
