"""Webhook signatures: HMAC-SHA256 over `<timestamp>.<body>` with the webhook's secret.

Header: `X-Engram-Signature: t=<unix seconds>,v1=<hex digest>`. Binding the timestamp into
the MAC lets a receiver refuse replays older than its tolerance; `v1=` leaves room for a
second scheme (or a rotated secret) beside the first. Receivers verify with
`signature_verify`, or with the ten lines in docs/integrations.md.
"""

import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "X-Engram-Signature"
EVENT_HEADER = "X-Engram-Event"
DELIVERY_HEADER = "X-Engram-Delivery"
SECRET_PREFIX = "whsec_"  # noqa: S105 -- a prefix, not a secret
DEFAULT_TOLERANCE_SECONDS = 300


def secret_generate() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature_digest(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={signature_digest(secret, timestamp, body)}"


def _parse(header: str) -> tuple[int | None, list[str]]:
    timestamp, digests = None, []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            digests.append(value)
    return timestamp, digests


def signature_verify(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when one `v1` digest matches and the timestamp is within `tolerance` seconds."""
    timestamp, digests = _parse(header)
    if timestamp is None or not digests:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature_digest(secret, timestamp, body)
    return any(hmac.compare_digest(expected, digest) for digest in digests)
