"""`ControlPlane`: a real etcd and kube-apiserver on loopback, for integration tests and demos.

A Python port of controller-runtime's envtest control plane. It needs the two binaries whose
directory `make envtest` prints, and nothing else: no Docker, no network beyond 127.0.0.1, no
``kubernetes`` package (it speaks HTTP with the standard library). What it promises:

- **Binaries are found or the start fails loudly.** ``TEST_ASSET_KUBE_APISERVER`` /
  ``TEST_ASSET_ETCD`` name a binary each; otherwise both are taken from ``$KUBEBUILDER_ASSETS``. A
  missing binary raises `BinaryNotFoundError` saying to run ``make envtest``; nothing is skipped.
- **`ControlPlane.start` returns a server that is ready**: etcd answers ``/health``, kube-apiserver
  answers ``/readyz`` with ``ok`` over TLS verified against the CA minted here, and the ``default``
  namespace exists. A start in which a process exits early (a port taken between choosing it and
  binding it) is retried with fresh ports, up to *start_attempts* times; the final failure raises
  `ControlPlaneError` with the tail of the processes' logs.
- **Everything is throwaway and private.** One work directory (on ``/dev/shm`` when it has room)
  holds etcd's data, the certificates, the logs and the kubeconfigs. The serving CA, the client CA
  and the service-account key pair are generated per start. `ControlPlane.kubeconfig_path` is an
  admin kubeconfig (user ``admin`` in ``system:masters``, which bypasses RBAC); `add_user` mints
  kubeconfigs for other users, whose permissions RBAC decides.
- **Nothing outlives its owner.** `ControlPlane.stop` sends SIGTERM to kube-apiserver, then etcd,
  waits up to *timeout* seconds for each, then SIGKILLs it, and removes the work directory. It is
  idempotent and also registered with `atexit`. kube-apiserver runs with
  ``--shutdown-watch-termination-grace-period=1s`` (not an envtest default): otherwise it waits for
  every open watch to end, up to a minute, before it exits. The processes run in their own sessions
  (a terminal's ^C does not reach them) and, on Linux, with ``PR_SET_PDEATHSIG=SIGKILL``: if the
  process that started them dies, even by SIGKILL, the kernel kills them too. That signal is tied
  to the *thread* that started them, so start the control plane from a thread that lives as long
  as it should (the main thread, a pytest session fixture). Only a work directory can be left
  behind by a killed owner.
- **CRDs are usable when `install_crds` returns**: each is ``Established`` and listed by discovery.

Helpers for tests that need the server to misbehave:

- `ControlPlane.pause` / `ControlPlane.resume` freeze and thaw kube-apiserver (SIGSTOP/SIGCONT): the
  port still accepts connections but nothing answers, as with an unreachable or hung server.
- `ControlPlane.compact_etcd` compacts etcd's history up to its current revision, and
  `ControlPlane.restart_apiserver` replaces the kube-apiserver process (same port, same etcd, same
  certificates). What makes a watch fail with ``410 Gone``:

  * kube-apiserver serves watches of most resources (CRDs included) from its **watch cache**, which
    keeps recent events in memory. Compacting etcd does not touch that cache: a watch from a
    resourceVersion the cache still holds keeps working after `compact_etcd`, and so does a watch
    that is open while etcd is compacted.
  * The watch cache answers ``410 Expired ("too old resource version")`` for a resourceVersion older
    than the oldest it holds. A cache starts at the revision etcd had when it was filled, so a
    resourceVersion from before a **restart** of kube-apiserver is too old as soon as anything was
    written to etcd in between (kube-apiserver writes leases and endpoints as it starts).
    `restart_apiserver` is therefore the way to expire a live client's watch of a cached resource:
    open watches end when the old process goes, and the re-watch gets the 410 (possibly after a
    few ``429 storage is (re)initializing`` while the new cache fills).
  * For a resource whose watch cache is off (``--watch-cache-sizes=configmaps#0`` for a built-in
    resource; CRDs cannot be configured so), watches are served by etcd, which refuses revisions it
    has compacted: `compact_etcd` then expires every older resourceVersion at once, for new
    watches; a watch already open carries on.

Durations are float seconds.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import datetime
import functools
import http.client
import ipaddress
import json
import logging
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self, TypeVar

import attrs
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

logger = logging.getLogger(__name__)

V = TypeVar("V")

APISERVER = "kube-apiserver"
ETCD = "etcd"

ADMIN_USER = "admin"
ADMIN_GROUPS = ("system:masters",)

DEFAULT_START_TIMEOUT = 60.0
DEFAULT_STOP_TIMEOUT = 20.0
DEFAULT_CRD_TIMEOUT = 10.0
DEFAULT_START_ATTEMPTS = 5

CERT_VALIDITY = datetime.timedelta(days=7)
"""How long minted certificates are valid (envtest's ``makeCert``)."""

SHM_MIN_FREE = 512 * 1024 * 1024
"""Free bytes ``/dev/shm`` needs before the work directory goes there (etcd preallocates 64 MB WAL
segments)."""

_POLL_INTERVAL = 0.05
_LOG_TAIL_LINES = 40
_PR_SET_PDEATHSIG = 1


class ControlPlaneError(RuntimeError):
    """The control plane could not be started, used or stopped."""


class BinaryNotFoundError(ControlPlaneError):
    """kube-apiserver or etcd is not where the environment says; run ``make envtest``."""


class _EarlyExitError(ControlPlaneError):
    """A process exited while starting: usually a port taken by someone else; worth a retry."""


def find_binary(name: str, *, environ: Mapping[str, str] | None = None) -> Path:
    """The executable for *name* (``kube-apiserver``, ``etcd``) as envtest looks it up.

    ``TEST_ASSET_<NAME>`` (upper-cased, non-alphanumerics as ``_``) first, then
    ``$KUBEBUILDER_ASSETS/<name>``; `BinaryNotFoundError` if neither names an executable file.
    """
    env = os.environ if environ is None else environ
    variable = "TEST_ASSET_" + re.sub(r"[^A-Z0-9]", "_", name.upper())
    override = env.get(variable)
    if override:
        path = Path(override)
        if _executable(path):
            return path
        raise BinaryNotFoundError(f"{variable}={override!r} is not an executable file")
    assets = env.get("KUBEBUILDER_ASSETS")
    if assets:
        path = Path(assets) / name
        if _executable(path):
            return path
        raise BinaryNotFoundError(
            f"KUBEBUILDER_ASSETS={assets!r} has no executable {name!r}; run `make envtest` and"
            ' export KUBEBUILDER_ASSETS="$(bash hack/envtest.sh)"'
        )
    raise BinaryNotFoundError(
        f"no {name} binary: neither {variable} nor KUBEBUILDER_ASSETS is set; run `make envtest`"
        ' and export KUBEBUILDER_ASSETS="$(bash hack/envtest.sh)"'
    )


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


# --------------------------------------------------------------------------------- certificates


@attrs.frozen
class KeyPair:
    """A certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes


class _CA:
    """A throwaway certificate authority (envtest's ``TinyCA``): ECDSA P-256, valid for a week."""

    def __init__(self, common_name: str) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "envtest"),
            ]
        )
        now = datetime.datetime.now(datetime.UTC)
        self._name = name
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + CERT_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        common_name: str,
        *,
        organizations: Sequence[str] = (),
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
        server: bool = False,
    ) -> KeyPair:
        """A leaf certificate: serverAuth with SANs if *server*, else clientAuth."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        subject += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
        now = datetime.datetime.now(datetime.UTC)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(subject))
            .issuer_name(self._name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + CERT_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        sans: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _private_pem(key))


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, *, private: bool = False) -> Path:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)
    return path


# ------------------------------------------------------------------------------------ processes


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _die_with_parent(parent_pid: int, libc: ctypes.CDLL) -> None:
    """``preexec_fn``: SIGKILL this child when its parent (thread) dies, even if it already did."""
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died between fork and prctl
        os.kill(os.getpid(), signal.SIGKILL)


def _popen(args: Sequence[str], log_path: Path) -> subprocess.Popen[bytes]:
    libc = _libc()
    preexec = functools.partial(_die_with_parent, os.getpid(), libc) if libc else None
    with log_path.open("ab") as log:
        return subprocess.Popen(  # noqa: S603 -- our own binaries, argument lists we built
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec,  # noqa: PLW1509 -- prctl, getppid, kill: no imports, no locks
            close_fds=True,
        )


def _terminate(process: subprocess.Popen[bytes] | None, name: str, timeout: float) -> None:
    """SIGTERM, wait up to *timeout* seconds, SIGKILL; reaps the process either way."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGCONT)  # a paused process cannot act on SIGTERM
        process.terminate()
    try:
        process.wait(timeout)
        return
    except subprocess.TimeoutExpired:
        logger.warning(
            "%s (pid %d) ignored SIGTERM for %.0f s; killing it", name, process.pid, timeout
        )
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    process.wait()


