"""The shared core's pure logic: the error table, config, tokens, encryption, redaction, paging."""

from __future__ import annotations

import base64
import json
import logging
import time

import grpc
import jwt
import pytest

from udb import errors
from udb.auth import SERVICE_ROLE, ServiceCredentials, TokenVerifier, bearer_token, mint_token
from udb.config import AuthSettings, ConfigError, Env, Secret
from udb.crypto import DecryptionError, SecretBox, generate_key, key_id, parse_key
from udb.logs import JsonFormatter, redact, request_id_var
from udb.paging import decode_cursor, encode_cursor, page_limit

SECRET = "unit-test-secret-that-is-long-enough-0123456789"


# ---- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "grpc_code", "status", "code"),
    [
        (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT, 400, "invalid_argument"),
        (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED, 401, "unauthenticated"),
        (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED, 403, "permission_denied"),
        (errors.NotFound, grpc.StatusCode.NOT_FOUND, 404, "not_found"),
        (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS, 409, "already_exists"),
        (errors.Aborted, grpc.StatusCode.ABORTED, 409, "aborted"),
        (errors.PayloadTooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED, 413, "payload_too_large"),
        (errors.RateLimited, grpc.StatusCode.RESOURCE_EXHAUSTED, 429, "rate_limited"),
        (errors.Internal, grpc.StatusCode.INTERNAL, 500, "internal"),
        (errors.Unavailable, grpc.StatusCode.UNAVAILABLE, 503, "unavailable"),
        (errors.DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED, 504, "deadline_exceeded"),
    ],
)
def test_each_error_class_has_the_api_code_and_statuses(
    cls: type[errors.DatabaseError], grpc_code: grpc.StatusCode, status: int, code: str
) -> None:
    """The one table maps every class to API.md's code and status and to its gRPC code."""
    assert (cls.code, cls.http_status, cls.grpc_code) == (code, status, grpc_code)
    assert errors.ERRORS_BY_CODE[code] is cls


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str, metadata: tuple[tuple[str, bytes], ...] = ()) -> None:
        self._code, self._details, self._metadata = code, details, metadata

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        return self._metadata


def test_an_error_round_trips_through_the_rich_status_trailer() -> None:
    """A raised error comes back from its gRPC status as the same class, message and details."""
    error = errors.PayloadTooLarge("document over 16 MB", details={"limit": 16777216})
    rebuilt = errors.from_rpc_error(FakeRpcError(error.grpc_code, error.message, errors.trailing_metadata_of(error)))
    assert type(rebuilt) is errors.PayloadTooLarge
    assert rebuilt.message == "document over 16 MB"
    assert rebuilt.details == {"limit": "16777216"}


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (grpc.StatusCode.FAILED_PRECONDITION, errors.InvalidArgument),
        (grpc.StatusCode.ABORTED, errors.Aborted),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, errors.RateLimited),
        (grpc.StatusCode.UNIMPLEMENTED, errors.Unimplemented),
        (grpc.StatusCode.DEADLINE_EXCEEDED, errors.DeadlineExceeded),
        (grpc.StatusCode.DATA_LOSS, errors.Internal),
        # A peer that stopped past its grace cancels the calls it still had: send again (503).
        (grpc.StatusCode.CANCELLED, errors.Unavailable),
    ],
)
def test_plain_grpc_statuses_map_by_code(code: grpc.StatusCode, cls: type[errors.DatabaseError]) -> None:
    """A status without our trailer maps by the STYLE table."""
    assert type(errors.from_rpc_error(FakeRpcError(code, "x"))) is cls


def test_foreign_status_texts_never_reach_the_client() -> None:
    """gRPC's own UNAVAILABLE/INTERNAL texts (addresses, socket errors) are replaced by ours."""
    text = "failed to connect to all addresses; ipv4:10.0.0.5:6379 redis://u:hunter2@10.0.0.5"
    assert "hunter2" not in errors.from_rpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE, text)).message
    assert errors.from_rpc_error(FakeRpcError(grpc.StatusCode.UNKNOWN, text)).message == "internal error"


