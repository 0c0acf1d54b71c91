"""The webhook signature scheme, on literals: what a receiver would check."""

from __future__ import annotations

import hashlib
import hmac

from marsad.alerts.signing import sign, verify

SECRET = b"k3y"
BODY = '{"title":"عاجل"}'.encode()
T = 1_740_830_400


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET, f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, T, BODY) == f"t={T},v1={expected}"


def test_verify_accepts_its_own_signature_within_the_window() -> None:
    header = sign(SECRET, T, BODY)
    assert verify(SECRET, header, BODY, now=T)
    assert verify(SECRET, header, BODY, now=T + 300)
    assert verify(SECRET, header, BODY, now=T - 300)
    assert verify(SECRET, header, BODY, now=T + 30, tolerance=60)


def test_verify_rejects_old_or_future_timestamps() -> None:
    header = sign(SECRET, T, BODY)
    assert not verify(SECRET, header, BODY, now=T + 301)
    assert not verify(SECRET, header, BODY, now=T - 301)
    assert not verify(SECRET, header, BODY, now=T + 61, tolerance=60)


def test_verify_rejects_tampering() -> None:
    header = sign(SECRET, T, BODY)
    assert not verify(b"other", header, BODY, now=T)
    assert not verify(SECRET, header, BODY + b" ", now=T)
    # Moving the timestamp breaks the signature: it is part of what was signed.
    moved = header.replace(f"t={T}", f"t={T + 1}")
    assert not verify(SECRET, moved, BODY, now=T)


def test_verify_accepts_any_of_several_v1_values() -> None:
    good = sign(SECRET, T, BODY).split(",")[1]
    assert verify(SECRET, f"t={T},v1={'0' * 64},{good}", BODY, now=T)


def test_verify_rejects_malformed_headers() -> None:
    for header in ["", "garbage", f"t={T}", "v1=abc", f"t=soon,v1={'0' * 64}", f"t={T},v1=ع"]:
        assert not verify(SECRET, header, BODY, now=T), header
