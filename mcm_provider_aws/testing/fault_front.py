"""`FaultFront`: an HTTP proxy in front of an EC2 endpoint that fails, slows and throttles calls.

moto has no fault injection (aws-provider spec §9.5), so tests and benchmarks talk to moto through
this front instead. It is a stdlib ``ThreadingHTTPServer`` on a loopback port that forwards every
request to the upstream endpoint with ``http.client`` and relays the answer unchanged, except where
a test asked otherwise. Requests are told apart by the EC2 query protocol's ``Action`` parameter
(form body or query string). What it promises:

- **Faults.** `FaultFront.fail_next` makes the next *count* calls of an action (optionally only
  those whose parameters match) answer with an AWS error *code* and *message* at HTTP *status*, in
  EC2's XML error shape, so botocore raises ``ClientError`` with exactly that code. The upstream
  never sees them. Faults armed for one action are consumed in the order they were armed.
- **Latency.** `FaultFront.set_latency` delays every call of an action (or of all actions) by the
  given seconds, through the injected *sleep* (``time.sleep`` by default), before anything else
  happens to it.
- **Throttling.** `FaultFront.throttle` puts a token bucket (*rate* tokens per second, holding at
  most *burst*, full at first) in front of an action or of all actions; a call that finds an empty
  bucket is answered ``RequestLimitExceeded`` (HTTP 503), as EC2 answers. Time is read through
  the injected *monotonic* (``time.monotonic`` by default). A call must find a token in every
  bucket that applies to it, and takes one from each only then.
- **Counts.** Every call with an ``Action`` is counted per action (`FaultFront.counts`):
  ``total``; ``throttled``; ``failed``, the calls answered with any other error (``injected``
  ones, and the upstream's own). Requests without an ``Action`` (moto's ``/moto-api``) are
  forwarded and not counted.
- **Idempotent RunInstances, as EC2 has it** (an emulation: moto ignores ``ClientToken``). EC2
  answers a RunInstances repeated with the same ``ClientToken`` and the same parameters with the
  first call's result (same reservation, same instance, nothing launched), and one with other
  parameters with ``IdempotentParameterMismatch``; it keeps a token for at least 24 hours after
  the instance terminated. The front does the same: it remembers every successful RunInstances
  answer by access key, region (both from the request's signature) and token until `reset`,
  replays the remembered body to a repeat (counted as ``replayed``) and answers a repeat with
  other parameters ``IdempotentParameterMismatch`` (HTTP 400). Calls with one token are answered
  one at a time. Without this, a test of "the create was repeated after a crash or a lost answer"
  would see moto launch a second instance where EC2 would not. A replay is the first answer byte
  for byte, so it names the instance as it was then (``pending``, the first ``LaunchTime``), as
  EC2's does. EC2's ``client-token`` filter of DescribeInstances (which moto lacks) is emulated
  too: a DescribeInstances whose form body has that filter is forwarded without it, and the answer
  keeps only the instances whose ``clientToken`` is one of its values. ``client_tokens=False``
  turns both off.
- **Forgotten instances.** EC2 stops showing a terminated instance about an hour after its
  termination, while RunInstances keeps replaying the token that launched it. After
  `FaultFront.purge_instances`, a DescribeInstances naming one of those IDs in ``InstanceIds`` is
  answered ``InvalidInstanceID.NotFound`` (HTTP 400, not forwarded; counted as ``failed``), and
  every other DescribeInstances answer leaves them out. Remembered RunInstances answers still
  name them.
- **Held answers.** `FaultFront.hold_next` lets the next call of an action (optionally only one
  whose parameters match) reach the upstream, then holds its answer back until the test decides:
  `HeldCall.release` delivers it, `HeldCall.drop` closes the connection without an answer (a
  response lost on the wire). `HeldCall.wait` returns once the upstream has answered, so "the
  cloud acted but the caller never heard of it" is a deterministic state a test can act in (kill
  the caller, for instance). A held RunInstances answer is already remembered for its token.
- `FaultFront.reset` forgets faults, latencies, buckets, counts, held calls (dropped),
  remembered tokens and purged instances; `FaultFront.stop` drops held calls. Every method is
  thread-safe; the server answers each connection on its own thread.

Nothing here knows moto: any EC2-compatible upstream works. Durations are float seconds.
"""