# ---- config -----------------------------------------------------------------------------


def test_env_reads_environment_then_dotenv_then_default(tmp_path: pytest.TempPathFactory) -> None:
    """The environment wins over .env, which wins over the default."""
    dotenv = tmp_path / ".env"  # type: ignore[operator]
    dotenv.write_text("A=from-file\nB=from-file\n")
    env = Env(environ={"A": "from-env"}, env_file=dotenv)
    assert env.str("A") == "from-env"
    assert env.str("B") == "from-file"
    assert env.str("C", "default") == "default"


def test_missing_and_malformed_settings_name_the_variable() -> None:
    """A required setting that is absent, or a number that is not, fails naming the variable."""
    env = Env(environ={"PORT": "eighty"}, env_file=None)
    with pytest.raises(ConfigError, match="NEEDED"):
        env.str("NEEDED")
    with pytest.raises(ConfigError, match="PORT"):
        env.int("PORT", 1)
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        AuthSettings.from_env(env)


def test_secrets_print_as_stars() -> None:
    """A Secret shows stars in str, repr and f-strings, and reveals only on request."""
    secret = Secret("hunter2")
    assert "hunter2" not in f"{secret} {secret!r} {[secret]}"
    assert secret.reveal() == "hunter2"


# ---- tokens -----------------------------------------------------------------------------


def verifier(**kwargs: str) -> TokenVerifier:
    return TokenVerifier(AuthSettings(jwt_secret=Secret(SECRET), **kwargs))  # type: ignore[arg-type]


async def test_a_good_token_gives_its_subject_and_role() -> None:
    """sub is the user id and role the claim; the principal's repr hides the token."""
    token = mint_token(SECRET, subject="user-1")
    principal = await verifier().verify(token)
    assert (principal.subject, principal.role, principal.is_service) == ("user-1", "authenticated", False)
    assert token not in repr(principal)


@pytest.mark.parametrize(
    "make",
    [
        lambda: mint_token(SECRET, subject="u", ttl_s=-30),
        lambda: jwt.encode({"sub": "u"}, SECRET, algorithm="HS256"),
        lambda: jwt.encode(
            {"sub": "u", "exp": int(time.time()) + 60}, "another-secret-long-enough-000000", algorithm="HS256"
        ),
        lambda: jwt.encode({"exp": int(time.time()) + 60}, SECRET, algorithm="HS256"),
        lambda: jwt.encode({"sub": "u", "exp": int(time.time()) + 60}, SECRET * 2, algorithm="HS512"),
        lambda: "garbage",
    ],
    ids=["expired", "no-exp", "forged", "no-sub", "other-alg", "garbage"],
)
async def test_bad_tokens_are_refused(make: object) -> None:
    """Expired, exp-less, forged, subject-less, wrong-algorithm and garbage tokens are refused."""
    with pytest.raises(errors.Unauthenticated):
        await verifier().verify(make())  # type: ignore[operator]


async def test_audience_is_checked_when_configured() -> None:
    """With JWT_AUDIENCE set, a token for another audience is refused and the right one accepted."""
    checking = verifier(audience="udb")
    with pytest.raises(errors.Unauthenticated):
        await checking.verify(mint_token(SECRET, subject="u", audience="other"))
    assert (await checking.verify(mint_token(SECRET, subject="u", audience="udb"))).subject == "u"


async def test_service_tokens_are_minted_and_accepted_as_service_role() -> None:
    """A service's own credentials verify as a service-role principal."""
    credentials = ServiceCredentials(AuthSettings(jwt_secret=Secret(SECRET)), "redis-svc")
    token = bearer_token(dict(credentials.metadata())["authorization"])
    principal = await verifier().verify(token)
    assert principal.role == SERVICE_ROLE and principal.is_service


def test_bearer_header_must_be_well_formed() -> None:
    """Only 'Bearer <token>' is accepted."""
    assert bearer_token("Bearer abc") == "abc"
    for header in (None, "", "Basic abc", "Bearer "):
        with pytest.raises(errors.Unauthenticated):
            bearer_token(header)