def _free_ports(count: int) -> list[int]:
    """*count* distinct loopback ports nobody listens on right now (they may be taken later)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path.name}: no log)"
    tail = text.splitlines()[-lines:]
    return f"--- last {len(tail)} lines of {path.name} ---\n" + "\n".join(tail)


def _workdir_parent() -> str | None:
    shm = Path("/dev/shm")  # noqa: S108 -- a private mkdtemp directory inside it
    try:
        if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > SHM_MIN_FREE:
            return str(shm)
    except OSError:
        pass
    return None


# ------------------------------------------------------------------------------- the control plane


@attrs.frozen
class _Pki:
    serving_ca: _CA
    client_ca: _CA
    admin: KeyPair


class ControlPlane:
    """etcd + kube-apiserver on loopback; see the module docstring for what it promises.

    Use as a context manager, or call `start` and `stop`. *extra_apiserver_args* are merged over the
    default flags (``{"watch-cache-sizes": ["configmaps#0"]}``; a flag given here replaces the
    default's value, several values repeat the flag).
    """

    def __init__(
        self,
        *,
        apiserver_bin: str | os.PathLike[str] | None = None,
        etcd_bin: str | os.PathLike[str] | None = None,
        extra_apiserver_args: Mapping[str, Sequence[str]] | None = None,
        start_attempts: int = DEFAULT_START_ATTEMPTS,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.apiserver_bin = (
            Path(apiserver_bin) if apiserver_bin else find_binary(APISERVER, environ=environ)
        )
        self.etcd_bin = Path(etcd_bin) if etcd_bin else find_binary(ETCD, environ=environ)
        self.extra_apiserver_args: dict[str, list[str]] = {
            key.removeprefix("--"): list(values)
            for key, values in (extra_apiserver_args or {}).items()
        }
        self.start_attempts = max(1, start_attempts)
        self._lock = threading.RLock()
        self._etcd: subprocess.Popen[bytes] | None = None
        self._apiserver: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._pki: _Pki | None = None
        self._ssl: ssl.SSLContext | None = None
        self._secure_port = 0
        self._etcd_port = 0
        self._peer_port = 0
        self._pids: tuple[int, ...] = ()
        self._paused = False
        self._running = False

    # --------------------------------------------------------------------------- properties

    @property
    def running(self) -> bool:
        with self._lock:
            return self._running

    @property
    def workdir(self) -> Path:
        """The directory holding etcd's data, certificates, logs and kubeconfigs (while running)."""
        return self._require(self._workdir)

    @property
    def server_url(self) -> str:
        """``https://127.0.0.1:<port>``."""
        return f"https://127.0.0.1:{self._require(self._secure_port)}"

    @property
    def etcd_url(self) -> str:
        """``http://127.0.0.1:<port>``: etcd's client URL (plain HTTP, no auth)."""
        return f"http://127.0.0.1:{self._require(self._etcd_port)}"

    @property
    def kubeconfig_path(self) -> Path:
        """An admin kubeconfig (``system:masters``) with inline certificates."""
        return self.workdir / "admin.kubeconfig"

    @property
    def ca_pem(self) -> bytes:
        """The CA bundle that verifies the API server's serving certificate."""
        return self._require(self._pki).serving_ca.cert_pem

    @property
    def pids(self) -> tuple[int, ...]:
        """Process ids of the current (or, after `stop`, the last) etcd and kube-apiserver."""
        with self._lock:
            return self._pids

    @property
    def ports(self) -> tuple[int, ...]:
        """The loopback ports in use (or last used): kube-apiserver, etcd client, etcd peer."""
        with self._lock:
            return (self._secure_port, self._etcd_port, self._peer_port)

    def log_path(self, component: str) -> Path:
        """The log file of ``"kube-apiserver"`` or ``"etcd"`` (while running)."""
        return self.workdir / f"{component}.log"

    def _require(self, value: V | None) -> V:
        if not value:
            raise ControlPlaneError("the control plane is not running")
        return value

    # ------------------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, timeout: float = DEFAULT_START_TIMEOUT) -> Self:
        """Start etcd and kube-apiserver; return once the API server is ready (module docstring)."""
        with self._lock:
            if self._running:
                raise ControlPlaneError("the control plane is already running")
            deadline = time.monotonic() + timeout
            last: ControlPlaneError | None = None
            for attempt in range(1, self.start_attempts + 1):
                try:
                    self._start_once(deadline)
                except _EarlyExitError as exc:
                    logger.warning("control plane start attempt %d failed: %s", attempt, exc)
                    last = exc
                    self._teardown(DEFAULT_STOP_TIMEOUT)
                    continue
                except BaseException:
                    self._teardown(DEFAULT_STOP_TIMEOUT)
                    raise
                self._running = True
                atexit.register(self.stop)
                return self
            raise ControlPlaneError(
                f"the control plane did not start in {self.start_attempts} attempts: {last}"
            )

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
        """Stop kube-apiserver, then etcd, and remove the work directory; idempotent.

        Each process gets SIGTERM and, if it is still there after *timeout* seconds, SIGKILL.
        """
        with self._lock:
            was_running = self._running
            self._running = False
            self._teardown(timeout)
            atexit.unregister(self.stop)
            if was_running:
                logger.info("control plane stopped")

    def _teardown(self, timeout: float) -> None:
        _terminate(self._apiserver, APISERVER, timeout)
        _terminate(self._etcd, ETCD, timeout)
        self._apiserver = self._etcd = None
        self._paused = False
        self._ssl = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def _start_once(self, deadline: float) -> None:
        started = time.monotonic()
        self._workdir = Path(tempfile.mkdtemp(prefix="mcm-envtest-", dir=_workdir_parent()))
        self._secure_port, self._etcd_port, self._peer_port = _free_ports(3)
        self._etcd = _popen(self._etcd_args(), self.log_path(ETCD))
        self._pids = (self._etcd.pid,)
        self._write_pki()
        self._wait_for_etcd(deadline)
        self._apiserver = _popen(self._apiserver_args(), self.log_path(APISERVER))
        self._pids = (self._etcd.pid, self._apiserver.pid)
        self._wait_for_apiserver(deadline)
        logger.info(
            "control plane ready at %s (etcd %s) in %.1f s",
            self.server_url,
            self.etcd_url,
            time.monotonic() - started,
        )

    def _etcd_args(self) -> list[str]:
        client = self.etcd_url
        peer = f"http://127.0.0.1:{self._peer_port}"
        return [
            str(self.etcd_bin),
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=default={peer}",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ]

    def _apiserver_args(self) -> list[str]:
        certs = self.workdir
        flags: dict[str, list[str]] = {
            "allow-privileged": ["true"],
            "authorization-mode": ["RBAC"],
            "bind-address": ["127.0.0.1"],
            "cert-dir": [str(certs)],
            "client-ca-file": [str(certs / "client-ca.crt")],
            "disable-admission-plugins": ["ServiceAccount"],
            "etcd-servers": [self.etcd_url],
            "secure-port": [str(self._secure_port)],
            "service-account-issuer": [f"{self.server_url}/"],
            "service-account-key-file": [str(certs / "sa.pub")],
            "service-account-signing-key-file": [str(certs / "sa.key")],
            "service-cluster-ip-range": ["10.0.0.0/24"],
            "shutdown-watch-termination-grace-period": ["1s"],
        }
        flags.update(self.extra_apiserver_args)
        return [str(self.apiserver_bin)] + [
            f"--{key}={value}" for key, values in sorted(flags.items()) for value in values
        ]

    def _write_pki(self) -> None:
        certs = self.workdir
        serving_ca = _CA("envtest-environment")
        client_ca = _CA("envtest-client-ca")
        serving = serving_ca.issue(
            "localhost", dns_names=["localhost"], ip_addresses=["127.0.0.1"], server=True
        )
        admin = client_ca.issue(ADMIN_USER, organizations=ADMIN_GROUPS)
        sa_key = ec.generate_private_key(ec.SECP256R1())
        # kube-apiserver picks up <cert-dir>/apiserver.{crt,key} as its serving pair by itself.
        _write(certs / "apiserver.crt", serving.cert_pem + serving_ca.cert_pem)
        _write(certs / "apiserver.key", serving.key_pem, private=True)
        _write(certs / "ca.crt", serving_ca.cert_pem)
        _write(certs / "client-ca.crt", client_ca.cert_pem)
        _write(certs / "sa.key", _private_pem(sa_key), private=True)
        _write(
            certs / "sa.pub",
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )
        _write(certs / "admin.crt", admin.cert_pem)
        _write(certs / "admin.key", admin.key_pem, private=True)
        self._pki = _Pki(serving_ca, client_ca, admin)
        context = ssl.create_default_context(cafile=str(certs / "ca.crt"))
        context.load_cert_chain(str(certs / "admin.crt"), str(certs / "admin.key"))
        self._ssl = context
        self._write_kubeconfig(self.kubeconfig_path, ADMIN_USER, admin)

    def _write_kubeconfig(self, path: Path, user: str, pair: KeyPair) -> Path:
        def b64(data: bytes) -> str:
            return base64.b64encode(data).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "envtest",
                    "cluster": {
                        "server": self.server_url,
                        "certificate-authority-data": b64(self.ca_pem),
                    },
                }
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "client-certificate-data": b64(pair.cert_pem),
                        "client-key-data": b64(pair.key_pem),
                    },
                }
            ],
            "contexts": [{"name": "envtest", "context": {"cluster": "envtest", "user": user}}],
            "current-context": "envtest",
        }
        return _write(path, yaml.safe_dump(config, sort_keys=False).encode(), private=True)

    # --------------------------------------------------------------------------- readiness

    def _check_alive(self, process: subprocess.Popen[bytes] | None, name: str) -> None:
        if process is not None and process.poll() is not None:
            raise _EarlyExitError(
                f"{name} exited with code {process.returncode} while starting\n"
                + _log_tail(self.log_path(name))
            )

    def _timed_out(self, what: str) -> ControlPlaneError:
        tails = "\n".join(_log_tail(self.log_path(name)) for name in (ETCD, APISERVER))
        return ControlPlaneError(f"timed out waiting for {what}\n{tails}")

    def _wait_for_etcd(self, deadline: float) -> None:
        while True:
            self._check_alive(self._etcd, ETCD)
            try:
                status, body = _http("GET", self.etcd_url + "/health", timeout=1.0)
                if status == 200 and isinstance(body, Mapping) and body.get("health") == "true":
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise self._timed_out("etcd /health")
            time.sleep(_POLL_INTERVAL)

    def _wait_for_apiserver(self, deadline: float) -> None:
        self._wait_until(deadline, "kube-apiserver /readyz", lambda: self._get_ok("/readyz"))
        self._wait_until(
            deadline, "namespace default", lambda: self._get_ok("/api/v1/namespaces/default")
        )

    def _wait_until(self, deadline: float, what: str, ready: Callable[[], bool]) -> None:
        while True:
            self._check_alive(self._etcd, ETCD)
            self._check_alive(self._apiserver, APISERVER)
            if ready():
                return
            if time.monotonic() > deadline:
                raise self._timed_out(what)
            time.sleep(_POLL_INTERVAL)

    def _get_ok(self, path: str) -> bool:
        try:
            status, _ = self.request("GET", path, timeout=2.0)
        except OSError:
            return False
        return status == 200

    # ------------------------------------------------------------------------------ requests

    def request(
        self, method: str, path: str, body: object = None, *, timeout: float = 10.0
    ) -> tuple[int, Any]:
        """One admin request to the API server: (HTTP status, parsed JSON body or text).

        A plain standard-library call with no retries and no client-side throttling, meant for
        set-up and checks in tests. Connection failures raise `OSError`.
        """
        context = self._ssl
        if context is None:
            raise ControlPlaneError("the control plane is not running")
        return _http(method, self.server_url + path, body, context=context, timeout=timeout)

    def _checked(self, method: str, path: str, body: object = None) -> Any:
        status, answer = self.request(method, path, body)
        if status >= 300:
            message = answer.get("message") if isinstance(answer, Mapping) else answer
            raise ControlPlaneError(f"{method} {path}: HTTP {status}: {message}")
        return answer

    # --------------------------------------------------------------------------------- users

    def add_user(self, name: str, groups: Sequence[str] = ()) -> Path:
        """A kubeconfig for user *name* in *groups*, authenticated by a client certificate.

        RBAC decides what the user may do; ``system:masters`` may do everything.
        """
        with self._lock:
            pki = self._require(self._pki)
            pair = pki.client_ca.issue(name, organizations=groups)
            safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
            return self._write_kubeconfig(self.workdir / f"user-{safe}.kubeconfig", name, pair)

    # ---------------------------------------------------------------------------------- CRDs

    def install_crds(
        self,
        sources: Iterable[str | os.PathLike[str] | Mapping[str, Any]],
        *,
        timeout: float = DEFAULT_CRD_TIMEOUT,
    ) -> list[str]:
        """Create (or update) CustomResourceDefinitions and wait until they are served.

        *sources* are YAML/JSON files (any number of documents each), directories (their
        ``*.yaml``, ``*.yml`` and ``*.json``, sorted) or CRDs as dicts. Returns the CRD names, in
        order. A document that is not a CRD raises `ControlPlaneError`; empty documents are skipped.
        """
        crds = list(_load_crds(sources))
        for crd in crds:
            self._apply_crd(crd)
        deadline = time.monotonic() + timeout
        for crd in crds:
            self._wait_for_crd(crd, deadline)
        return [crd["metadata"]["name"] for crd in crds]

    def _apply_crd(self, crd: Mapping[str, Any]) -> None:
        base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        name = crd["metadata"]["name"]
        status, answer = self.request("POST", base, crd)
        if status < 300:
            return
        if status != 409:
            raise ControlPlaneError(f"creating CRD {name}: HTTP {status}: {_message(answer)}")
        for _ in range(10):  # AlreadyExists: update it, retrying on conflicts
            current = self._checked("GET", f"{base}/{name}")
            body = json.loads(json.dumps(crd))
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            status, answer = self.request("PUT", f"{base}/{name}", body)
            if status < 300:
                return
            if status != 409:
                raise ControlPlaneError(f"updating CRD {name}: HTTP {status}: {_message(answer)}")
        raise ControlPlaneError(f"updating CRD {name}: conflicts did not stop")

    def _wait_for_crd(self, crd: Mapping[str, Any], deadline: float) -> None:
        name = crd["metadata"]["name"]
        spec = crd["spec"]
        plural = spec["names"]["plural"]

        def established() -> bool:
            status, answer = self.request(
                "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
            )
            conditions = (
                (answer.get("status") or {}).get("conditions") or [] if status == 200 else []
            )
            return any(
                c.get("type") == "Established" and c.get("status") == "True" for c in conditions
            )

        def discovered(version: str) -> bool:
            status, answer = self.request("GET", f"/apis/{spec['group']}/{version}")
            resources = answer.get("resources") or [] if status == 200 else []
            return any(r.get("name") == plural for r in resources)

        self._poll(deadline, f"CRD {name} Established", established)
        for version in spec.get("versions") or []:
            if version.get("served", True):
                self._poll(
                    deadline,
                    f"{plural} in discovery of {spec['group']}/{version['name']}",
                    functools.partial(discovered, version["name"]),
                )

    def _poll(self, deadline: float, what: str, ready: Callable[[], bool]) -> None:
        while not ready():
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"timed out waiting for {what}")
            time.sleep(_POLL_INTERVAL)

    # ---------------------------------------------------------------- misbehaviour for tests

    def pause(self) -> None:
        """Freeze kube-apiserver (SIGSTOP): connections are accepted, nothing is answered."""
        with self._lock:
            process = self._require(self._apiserver)
            process.send_signal(signal.SIGSTOP)
            self._paused = True

    def resume(self) -> None:
        """Thaw kube-apiserver after `pause` (SIGCONT)."""
        with self._lock:
            process = self._require(self._apiserver)
            process.send_signal(signal.SIGCONT)
            self._paused = False

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """`pause` for the duration of a ``with`` block."""
        self.pause()
        try:
            yield
        finally:
            self.resume()

    @property
    def is_paused(self) -> bool:
        with self._lock:
            return self._paused

    def restart_apiserver(self, timeout: float = DEFAULT_START_TIMEOUT) -> None:
        """Replace kube-apiserver by a new process (same port, etcd and certificates).

        Returns once the new one is ready and serves every custom resource. Clients' connections
        break, and the new watch caches hold no history (see the module docstring on ``410``).
        """
        with self._lock:
            self._require(self._apiserver)
            _terminate(self._apiserver, APISERVER, DEFAULT_STOP_TIMEOUT)
            self._paused = False
            deadline = time.monotonic() + timeout
            for attempt in range(1, self.start_attempts + 1):
                self._apiserver = _popen(self._apiserver_args(), self.log_path(APISERVER))
                self._pids = (self._require(self._etcd).pid, self._apiserver.pid)
                try:
                    self._wait_for_apiserver(deadline)
                    self._wait_for_custom_resources(deadline)
                    return
                except _EarlyExitError as exc:  # the old process's port not released yet
                    logger.warning("kube-apiserver restart attempt %d failed: %s", attempt, exc)
                    if time.monotonic() > deadline or attempt == self.start_attempts:
                        raise
                    time.sleep(0.5)

    def _wait_for_custom_resources(self, deadline: float) -> None:
        """Wait until every established CRD's resources can be listed.

        A new kube-apiserver builds a custom resource's storage (and its watch cache) on first use,
        and answers ``429 storage is (re)initializing`` until that is done.
        """
        crds = self._checked("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
        for crd in crds.get("items") or []:
            spec = crd["spec"]
            for version in spec.get("versions") or []:
                if version.get("served", True):
                    path = f"/apis/{spec['group']}/{version['name']}/{spec['names']['plural']}"
                    self._poll(
                        deadline,
                        f"{path} to be served",
                        functools.partial(self._get_ok, path + "?limit=1"),
                    )

    def etcd_revision(self) -> int:
        """etcd's current revision (the newest resourceVersion of anything stored)."""
        status, answer = _http(
            "POST",
            self.etcd_url + "/v3/kv/range",
            # Any key will do: the answer's header carries the store's revision.
            {"key": base64.b64encode(b"/registry/").decode(), "limit": 1, "keys_only": True},
            timeout=5.0,
        )
        if status != 200 or not isinstance(answer, Mapping):
            raise ControlPlaneError(f"etcd range: HTTP {status}: {answer}")
        return int(answer["header"]["revision"])

    def compact_etcd(self) -> int:
        """Compact etcd's history up to its current revision (physically); returns that revision.

        Afterwards etcd refuses to watch or read from any older revision. kube-apiserver's watch
        cache may still serve those (see the module docstring for what expires a watch).
        """
        revision = self.etcd_revision()
        status, answer = _http(
            "POST",
            self.etcd_url + "/v3/kv/compaction",
            {"revision": revision, "physical": True},
            timeout=30.0,
        )
        if status != 200 and "compacted" not in str(_message(answer)):
            # "required revision has been compacted": nothing was written since the last compaction.
            raise ControlPlaneError(f"etcd compaction at {revision}: HTTP {status}: {answer}")
        logger.info("etcd compacted at revision %d", revision)
        return revision


def _message(answer: object) -> object:
    return answer.get("message") if isinstance(answer, Mapping) else answer


def _load_crds(
    sources: Iterable[str | os.PathLike[str] | Mapping[str, Any]],
) -> Iterator[Mapping[str, Any]]:
    for source in sources:
        if isinstance(source, Mapping):
            documents: Iterable[Any] = [source]
            origin = "a dict"
        else:
            path = Path(source)
            if path.is_dir():
                files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
                yield from _load_crds(files)
                continue
            documents = list(yaml.safe_load_all(path.read_text()))
            origin = str(path)
        for document in documents:
            if document is None:
                continue
            if (
                not isinstance(document, Mapping)
                or document.get("kind") != "CustomResourceDefinition"
            ):
                kind = document.get("kind") if isinstance(document, Mapping) else type(document)
                raise ControlPlaneError(f"{origin}: not a CustomResourceDefinition: {kind}")
            yield document


def _http(
    method: str,
    url: str,
    body: object = None,
    *,
    context: ssl.SSLContext | None = None,
    timeout: float,
) -> tuple[int, Any]:
    """One HTTP(S) request with the standard library (no proxies): (status, JSON or text body)."""
    scheme, _, rest = url.partition("://")
    hostport, slash, path = rest.partition("/")
    host, _, port = hostport.rpartition(":")
    connection: http.client.HTTPConnection
    if scheme == "https":
        connection = http.client.HTTPSConnection(host, int(port), timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, slash + path, body=data, headers=headers)
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    try:
        decoded: Any = json.loads(raw) if raw else None
    except ValueError:
        decoded = raw.decode("utf-8", errors="replace")
    return response.status, decoded