from __future__ import annotations

import http.client
import http.server
import logging
import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Self
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import attrs

logger = logging.getLogger(__name__)

THROTTLE_CODE = "RequestLimitExceeded"
THROTTLE_STATUS = 503
IDEMPOTENT_PARAMETER_MISMATCH = "IdempotentParameterMismatch"
IDEMPOTENT_PARAMETER_MISMATCH_MESSAGE = (
    "Arguments on this idempotent request are inconsistent with arguments used in previous"
    " request(s)."
)
INSTANCE_ID_NOT_FOUND = "InvalidInstanceID.NotFound"
_IDEMPOTENT_ACTIONS = frozenset({"RunInstances"})
_DESCRIBE_INSTANCES = "DescribeInstances"
_CLIENT_TOKEN_FILTER = "client-token"  # noqa: S105 -- a filter name, not a password
_INSTANCE_ID_PARAM = re.compile(r"InstanceId\.\d+")
_FILTER_PARAM = re.compile(r"Filter\.(\d+)\.(.*)")
_CREDENTIAL_SCOPE = re.compile(r"Credential=([^/,\s]*)/[^/]*/([^/]*)/")

_SHUTDOWN_POLL = 0.05  # how often the serving thread checks for `stop`
_ALL = ""  # the key of settings that apply to every action
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)


@attrs.frozen
class ActionCounts:
    """The calls of one action the front saw."""

    total: int = 0
    failed: int = 0
    """Answered with an error other than throttling: injected, from the upstream, or an emulated
    ``IdempotentParameterMismatch``."""
    throttled: int = 0
    injected: int = 0
    """Of ``failed``: the faults the front injected."""
    replayed: int = 0
    """Of ``total``: RunInstances calls answered with a remembered answer for their
    ``ClientToken`` (not sent upstream)."""


@attrs.frozen(kw_only=True)
class _Fault:
    code: str
    message: str
    status: int
    remaining: int | None  # None: until cleared
    match: Mapping[str, str]

    def matches(self, params: Mapping[str, str]) -> bool:
        return all(params.get(key) == value for key, value in self.match.items())


class _Bucket:
    """A token bucket: *rate* tokens per second, at most *burst*, full at first."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.last = now

    def refill(self, now: float) -> None:
        self.tokens = min(float(self.burst), self.tokens + max(0.0, now - self.last) * self.rate)
        self.last = now


class HeldCall:
    """A call whose answer the front holds back; made by `FaultFront.hold_next`.

    The call reaches the upstream; its answer waits until `release` (deliver it) or `drop`
    (close the connection without it). Deciding before the call arrives decides its fate in
    advance. Thread-safe.
    """

    def __init__(self, action: str, match: Mapping[str, str]) -> None:
        self.action = action
        self.match: Mapping[str, str] = dict(match)
        self._answered = threading.Event()
        self._decided = threading.Event()
        self._deliver = True

    def matches(self, params: Mapping[str, str]) -> bool:
        return all(params.get(key) == value for key, value in self.match.items())

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the upstream has answered the held call; False if *timeout* passed."""
        return self._answered.wait(timeout)

    @property
    def held(self) -> bool:
        """The upstream has answered and the answer is being held back right now."""
        return self._answered.is_set() and not self._decided.is_set()

    def release(self) -> None:
        """Deliver the held answer (the caller may be gone by now; that is fine)."""
        self._deliver = True
        self._decided.set()

    def drop(self) -> None:
        """Close the caller's connection without an answer, as a response lost on the wire."""
        if not self._decided.is_set():
            self._deliver = False
            self._decided.set()

    def _park(self) -> bool:
        """Called with the answer in hand: wait for the decision; True to deliver."""
        self._answered.set()
        self._decided.wait()
        return self._deliver


@attrs.frozen
class _Answer:
    """An HTTP answer: the upstream's, a remembered one, or the front's own."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    payload: bytes


@attrs.frozen
class _Remembered:
    """A successful RunInstances answer, by ``ClientToken``."""

    params: Mapping[str, str]
    answer: _Answer


@attrs.frozen
class _Request:
    """One request as the handler read it."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


