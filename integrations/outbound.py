"""Outbound HTTP that a tenant can aim (webhooks): the SSRF guard (OWASP API7).

A tenant chooses the URL, so without a guard Engram would fetch its own network for them:
the cloud metadata service, Redis, PostgreSQL, the admin side of other services. The check
happens where it cannot be dodged, on the address the socket actually connects to (like
healthchecks' curl OPENSOCKETFUNCTION): the name is resolved here, every address is vetted,
and the connection goes to the vetted address itself, so DNS rebinding between a check and
the connect is impossible. Redirects are never followed (a 3xx is a failed delivery), only
http and https are spoken, every socket operation has a timeout, the whole exchange has a
deadline, and at most a capped number of response bytes is read.

`ENGRAM_WEBHOOK_ALLOWED_HOSTS` (hostnames and CIDRs) opens private targets explicitly for
self-hosted receivers; nothing else does. Environment proxies are ignored on purpose: a proxy
would connect on our behalf to an address we never saw.
"""

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from functools import cache
from urllib.parse import SplitResult, urlsplit

from integrations import conf

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ALLOWED_SCHEMES = {"http", "https"}
MAX_URL_LENGTH = 2000
READ_CHUNK = 8192


class OutboundRefused(Exception):
    """The target is not one Engram may reach (scheme, address or shape of the URL)."""


class OutboundFailed(Exception):
    """The target could not be reached or did not answer in time."""


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    body: bytes  # at most the configured cap
    truncated: bool
    seconds: float


@dataclass(frozen=True)
class AllowList:
    hostnames: frozenset[str]
    networks: tuple[IPNetwork, ...]

    def admits_host(self, hostname: str) -> bool:
        return hostname.lower().rstrip(".") in self.hostnames

    def admits_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


def allow_list(entries: list[str] | None = None) -> AllowList:
    """Parse `ENGRAM_WEBHOOK_ALLOWED_HOSTS`: each entry is a CIDR / address or a hostname."""
    hostnames: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in conf.webhook_allowed_hosts() if entries is None else entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            hostnames.add(entry.strip().lower().rstrip("."))
    return AllowList(frozenset(hostnames), tuple(networks))


def is_public_address(address: IPAddress) -> bool:
    """Only globally routable unicast: no private, loopback, link-local (169.254.169.254,
    the metadata service), unspecified, multicast, reserved or shared (CGNAT) ranges."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public_address(address.ipv4_mapped)
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


def address_permitted(address: IPAddress, hostname: str, allowed: AllowList) -> bool:
    if allowed.admits_host(hostname) or allowed.admits_address(address):
        return True
    return is_public_address(address)


def literal_address(hostname: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(hostname.strip("[]"))
    except ValueError:
        return None


def url_validate(url: str, allowed: AllowList | None = None) -> SplitResult:
    """What can be refused before any DNS lookup: the scheme, credentials in the URL, a
    missing host, and a literal address outside the public internet."""
    allowed = allowed or allow_list()
    if len(url) > MAX_URL_LENGTH:
        raise OutboundRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError as exc:
        raise OutboundRefused("the URL is malformed") from exc
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise OutboundRefused("only http and https URLs are allowed")
    if not parts.hostname:
        raise OutboundRefused("the URL has no host")
    if parts.username or parts.password:
        raise OutboundRefused("credentials in the URL are not allowed; use the signature")
    literal = literal_address(parts.hostname)
    if literal is not None and not address_permitted(literal, parts.hostname, allowed):
        raise OutboundRefused(f"{literal} is a private, loopback or reserved address")
    return parts


def guarded_connect(host: str, port: int, timeout: float, allowed: AllowList) -> socket.socket:
    """Resolve, vet every address, connect to the first permitted one that answers."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OutboundFailed(f"could not resolve {host}") from exc
    refused, last_error = [], None
    for family, kind, proto, _, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0])
        if not address_permitted(address, host, allowed):
            refused.append(str(address))
            continue
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last_error = exc
            continue
        return sock
    if last_error is not None:
        raise OutboundFailed(f"could not connect to {host}: {last_error}")
    raise OutboundRefused(f"{host} resolves to a non-public address ({', '.join(refused)})")


class _GuardedHTTPConnection(http.client.HTTPConnection):
    allowed: AllowList

    def connect(self) -> None:
        self.sock = guarded_connect(self.host, self.port, _seconds(self.timeout), self.allowed)


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    allowed: AllowList

    def connect(self) -> None:
        raw = guarded_connect(self.host, self.port, _seconds(self.timeout), self.allowed)
        # The certificate is checked against the name the tenant gave, not the address.
        self.sock = _tls_context().wrap_socket(raw, server_hostname=self.host)


def _seconds(timeout: object) -> float:
    return float(timeout) if isinstance(timeout, int | float) else conf.outbound_timeout()


@cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def _connection(
    parts: SplitResult, timeout: float, allowed: AllowList
) -> http.client.HTTPConnection:
    host = parts.hostname or ""
    connection: _GuardedHTTPConnection | _GuardedHTTPSConnection
    if parts.scheme.lower() == "https":
        connection = _GuardedHTTPSConnection(
            host, parts.port or 443, timeout=timeout, context=_tls_context()
        )
    else:
        connection = _GuardedHTTPConnection(host, parts.port or 80, timeout=timeout)
    connection.allowed = allowed
    return connection


def _read_capped(
    response: http.client.HTTPResponse, cap: int, deadline: float
) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while size <= cap:
        if time.monotonic() > deadline:
            raise OutboundFailed("the response took longer than the timeout")
        chunk = response.read(min(READ_CHUNK, cap + 1 - size))
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:cap], True


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float | None = None,
    max_response_bytes: int | None = None,
    allowed: AllowList | None = None,
) -> OutboundResponse:
    """POST `body` to a tenant-chosen URL under the guard. Raises OutboundRefused for a
    target that is not allowed, OutboundFailed for network trouble; any HTTP status is a
    response (the caller decides what counts as delivered)."""
    allowed = allowed or allow_list()
    parts = url_validate(url, allowed)
    timeout = conf.outbound_timeout() if timeout is None else timeout
    cap = conf.webhook_max_response_bytes() if max_response_bytes is None else max_response_bytes
    started = time.monotonic()
    connection = _connection(parts, timeout, allowed)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        data, truncated = _read_capped(response, cap, started + timeout)
    except (OSError, http.client.HTTPException) as exc:
        raise OutboundFailed(f"{type(exc).__name__}: {exc}") from exc
    finally:
        connection.close()
    return OutboundResponse(response.status, data, truncated, time.monotonic() - started)
