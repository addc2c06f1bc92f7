"""Small services on 127.0.0.1 for nmap to scan, and the scans that made the nmap fixtures.

An SSH-like banner server and an HTTP server that says it is Apache, optionally answering the
overlapping byte-range request that nmap's ``http-vuln-cve2011-3192`` script checks for, so that
real nmap output (service detection and NSE ``vulns`` results) can be produced here and tested.

Regenerate the fixtures (needs nmap; run as root for -O) with::

    .venv/bin/python -m tests.inventory.importers.localhost_services tests/data [FILE_NAME ...]
"""

from __future__ import annotations

import shutil
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LOCALHOST = "127.0.0.1"
NMAP_TIMEOUT_SECONDS = 90
# Apache answers more than this many ranges with 206 only while vulnerable (CVE-2011-3192).
PATCHED_MAX_RANGES = 10


class _BannerHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server = self.server
        assert isinstance(server, BannerServer)
        self.request.sendall(server.banner + b"\r\n")
        self.request.settimeout(2)
        with suppress(OSError):
            self.request.recv(1024)


class BannerServer(socketserver.ThreadingTCPServer):
    """A TCP server that greets every client with one line, as SSH servers do."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, banner: str) -> None:
        self.banner = banner.encode()
        super().__init__((LOCALHOST, port), _BannerHandler)


class _ApacheLikeHandler(BaseHTTPRequestHandler):
    body = b"<html><head><title>PACS web viewer</title></head><body>viewer</body></html>"

    def version_string(self) -> str:
        server = self.server
        assert isinstance(server, ApacheLikeServer)
        return server.server_header

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def _answer(self, *, with_body: bool) -> None:
        server = self.server
        assert isinstance(server, ApacheLikeServer)
        ranges = self.headers.get("Range", "").removeprefix("bytes=")
        count = len(ranges.split(",")) if ranges else 0
        partial = count > 0 and (server.byterange_vulnerable or count <= PATCHED_MAX_RANGES)
        self.send_response(206 if partial else 200)
        if partial and count > 1:
            self.send_header("Content-Type", "multipart/byteranges; boundary=3d6b6a416f9b5")
        else:
            self.send_header("Content-Type", "text/html")
        if partial and count == 1:
            self.send_header("Content-Range", f"bytes 0-{len(self.body) - 1}/{len(self.body)}")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        if with_body:
            self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: pytest would show every request nmap makes."""


class ApacheLikeServer(ThreadingHTTPServer):
    """An HTTP server announcing ``server_header``; byte ranges as old or patched Apache does."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, server_header: str, *, byterange_vulnerable: bool) -> None:
        self.server_header = server_header
        self.byterange_vulnerable = byterange_vulnerable
        super().__init__((LOCALHOST, port), _ApacheLikeHandler)


@dataclass(frozen=True)
class Ports:
    ssh: int
    http: int
    ftp: int
    closed: int

    def scanned(self) -> list[int]:
        return [self.ssh, self.http, self.ftp, self.closed]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((LOCALHOST, 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(server: socketserver.TCPServer) -> Iterator[int]:
    """Run ``server`` in a thread; yield its port; shut it down afterwards."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def run_nmap(ports: list[int], *options: str) -> bytes:
    """Scan ``ports`` of 127.0.0.1 (never another address) with nmap; return its XML output.

    A ``-p`` among ``options`` wins over ``ports``; with ``-sn`` no port is scanned.
    """
    nmap = shutil.which("nmap")
    if nmap is None:
        raise RuntimeError("nmap is not installed")
    port_list = ",".join(str(p) for p in ports)
    if "-sn" in options:  # a ping sweep: host discovery only, no ports
        command = [nmap, *options, "-n", "-oX", "-", LOCALHOST]
    else:
        if "-p" not in options:
            options = (*options, "-p", port_list)
        command = [nmap, *options, "-Pn", "-n", "-oX", "-", LOCALHOST]
    done = subprocess.run(command, capture_output=True, timeout=NMAP_TIMEOUT_SECONDS, check=True)
    return done.stdout


SERVICE_SCAN = ("-sV", "--version-light")
BYTERANGE_SCRIPT = ("--script", "http-vuln-cve2011-3192")
FIXTURE_PORTS = Ports(ssh=2222, http=8080, ftp=2121, closed=8443)
# nmap knows this FTP server by its banner; its CPE carries no version (nmap-service-probes).
FTP_BANNER = "220 pyftpdlib 1.5.7 ready."
PORT_RANGE = "2100-2300"


def _fixture_scans() -> dict[str, tuple[bool, str, bool, tuple[str, ...]]]:
    """File name -> (http up, SSH banner, byte-range vulnerable, nmap options).

    The port range scan covers SSH and FTP but not HTTP, and lists closed ports only as a count;
    the ping sweep (-sn) probes no port at all; without -sV nmap names services by port number.
    """
    old_ssh = "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.1"
    new_ssh = "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5"
    return {
        "nmap_service_detection_localhost.xml": (
            True,
            old_ssh,
            True,
            (*SERVICE_SCAN, *BYTERANGE_SCRIPT),
        ),
        "nmap_service_detection_localhost_rescan.xml": (
            False,
            new_ssh,
            True,
            (*SERVICE_SCAN, *BYTERANGE_SCRIPT),
        ),
        "nmap_os_detection_localhost.xml": (
            True,
            new_ssh,
            False,
            ("-O", *SERVICE_SCAN, *BYTERANGE_SCRIPT, "--script-args", "vulns.showall"),
        ),
        "nmap_ping_sweep_localhost.xml": (False, new_ssh, False, ("-sn",)),
        "nmap_without_version_detection_localhost.xml": (True, old_ssh, True, ()),
        "nmap_port_range_localhost.xml": (
            False,
            new_ssh,
            False,
            (*SERVICE_SCAN, "-p", PORT_RANGE),
        ),
    }


def write_fixtures(folder: Path, names: list[str]) -> None:
    """Run the fixture scans named (all if none) on fresh local services; write into ``folder``."""
    for name, (http_up, banner, vulnerable, options) in _fixture_scans().items():
        if names and name not in names:
            continue
        with ExitStack() as stack:
            stack.enter_context(serving(BannerServer(FIXTURE_PORTS.ssh, banner)))
            stack.enter_context(serving(BannerServer(FIXTURE_PORTS.ftp, FTP_BANNER)))
            if http_up:
                header = "Apache/2.4.49 (Unix)"
                http = ApacheLikeServer(FIXTURE_PORTS.http, header, byterange_vulnerable=vulnerable)
                stack.enter_context(serving(http))
            xml = run_nmap(FIXTURE_PORTS.scanned(), *options)
        (folder / name).write_bytes(xml)
        print(f"wrote {folder / name}")


if __name__ == "__main__":
    write_fixtures(Path(sys.argv[1]), sys.argv[2:])
