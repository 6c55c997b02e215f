"""The SSRF guard of outbound requests: which addresses are refused, the allow-list, and the
limits (timeout, response size, no redirects)."""

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from integrations import outbound
from integrations.outbound import OutboundFailed, OutboundRefused, allow_list


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "224.0.0.1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert not outbound.address_permitted(ip, "example.com", allow_list([]))


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::6810:84e5"])
def test_public_addresses_are_permitted(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert outbound.address_permitted(ip, "example.com", allow_list([]))


def test_the_allow_list_takes_cidrs_and_hostnames() -> None:
    allowed = allow_list(["10.0.0.0/8", "hooks.internal"])
    assert outbound.address_permitted(ipaddress.ip_address("10.9.9.9"), "x", allowed)
    assert outbound.address_permitted(
        ipaddress.ip_address("192.168.0.1"), "hooks.internal.", allowed
    )
    assert not outbound.address_permitted(ipaddress.ip_address("192.168.0.1"), "x", allowed)


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data")
            self.end_headers()
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"x" * 1_000_000)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


LOOPBACK = allow_list(["127.0.0.1"])


def test_a_huge_response_is_cut_at_the_cap(http_server: str) -> None:
    response = outbound.post(
        f"{http_server}/big", b"{}", {}, allowed=LOOPBACK, max_response_bytes=1000, timeout=5
    )
    assert response.status == 200 and len(response.body) == 1000 and response.truncated


def test_redirects_are_not_followed(http_server: str) -> None:
    response = outbound.post(f"{http_server}/redirect", b"{}", {}, allowed=LOOPBACK, timeout=5)
    assert response.status == 302


def test_a_silent_server_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
        started = time.monotonic()
        with pytest.raises(OutboundFailed):
            outbound.post(url, b"{}", {}, allowed=LOOPBACK, timeout=0.5)
        assert time.monotonic() - started < 3


def test_loopback_is_refused_without_the_allow_list(http_server: str) -> None:
    with pytest.raises(OutboundRefused):
        outbound.post(f"{http_server}/big", b"{}", {}, allowed=allow_list([]), timeout=5)
    port = http_server.rsplit(":", 1)[1]
    with pytest.raises(OutboundRefused, match="non-public"):
        outbound.post(f"http://localhost:{port}/", b"{}", {}, allowed=allow_list([]), timeout=5)
