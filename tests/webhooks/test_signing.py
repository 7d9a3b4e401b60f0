"""Signature vectors (computed independently with `openssl dgst -sha256 -hmac`) and the receiver's checks."""

from __future__ import annotations

import pytest

from appliance.webhooks.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    InvalidSignature,
    sign_headers,
    signature,
    verify,
)

VECTORS = [
    ("whsec_test", 1767225600, b'{"event":"call.started","id":"e1"}',
     "e19b1848331a8f81411a24916b5f5f2ba37183803623527d2a26396c9aae39c2"),
    ("whsec_test", 1767225600, b"", "bc5f22c68024f86d3be1b4ddd6417a119940e00ea9c5f409f8e48b2b4c7c771f"),
    ("k3y-ü", 1700000000, b'{"data":{"caller":"+4930123456"},"event":"turn.completed"}',
     "cba58d1a7b0bf0eb5369f7dd1f01301ddc7e7ddfad36f7825163eb24e359b5bc"),
]


@pytest.mark.parametrize(("secret", "ts", "body", "expected"), VECTORS)
def test_signature_matches_openssl_hmac_sha256_of_timestamp_dot_body(secret: str, ts: int, body: bytes,
                                                                      expected: str) -> None:
    assert signature(secret, ts, body) == expected
    headers = sign_headers(secret, body, timestamp=ts)
    assert headers == {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: f"v1={expected}"}
    verify(secret, body, str(ts), headers[SIGNATURE_HEADER], now=ts + 10)


def test_receiver_refuses_a_changed_body_another_secret_a_replay_and_missing_headers() -> None:
    secret, ts, body, _ = VECTORS[0]
    good = sign_headers(secret, body, timestamp=ts)[SIGNATURE_HEADER]
    with pytest.raises(InvalidSignature, match="does not match"):
        verify(secret, body + b" ", str(ts), good, now=ts)
    with pytest.raises(InvalidSignature, match="does not match"):
        verify("whsec_other", body, str(ts), good, now=ts)
    with pytest.raises(InvalidSignature, match="does not match"):  # timestamp moved: signature no longer fits
        verify(secret, body, str(ts + 1), good, now=ts)
    with pytest.raises(InvalidSignature, match="tolerance"):
        verify(secret, body, str(ts), good, now=ts + 301)
    with pytest.raises(InvalidSignature, match="missing"):
        verify(secret, body, None, good, now=ts)
    with pytest.raises(InvalidSignature, match="integer"):
        verify(secret, body, "soon", good, now=ts)


def test_a_rotated_secret_verifies_when_either_signature_matches() -> None:
    old, new = "whsec_old", "whsec_new"
    body, ts = b'{"x":1}', 1767225600
    both = f"v1={signature(old, ts, body)}, v1={signature(new, ts, body)}"
    verify(new, body, str(ts), both, now=ts)
    verify(old, body, str(ts), both, now=ts)