# ---- encryption -------------------------------------------------------------------------


def test_secret_box_round_trips_and_binds_the_record() -> None:
    """A sealed secret opens for its record only, with a fresh nonce each time."""
    box = SecretBox(base64.b64decode(generate_key()))
    sealed, kid = box.encrypt("pw", associated_data=b"row-1")
    again, _ = box.encrypt("pw", associated_data=b"row-1")
    assert sealed != again and b"pw" not in sealed
    assert box.decrypt(sealed, key_id=kid, associated_data=b"row-1") == "pw"
    with pytest.raises(DecryptionError):
        box.decrypt(sealed, key_id=kid, associated_data=b"row-2")


def test_an_old_key_still_opens_and_new_seals_use_the_current_key() -> None:
    """With the previous key configured, old ciphertexts open; new ones carry the current key id."""
    old, new = base64.b64decode(generate_key()), base64.b64decode(generate_key())
    sealed, old_id = SecretBox(old).encrypt("pw", associated_data=b"r")
    rotated = SecretBox(new, previous=(old,))
    assert rotated.decrypt(sealed, key_id=old_id, associated_data=b"r") == "pw"
    assert rotated.encrypt("pw", associated_data=b"r")[1] == key_id(new) != old_id
    with pytest.raises(DecryptionError):
        SecretBox(new).decrypt(sealed, key_id=old_id, associated_data=b"r")


@pytest.mark.parametrize("value", ["", "not base64!!", base64.b64encode(b"short").decode()])
def test_malformed_keys_fail_at_start_naming_the_variable(value: str) -> None:
    """A missing, non-base64 or short key is a ConfigError naming DATABASE_ENCRYPTION_KEY."""
    with pytest.raises(ConfigError, match="DATABASE_ENCRYPTION_KEY"):
        SecretBox.from_settings(Secret(value) if value else None)


def test_keys_parse_from_standard_and_urlsafe_base64() -> None:
    """Both base64 alphabets are accepted for a 32-byte key."""
    raw = bytes(range(250, 256)) + bytes(26)
    for text in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")):
        assert parse_key(Secret(text), "K") == raw


# ---- logs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "connect redis://admin:hunter2@db:6379/0 failed",
        "postgresql://app:hunter2@db/x",
        'password="hunter2"',
        "PASSWORD=hunter2 next",
        "Authorization: Bearer hunter2",
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJodW50ZXIyIn0.c2lnbmF0dXJl",
    ],
)
def test_redaction_removes_passwords_and_tokens(text: str) -> None:
    """Connection-string passwords, password fields and tokens are scrubbed from log text."""
    scrubbed = redact(text)
    assert "hunter2" not in scrubbed
    assert "eyJzdWIi" not in scrubbed


def test_json_log_lines_carry_the_request_id_and_extras() -> None:
    """A record becomes one JSON object with service, message, request id and extra fields."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    record.method = "/a/B"
    token = request_id_var.set("rid-1")
    try:
        line = json.loads(JsonFormatter("svc").format(record))
    finally:
        request_id_var.reset(token)
    assert line["msg"] == "hello world"
    assert (line["service"], line["request_id"], line["method"]) == ("svc", "rid-1", "/a/B")


# ---- paging -----------------------------------------------------------------------------


def test_page_limits_default_and_bound() -> None:
    """limit defaults to 100, allows up to 1000 and refuses more."""
    assert page_limit(0) == 100
    assert page_limit(1000) == 1000
    with pytest.raises(errors.InvalidArgument):
        page_limit(1001)


def test_cursors_round_trip_and_forged_ones_are_refused() -> None:
    """A cursor decodes to its position; a string that is no cursor is a 400."""
    assert decode_cursor(encode_cursor("slug/é")) == "slug/é"
    assert decode_cursor("") is None
    with pytest.raises(errors.InvalidArgument):
        decode_cursor("%%%")
