"""Both signature schemes, checked against known values and the standardwebhooks library."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from hookwire.signing import (
    SCHEME_HOOKWIRE,
    SCHEME_STANDARD,
    generate_token,
    sign,
    sign_standard,
    signature_headers,
    standard_key,
    standard_secret,
    verify,
    verify_standard,
)

BODY = b'{"event":"license.created","data":{"key":"D08B53"},"triggeredAt":"2018-04-20T13:11:34Z"}'
MSG_ID = "dl_01hzzzzzzzzzzzzzzzzzzzzzzz"


def test_sign_is_base64_hmac_sha256_of_the_body_keyed_by_the_token() -> None:
    expected = base64.b64encode(hmac.new(b"s3cret", BODY, hashlib.sha256).digest()).decode()
    assert sign("s3cret", BODY) == expected
    # A published HMAC-SHA256 test vector (RFC 4231 case 2), to pin the algorithm.
    digest = base64.b64decode(sign("Jefe", b"what do ya want for nothing?"))
    assert digest.hex() == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_sign_uses_the_tokens_utf8_bytes() -> None:
    expected = hmac.new("clé".encode(), BODY, hashlib.sha256).digest()
    assert base64.b64decode(sign("clé", BODY)) == expected


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("{good}", True),
        ("{other} {good}", True),
        ("  {good}  ", True),
        ("{other}", False),
        ("", False),
        ("{good}x", False),
        ("v1,{good}", False),
        ("ünïcode {good}", True),
    ],
)
def test_verify_accepts_any_matching_space_separated_signature(header: str, ok: bool) -> None:
    filled = header.format(good=sign("tok", BODY), other=sign("old", BODY))
    assert verify("tok", BODY, filled) is ok


def test_verify_refuses_another_body() -> None:
    assert not verify("tok", BODY + b" ", sign("tok", BODY))


def test_generated_tokens_have_the_schemes_form() -> None:
    token = generate_token(SCHEME_HOOKWIRE)
    assert len(token) == 43 and not token.startswith("whsec_")
    secret = generate_token(SCHEME_STANDARD)
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert generate_token(SCHEME_STANDARD) != secret
    with pytest.raises(ValueError, match="unknown signature scheme"):
        generate_token("sha1")


@pytest.mark.parametrize(
    ("token", "key", "secret"),
    [
        (
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            None,
        ),
        ("whsec_AQID", b"\x01\x02\x03", None),
        ("whsec_AQI", b"\x01\x02", None),  # unpadded base64, as the library accepts
        ("plain-token", b"plain-token", "whsec_" + base64.b64encode(b"plain-token").decode()),
        ("whsec_not base64!", b"whsec_not base64!", "whsec_d2hzZWNfbm90IGJhc2U2NCE="),
        ("whsec_", b"whsec_", "whsec_d2hzZWNf"),
    ],
)
def test_standard_key_and_secret(token: str, key: bytes, secret: str | None) -> None:
    assert standard_key(token) == key
    assert standard_secret(token) == (secret or token)
    # The library derives the same key from the secret we hand to receivers.
    assert Webhook(standard_secret(token))._whsecret == key


def test_sign_standard_matches_the_library() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    timestamp = 1_614_265_330
    ours = sign_standard(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp, b'{"test": 2432232314}')
    # The example from the Standard Webhooks specification.
    assert ours == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize("kind", ["generated whsec_", "plain"])
def test_standard_headers_verify_with_the_standardwebhooks_library(kind: str) -> None:
    token = "a plain seed token" if kind == "plain" else generate_token(SCHEME_STANDARD)
    timestamp = int(time.time())
    headers = signature_headers(SCHEME_STANDARD, [token], MSG_ID, timestamp, BODY)
    assert headers["Webhook-Signature"].startswith("v1,")
    assert Webhook(standard_secret(token)).verify(BODY, headers) == json.loads(BODY)
    # Receivers' frameworks hand headers over lower-cased, as the specification spells them.
    lowered = {name.lower(): value for name, value in headers.items()}
    Webhook(standard_secret(token)).verify(BODY, lowered)
    assert verify_standard(
        token, MSG_ID, timestamp, BODY, headers["Webhook-Signature"], now=timestamp
    )


def test_standard_rotation_signs_with_both_tokens() -> None:
    new, old = generate_token(SCHEME_STANDARD), "the old plain token"
    timestamp = int(time.time())
    headers = signature_headers(SCHEME_STANDARD, [new, old], MSG_ID, timestamp, BODY)
    signatures = headers["Webhook-Signature"].split(" ")
    assert signatures == [
        sign_standard(new, MSG_ID, timestamp, BODY),
        sign_standard(old, MSG_ID, timestamp, BODY),
    ]
    for token in (new, old):
        Webhook(standard_secret(token)).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(standard_secret("a third token")).verify(BODY, headers)


def test_standard_library_refuses_a_tampered_body() -> None:
    token = generate_token(SCHEME_STANDARD)
    headers = signature_headers(SCHEME_STANDARD, [token], MSG_ID, int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(token).verify(BODY.replace(b"D08B53", b"D08B54"), headers)


def test_hookwire_headers() -> None:
    headers = signature_headers(SCHEME_HOOKWIRE, ["tok"], MSG_ID, 1_700_000_000, BODY)
    assert headers == {
        "Webhook-Id": MSG_ID,
        "Webhook-Timestamp": "1700000000",
        "Webhook-Signature": sign("tok", BODY),
    }


def test_hookwire_rotation_signs_with_both_tokens() -> None:
    headers = signature_headers(SCHEME_HOOKWIRE, ["new", "old"], MSG_ID, 1, BODY)
    assert headers["Webhook-Signature"] == f"{sign('new', BODY)} {sign('old', BODY)}"
    assert verify("new", BODY, headers["Webhook-Signature"])
    assert verify("old", BODY, headers["Webhook-Signature"])
    assert not verify("other", BODY, headers["Webhook-Signature"])


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown signature scheme"):
        signature_headers("md5", ["tok"], MSG_ID, 1, BODY)


@pytest.mark.parametrize(
    ("now_offset", "header_of", "ok"),
    [
        (0, "good", True),
        (300, "good", True),
        (-300, "good", True),
        (301, "good", False),
        (-301, "good", False),
        (0, "v2", False),
        (0, "bare", False),
        (0, "other id", False),
        (0, "both", True),
    ],
)
def test_verify_standard(now_offset: int, header_of: str, ok: bool) -> None:
    token, timestamp = "whsec_AQIDBAUGBwgJ", 1_700_000_000
    good = sign_standard(token, MSG_ID, timestamp, BODY)
    header = {
        "good": good,
        "v2": "v2," + good.removeprefix("v1,"),
        "bare": good.removeprefix("v1,"),
        "other id": sign_standard(token, "dl_other", timestamp, BODY),
        "both": f"{sign_standard('old', MSG_ID, timestamp, BODY)} {good}",
    }[header_of]
    result = verify_standard(token, MSG_ID, timestamp, BODY, header, now=timestamp + now_offset)
    assert result is ok