@attrs.frozen
class _Verdict:
    """What to do with one call, decided under the lock."""

    latency: float
    throttled: bool
    fault: _Fault | None
    hold: HeldCall | None = None


class FaultFront:
    """A fault-injecting HTTP front for an EC2 endpoint; see the module docstring."""

    def __init__(
        self,
        upstream: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,  # 0: any free port; read `url` after `start`
        sleep: Callable[[float], None] = time.sleep,  # a recorder in tests
        monotonic: Callable[[], float] = time.monotonic,  # a fake time in tests
        upstream_timeout: float = 60.0,
        client_tokens: bool = True,  # False: forward every RunInstances (moto's own behaviour)
    ) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"upstream must be an http:// URL, not {upstream!r}")
        self.upstream = upstream
        self._upstream_host = parsed.hostname
        self._upstream_port = parsed.port or 80
        self._upstream_timeout = upstream_timeout
        self._host = host
        self._port = port
        self._sleep = sleep
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._faults: dict[str, list[_Fault]] = {}
        self._latency: dict[str, float] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._counts: dict[str, ActionCounts] = {}
        self._client_tokens = client_tokens
        self._holds: dict[str, list[HeldCall]] = {}
        self._issued_holds: list[HeldCall] = []  # every hold not yet decided by `stop`/`reset`
        self._remembered: dict[tuple[str, str, str], _Remembered] = {}
        self._token_locks: dict[tuple[str, str, str], threading.Lock] = {}
        self._purged: set[str] = set()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://host:port`` of the front; the port is known once started."""
        if self._server is None:
            raise RuntimeError("the fault front is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the fault front is already running")
        server = http.server.ThreadingHTTPServer((self._host, self._port), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _SHUTDOWN_POLL},
            name="ec2 fault front",
            daemon=True,
        )
        self._thread.start()
        logger.info("EC2 fault front on %s, forwarding to %s", self.url, self.upstream)

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        self._drop_holds()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- controls ---------------------------------------------------------------------------------

    def fail_next(
        self,
        action: str,
        code: str,
        *,
        message: str | None = None,
        status: int = 400,
        count: int | None = 1,  # None: every call until `clear_faults` or `reset`
        match: Mapping[str, str] | None = None,  # e.g. {"InstanceType": "p5.48xlarge"}
    ) -> None:
        """Answer the next *count* calls of *action* whose parameters include *match* with an
        AWS error. Keep *status* below 500 for one-shot failures: botocore retries 5xx answers."""
        if count is not None and count < 1:
            raise ValueError("count must be positive (or None for every call)")
        fault = _Fault(
            code=code,
            message=message if message is not None else code,
            status=status,
            remaining=count,
            match=dict(match or {}),
        )
        with self._lock:
            self._faults.setdefault(action, []).append(fault)

    def clear_faults(self, action: str | None = None) -> None:
        """Disarm the faults of *action* (all if None)."""
        with self._lock:
            if action is None:
                self._faults.clear()
            else:
                self._faults.pop(action, None)

    def set_latency(self, seconds: float, *, action: str | None = None) -> None:
        """Delay every call of *action* (every call if None) by *seconds*; 0 removes it."""
        with self._lock:
            key = _ALL if action is None else action
            if seconds > 0:
                self._latency[key] = seconds
            else:
                self._latency.pop(key, None)

    def throttle(self, rate: float, *, burst: int, action: str | None = None) -> None:
        """Throttle *action* (all calls together if None) with a full token bucket."""
        if rate < 0 or burst < 0:
            raise ValueError("rate and burst must not be negative")
        with self._lock:
            self._buckets[_ALL if action is None else action] = _Bucket(
                rate, burst, self._monotonic()
            )

    def clear_throttle(self, action: str | None = None) -> None:
        """Remove the bucket of *action* (the one for all calls if None)."""
        with self._lock:
            self._buckets.pop(_ALL if action is None else action, None)

    def hold_next(self, action: str, *, match: Mapping[str, str] | None = None) -> HeldCall:
        """Hold back the answer to the next call of *action* whose parameters include *match*.

        The call is forwarded (or, for a repeated ``ClientToken``, replayed) as usual; its answer
        waits for `HeldCall.release` or `HeldCall.drop`. Throttled and faulted calls do not take
        the hold. Holds of one action are taken in the order they were made.
        """
        hold = HeldCall(action, match or {})
        with self._lock:
            self._holds.setdefault(action, []).append(hold)
            self._issued_holds.append(hold)
        return hold

    def purge_instances(self, *instance_ids: str) -> None:
        """Make DescribeInstances forget *instance_ids*, as EC2 forgets terminated instances about
        an hour after their termination (terminate them first: the front does not check)."""
        with self._lock:
            self._purged.update(instance_ids)

    def counts(self) -> dict[str, ActionCounts]:
        """Calls per action so far."""
        with self._lock:
            return dict(self._counts)

    def calls(self, action: str) -> int:
        """How many calls of *action* the front saw."""
        with self._lock:
            return self._counts.get(action, ActionCounts()).total

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()

    def reset(self) -> None:
        """Forget faults, latencies, buckets, counts and remembered client tokens; drop held
        calls."""
        with self._lock:
            self._faults.clear()
            self._latency.clear()
            self._buckets.clear()
            self._counts.clear()
            self._remembered.clear()
            self._token_locks.clear()
            self._purged.clear()
        self._drop_holds()

    def _drop_holds(self) -> None:
        with self._lock:
            holds, self._issued_holds = self._issued_holds, []
            self._holds.clear()
        for hold in holds:
            hold.drop()

    # --- the request path (handler threads) -------------------------------------------------------

    def _admit(self, action: str, params: Mapping[str, str]) -> _Verdict:
        with self._lock:
            counts = self._counts.get(action, ActionCounts())
            latency = self._latency.get(action, self._latency.get(_ALL, 0.0))
            buckets = [b for b in (self._buckets.get(action), self._buckets.get(_ALL)) if b]
            now = self._monotonic()
            for bucket in buckets:
                bucket.refill(now)
            if any(bucket.tokens < 1.0 for bucket in buckets):
                self._counts[action] = attrs.evolve(
                    counts, total=counts.total + 1, throttled=counts.throttled + 1
                )
                return _Verdict(latency, throttled=True, fault=None)
            for bucket in buckets:
                bucket.tokens -= 1.0
            fault = self._take_fault(action, params)
            hold = None
            if fault is not None:
                counts = attrs.evolve(
                    counts, failed=counts.failed + 1, injected=counts.injected + 1
                )
            else:
                hold = self._take_hold(action, params)
            self._counts[action] = attrs.evolve(counts, total=counts.total + 1)
            return _Verdict(latency, throttled=False, fault=fault, hold=hold)

    def _take_hold(self, action: str, params: Mapping[str, str]) -> HeldCall | None:
        armed = self._holds.get(action)
        if not armed:
            return None
        for index, hold in enumerate(armed):
            if hold.matches(params):
                del armed[index]
                return hold
        return None

    def _take_fault(self, action: str, params: Mapping[str, str]) -> _Fault | None:
        armed = self._faults.get(action)
        if not armed:
            return None
        for index, fault in enumerate(armed):
            if not fault.matches(params):
                continue
            if fault.remaining is not None:
                if fault.remaining <= 1:
                    del armed[index]
                else:
                    armed[index] = attrs.evolve(fault, remaining=fault.remaining - 1)
            return fault
        return None

    def _upstream_failed(self, action: str) -> None:
        with self._lock:
            counts = self._counts.get(action, ActionCounts())
            self._counts[action] = attrs.evolve(counts, failed=counts.failed + 1)

    def _replayed(self, action: str) -> None:
        with self._lock:
            counts = self._counts.get(action, ActionCounts())
            self._counts[action] = attrs.evolve(counts, replayed=counts.replayed + 1)

    def _answer(self, action: str, params: Mapping[str, str], request: _Request) -> _Answer:
        """The upstream's answer, or for a repeated ``ClientToken`` the remembered one."""
        if action == _DESCRIBE_INSTANCES:
            return self._describe_instances_answer(params, request)
        key = self._token_key(action, params, request.headers)
        if key is None:
            return self._forward_answer(request)
        with self._lock:
            token_lock = self._token_locks.setdefault(key, threading.Lock())
        with token_lock:  # one call per token at a time, as EC2 serialises them
            with self._lock:
                remembered = self._remembered.get(key)
            if remembered is not None:
                if dict(remembered.params) != dict(params):
                    return _error_answer(
                        400, IDEMPOTENT_PARAMETER_MISMATCH, IDEMPOTENT_PARAMETER_MISMATCH_MESSAGE
                    )
                self._replayed(action)
                return remembered.answer
            answer = self._forward_answer(request)
            if 200 <= answer.status < 300:
                with self._lock:
                    self._remembered[key] = _Remembered(dict(params), answer)
            return answer

    def _describe_instances_answer(self, params: Mapping[str, str], request: _Request) -> _Answer:
        """DescribeInstances without purged instances, with the ``client-token`` filter."""
        with self._lock:
            purged = frozenset(self._purged)
        tokens = _filter_values(params, _CLIENT_TOKEN_FILTER) if self._client_tokens else None
        if not purged and tokens is None:
            return self._forward_answer(request)
        named = {value for key, value in params.items() if _INSTANCE_ID_PARAM.fullmatch(key)}
        missing = sorted(named & purged)
        if missing:
            return _error_answer(
                400, INSTANCE_ID_NOT_FOUND, f"The instance ID '{', '.join(missing)}' does not exist"
            )
        if tokens is not None:
            request = attrs.evolve(
                request, body=_without_filter(request.body, _CLIENT_TOKEN_FILTER)
            )
        answer = self._forward_answer(request)
        if not 200 <= answer.status < 300:
            return answer
        return attrs.evolve(answer, payload=_keep_instances(answer.payload, purged, tokens))

    def _token_key(
        self, action: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> tuple[str, str, str] | None:
        """(access key, region, token) of an idempotent call; None for any other call."""
        token = params.get("ClientToken")
        if not self._client_tokens or action not in _IDEMPOTENT_ACTIONS or not token:
            return None
        scope = _CREDENTIAL_SCOPE.search(_header(headers, "Authorization"))
        access_key, region = scope.groups() if scope else ("", "")
        return access_key, region, token

    def _forward_answer(self, request: _Request) -> _Answer:
        try:
            status, reason, headers, payload = self._forward(
                request.method, request.path, request.headers, request.body
            )
        except OSError as exc:
            logger.warning("EC2 fault front: upstream %s failed: %s", self.upstream, exc)
            return _error_answer(502, "ServiceUnavailable", "upstream unavailable")
        return _Answer(status, reason, tuple(headers), payload)

    def _forward(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(
            self._upstream_host, self._upstream_port, timeout=self._upstream_timeout
        )
        try:
            connection.request(method, path, body=body, headers=dict(headers))
            response = connection.getresponse()
            payload = response.read()
            return response.status, response.reason, response.getheaders(), payload
        finally:
            connection.close()


def _header(headers: Mapping[str, str], name: str) -> str:
    lowered = name.lower()
    return next((value for key, value in headers.items() if key.lower() == lowered), "")


def _error_answer(status: int, code: str, message: str) -> _Answer:
    payload = error_body(code, message)
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:  # a status of a test's own choosing
        reason = ""
    return _Answer(status, reason, (("Content-Type", "text/xml"),), payload)


def error_body(code: str, message: str) -> bytes:
    """EC2's XML error document, which botocore parses into ``ClientError``."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{escape(code)}</Code>"
        f"<Message>{escape(message)}</Message></Error></Errors>"
        f"<RequestID>{uuid.uuid4()}</RequestID></Response>"
    ).encode()


def _filter_values(params: Mapping[str, str], name: str) -> frozenset[str] | None:
    """The values of the query protocol's filter *name* (``Filter.N.Value.M``); None if absent."""
    numbers = {
        match[1]
        for key, value in params.items()
        if (match := _FILTER_PARAM.fullmatch(key)) and match[2] == "Name" and value == name
    }
    if not numbers:
        return None
    return frozenset(
        value
        for key, value in params.items()
        if (match := _FILTER_PARAM.fullmatch(key))
        and match[1] in numbers
        and match[2].startswith("Value.")
    )


def _without_filter(body: bytes, name: str) -> bytes:
    """The form *body* without the filter *name*, the other filters numbered 1, 2, ... again."""
    pairs = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    dropped = {
        match[1]
        for key, value in pairs
        if (match := _FILTER_PARAM.fullmatch(key)) and match[2] == "Name" and value == name
    }
    kept = sorted(
        {m[1] for key, _ in pairs if (m := _FILTER_PARAM.fullmatch(key))} - dropped, key=int
    )
    renumbered = {old: str(new) for new, old in enumerate(kept, start=1)}
    out: list[tuple[str, str]] = []
    for key, value in pairs:
        match = _FILTER_PARAM.fullmatch(key)
        if match is None:
            out.append((key, value))
        elif match[1] in renumbered:
            out.append((f"Filter.{renumbered[match[1]]}.{match[2]}", value))
    return urllib.parse.urlencode(out).encode()


def _keep_instances(payload: bytes, purged: frozenset[str], tokens: frozenset[str] | None) -> bytes:
    """A DescribeInstances answer without the *purged* instances and, given *tokens*, without
    those launched with another ``ClientToken``; reservations left empty go too."""
    root = ElementTree.fromstring(payload)  # noqa: S314 -- the upstream's answer to a test
    namespace = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""

    def tag(name: str) -> str:
        return f"{{{namespace}}}{name}" if namespace else name

    reservations = root.find(tag("reservationSet"))
    if reservations is None:
        return payload
    for reservation in list(reservations):
        instances = reservation.find(tag("instancesSet"))
        if instances is None:
            continue
        for instance in list(instances):
            gone = (instance.findtext(tag("instanceId")) or "") in purged
            token = instance.findtext(tag("clientToken")) or ""
            if gone or (tokens is not None and token not in tokens):
                instances.remove(instance)
        if not len(instances):
            reservations.remove(reservation)
    text: bytes = ElementTree.tostring(
        root, encoding="utf-8", xml_declaration=True, default_namespace=namespace or None
    )
    return text


def _params(query: str, body: bytes, content_type: str) -> dict[str, str]:
    """The query protocol's parameters: query string, then a form-encoded body (first values)."""
    params: dict[str, str] = {}
    for key, values in urllib.parse.parse_qs(query).items():
        params[key] = values[0]
    if body and content_type.startswith("application/x-www-form-urlencoded"):
        for key, values in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items():
            params[key] = values[0]
    return params


def _handler_for(front: FaultFront) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(_FrontHandler):
        pass

    Handler.front = front
    return Handler


class _FrontHandler(http.server.BaseHTTPRequestHandler):
    """Answers one client connection (keep-alive: several requests) for `FaultFront`."""

    front: FaultFront
    protocol_version = "HTTP/1.1"
    timeout = 120  # an idle keep-alive connection's thread ends after this many seconds

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s: %s", self.address_string(), format % args)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urllib.parse.urlsplit(self.path)
        params = _params(split.query, body, self.headers.get("Content-Type", ""))
        action = params.get("Action", "")
        front = self.front
        request = _Request(
            method=self.command,
            path=self.path,
            headers={
                k: v
                for k, v in self.headers.items()
                # the body is read already: no 100-continue
                if k.lower() not in _HOP_BY_HOP and k.lower() != "expect"
            },
            body=body,
        )
        if not action:
            self._send(front._forward_answer(request))
            return
        verdict = front._admit(action, params)
        if verdict.latency > 0:
            front._sleep(verdict.latency)
        if verdict.throttled:
            self._send(_error_answer(THROTTLE_STATUS, THROTTLE_CODE, "Request limit exceeded."))
            return
        if verdict.fault is not None:
            fault = verdict.fault
            self._send(_error_answer(fault.status, fault.code, fault.message))
            return
        answer = front._answer(action, params, request)
        if answer.status >= 400:
            front._upstream_failed(action)
        if verdict.hold is not None and not verdict.hold._park():
            logger.info("EC2 fault front: dropping the answer to %s as asked", action)
            self.close_connection = True
            return
        self._send(answer)

    def _send(self, answer: _Answer) -> None:
        """Write *answer*; a caller that has gone away (killed while held) is not an error."""
        try:
            self.send_response(answer.status, answer.reason)  # writes its own Server and Date
            for name, value in answer.headers:
                if name.lower() not in _HOP_BY_HOP and name.lower() not in ("server", "date"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.payload)
        except OSError as exc:
            logger.debug("EC2 fault front: the caller went away: %s", exc)
            self.close_connection = True
