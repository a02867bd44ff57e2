"""Test doubles for the KubeClient tests: a fake API server on 127.0.0.1, kubeconfigs, a tiny PKI.

`FakeAPIServer` is a stdlib ``ThreadingHTTPServer`` on an ephemeral port, speaking HTTP/1.1. Tests
script it per request path: `FakeAPIServer.reply` answers with a status, JSON body and headers;
`FakeAPIServer.stream` answers a watch with a chunked stream of lines, then ends it or holds the
connection open until the test lets go. Every request is recorded for assertions. With a TLS
context (see the ``pki`` fixture) it serves HTTPS and reads the client certificate, if any.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
import threading
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# Real seconds a test waits for another thread; far above what any step needs.
BOUND = 5.0

TOKEN = "s3cr3t-token-value"  # a bearer token the tests look for in logs and reprs


@attrs.frozen
class Recorded:
    """One request as the fake server saw it."""

    method: str
    path: str
    query: Mapping[str, Sequence[str]]
    headers: Mapping[str, str]  # lower-cased names
    body: bytes
    client_cn: str | None = None  # the client certificate's common name, over TLS

    def json(self) -> Any:
        return json.loads(self.body)

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@attrs.frozen
class Reply:
    status: int = 200
    body: Any = None  # JSON-able, or raw bytes
    headers: Mapping[str, str] = attrs.field(factory=dict)


Script = Callable[["_Handler"], None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        client_cn = None
        if isinstance(self.connection, ssl.SSLSocket):
            cert = self.connection.getpeercert()
            if cert:
                subject: Any = cert["subject"]  # ((("commonName", "x"),), ...)
                names = [attribute for rdn in subject for attribute in rdn]
                client_cn = next((v for k, v in names if k == "commonName"), None)
        fake = self.server.fake
        fake.record(
            Recorded(
                method=self.command,
                path=url.path,
                query=urllib.parse.parse_qs(url.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                client_cn=client_cn,
            )
        )
        route = fake.route(self.command, url.path)
        if callable(route):
            route(self)
        else:
            self.send_reply(route)

    def end_headers(self) -> None:
        # Like Go's net/http (kube-apiserver): a request asking to close gets its answer saying so.
        if (self.headers.get("Connection") or "").lower() == "close":
            self.send_header("Connection", "close")
        super().end_headers()

    def send_reply(self, reply: Reply) -> None:
        data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        if reply.body is None:
            data = b""
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def start_chunked(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def send_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeAPIServer


class FakeAPIServer:
    """A scripted API server; see the module docstring."""

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self._routes: dict[tuple[str, str], Reply | Script] = {}
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self.released = threading.Event()  # set to end every held stream
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self.scheme}://{host!s}:{port}"

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def record(self, request: Recorded) -> None:
        with self._lock:
            self._requests.append(request)

    def route(self, method: str, path: str) -> Reply | Script:
        with self._lock:
            found = self._routes.get((method, path))
        if found is not None:
            return found
        return Reply(
            404,
            {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404,
             "message": f"no route for {method} {path}"},
        )  # fmt: skip

    def reply(
        self,
        method: str,
        path: str,
        status: int = 200,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        with self._lock:
            self._routes[(method, path)] = Reply(status, body, dict(headers or {}))

    def script(self, method: str, path: str, script: Script) -> None:
        with self._lock:
            self._routes[(method, path)] = script

    def stream(
        self,
        path: str,
        chunks: Sequence[bytes | Mapping[str, Any]],
        *,
        hold: bool = False,
        sent: threading.Event | None = None,
    ) -> None:
        """Answer GET *path* with *chunks* (a dict is sent as one JSON line), then end the stream,
        or with ``hold`` keep the connection open and silent until `released` is set."""

        def run(handler: _Handler) -> None:
            handler.start_chunked()
            for chunk in chunks:
                data = chunk if isinstance(chunk, bytes) else json.dumps(chunk).encode() + b"\n"
                handler.send_chunk(data)
            if sent is not None:
                sent.set()
            if hold:
                self.released.wait(BOUND * 4)
                handler.close_connection = True
                return
            handler.end_chunked()

        self.script("GET", path, run)

    def close(self) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(BOUND)


def write_kubeconfig(
    directory: Path,
    server: str,
    *,
    user: Mapping[str, Any] | None = None,
    cluster: Mapping[str, Any] | None = None,
    name: str = "kubeconfig",
) -> Path:
    """A one-context kubeconfig for *server*; JSON is YAML, so it is written as JSON."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": server, **(cluster or {})}}],
        "users": [{"name": "tester", "user": dict(user if user is not None else {"token": TOKEN})}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester"}}],
        "current-context": "fake",
    }
    path = directory / name
    path.write_text(json.dumps(config))
    return path


@attrs.frozen
class PKI:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all PEM."""

    ca_cert: bytes
    server_cert: bytes
    server_key: bytes
    client_cert: bytes
    client_key: bytes
    client_cn: str

    def client_user(self) -> dict[str, str]:
        """A kubeconfig ``user`` authenticating with the client certificate, inline."""
        return {
            "client-certificate-data": _b64(self.client_cert),
            "client-key-data": _b64(self.client_key),
        }

    def ca_cluster(self) -> dict[str, str]:
        """Kubeconfig ``cluster`` fields trusting the CA, inline."""
        return {"certificate-authority-data": _b64(self.ca_cert)}

    def server_context(self, directory: Path) -> ssl.SSLContext:
        cert, key = directory / "server.crt", directory / "server.key"
        cert.write_bytes(self.server_cert)
        key.write_bytes(self.server_key)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.verify_mode = ssl.CERT_OPTIONAL  # in-cluster clients authenticate by token
        context.load_verify_locations(cadata=self.ca_cert.decode())
        return context


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    ip: str | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    if ip is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki() -> PKI:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("fake-ca", ca_key, None, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _certificate("fake-apiserver", server_key, ("fake-ca", ca_key), ip="127.0.0.1")
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _certificate("system:machine-controller", client_key, ("fake-ca", ca_key))
    pem = serialization.Encoding.PEM
    return PKI(
        ca_cert=ca.public_bytes(pem),
        server_cert=server.public_bytes(pem),
        server_key=_key_pem(server_key),
        client_cert=client.public_bytes(pem),
        client_key=_key_pem(client_key),
        client_cn="system:machine-controller",
    )
