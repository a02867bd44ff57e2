"""`KubeClient`: `mcm.kube.protocol.Api` over HTTP, for any resource, core or custom.

The official ``kubernetes`` package is used for transport and configuration only: a
``kubernetes.client.Configuration`` (see `mcm.kube.config`) supplies the server, TLS material and
credentials, and the ``urllib3`` pool it builds carries the requests. Nothing is deserialized into
the package's generated models: a response body is read as bytes and ``json.loads``-ed once, and a
watch event is one ``json.loads`` of one line of the stream. Paths come from `Resource.path`.

What the client promises beyond the `Api` contract:

- Requests are throttled by a client-side token bucket (client-go's ``QPS``/``Burst``; defaults are
  MCM's ``--kube-api-qps=20`` and ``--kube-api-burst=30``). Every request takes a token before it
  is sent, including the one that opens a watch; an open watch holds none.
- Every request but a watch has a timeout (*request_timeout*, 30 s by default) for connecting and
  for each read; it raises `mcm.errors.TransportError`. A watch has no overall timeout: it ends
  when the server's ``timeoutSeconds`` expires, and *read_timeout* bounds the silence in between.
- No retries: a failed request raises at once, and the caller (a reflector, a controller's queue)
  decides when to try again. A 429 carries the server's ``Retry-After`` as ``retry_after``.
- Credentials never reach a log line, a ``repr`` or an error message. Expiring credentials (exec
  plugins, rotating service-account tokens) are refreshed by the ``kubernetes`` package before a
  request.

Durations are float seconds.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import json
import logging
import os
import threading
import urllib.parse
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Self

import urllib3
from kubernetes.client import Configuration
from kubernetes.client.rest import RESTClientObject

from mcm import __version__
from mcm.clock import Clock, RealClock
from mcm.errors import ApiError, TransportError, api_error
from mcm.kube import config as kubeconfig
from mcm.kube.protocol import (
    JSON,
    EventType,
    ObjectList,
    PatchType,
    Preconditions,
    WatchEvent,
)
from mcm.kube.resources import PODS, Resource
from mcm.tokenbucket import TokenBucket

logger = logging.getLogger(__name__)

DEFAULT_QPS = 20.0
"""Upstream MCM's ``--kube-api-qps`` default."""

DEFAULT_BURST = 30
"""Upstream MCM's ``--kube-api-burst`` default."""

DEFAULT_REQUEST_TIMEOUT = 30.0
"""Seconds a non-watch request may take to connect, and may stall while reading."""

WATCH_READ_SLACK = 30.0
"""Seconds a watch may stay silent beyond its server-side ``timeoutSeconds`` before we give up.

A healthy server closes the stream at ``timeoutSeconds``; one still silent well after that is gone
(a dropped connection that TCP keepalive has not noticed yet)."""

POOL_MAXSIZE = 64
"""Connections kept per host. Every informer holds one for its watch and workers need more; urllib3
opens extra connections when the pool is exhausted, but throws them away afterwards."""

DEFAULT_USER_AGENT = f"machine-controller-manager/{__version__} (python)"

_READ_SIZE = 64 * 1024
_ERROR_TEXT_LIMIT = 512  # characters of a non-JSON error body kept in the message

_TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)


class KubeClient:
    """Raw-JSON access to one API server (implements `mcm.kube.protocol.Api`); thread-safe.

    *configuration* is owned by the client from here on: build it with `mcm.kube.config`, or use
    `from_kubeconfig`, `in_cluster` or `client_from_flag`. Call `close` (or use ``with``) to drop
    the pooled connections.
    """

    def __init__(
        self,
        configuration: Configuration,
        *,
        qps: float = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        user_agent: str = DEFAULT_USER_AGENT,
        clock: Clock | None = None,  # FakeClock in tests: drives the rate limiter, Retry-After
    ) -> None:
        self._configuration = configuration
        self._host: str = str(configuration.host).rstrip("/")
        self._clock: Clock = clock or RealClock()
        self._limiter = TokenBucket(qps, burst, clock=self._clock)
        self._request_timeout = request_timeout
        self._user_agent = user_agent
        configuration.connection_pool_maxsize = max(
            configuration.connection_pool_maxsize or 0, POOL_MAXSIZE
        )
        if configuration.socket_options is None:
            # TCP keepalive with client-go's timings: a watch on a dead connection fails eventually.
            configuration.keep_alive = True
        self._pool: urllib3.PoolManager = RESTClientObject(configuration).pool_manager
        if not configuration.verify_ssl:
            # Asked for explicitly (insecure-skip-tls-verify): say it once, not on every request.
            logger.warning("TLS certificate verification is disabled for %s", self._host)
            warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)

    @classmethod
    def from_kubeconfig(
        cls,
        path: str | os.PathLike[str],
        *,
        context: str | None = None,
        qps: float = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        user_agent: str = DEFAULT_USER_AGENT,
        clock: Clock | None = None,
    ) -> Self:
        """A client for the kubeconfig at *path* (its *context*, else the current one)."""
        return cls(
            kubeconfig.load_kubeconfig(path, context=context),
            qps=qps,
            burst=burst,
            request_timeout=request_timeout,
            user_agent=user_agent,
            clock=clock,
        )

    @classmethod
    def in_cluster(
        cls,
        *,
        qps: float = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        user_agent: str = DEFAULT_USER_AGENT,
        clock: Clock | None = None,
        token_file: str = kubeconfig.SERVICE_TOKEN_FILE,
        ca_file: str = kubeconfig.SERVICE_CA_FILE,
        environ: Mapping[str, str] | None = None,
    ) -> Self:
        """A client for the pod's own API server, authenticated as its service account."""
        return cls(
            kubeconfig.load_in_cluster(token_file=token_file, ca_file=ca_file, environ=environ),
            qps=qps,
            burst=burst,
            request_timeout=request_timeout,
            user_agent=user_agent,
            clock=clock,
        )

    @property
    def host(self) -> str:
        """The API server's base URL."""
        return self._host

    @property
    def rate_limiter(self) -> TokenBucket:
        """The token bucket every request draws from."""
        return self._limiter

    def close(self) -> None:
        """Close the pooled connections. Open watches keep theirs until they end."""
        self._pool.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(host={self._host!r})"

    # ------------------------------------------------------------------------------------ reads

    def get(self, resource: Resource, name: str, *, namespace: str | None = None) -> JSON:
        path = resource.path(namespace=_namespace(resource, namespace), name=name)
        return self._request("GET", path)

    def list(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> ObjectList:
        query = _query(
            labelSelector=label_selector,
            fieldSelector=field_selector,
            resourceVersion=resource_version,
            limit=limit,
            **{"continue": continue_token},
        )
        body = self._request("GET", resource.path(namespace=namespace), query=query)
        metadata = body.get("metadata") or {}
        items = body.get("items") or []
        # The server leaves kind and apiVersion out of list items; fill them in as client-go does.
        list_kind = str(body.get("kind") or "")
        kind = list_kind.removesuffix("List") if list_kind.endswith("List") else resource.kind
        api_version = str(body.get("apiVersion") or resource.api_version)
        for item in items:
            if not item.get("kind"):
                item["kind"] = kind
            if not item.get("apiVersion"):
                item["apiVersion"] = api_version
        return ObjectList(
            items=items,
            resource_version=str(metadata.get("resourceVersion") or ""),
            continue_token=str(metadata.get("continue") or ""),
        )

    def watch(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int | None = None,
        allow_watch_bookmarks: bool = True,
        read_timeout: float | None = None,
    ) -> HTTPWatchStream:
        """Open a watch.

        Without *read_timeout*, the stream may be silent for *timeout_seconds* plus
        `WATCH_READ_SLACK`, or indefinitely if neither is given (TCP keepalive then notices a dead
        peer).
        """
        query = _query(
            watch="true",
            allowWatchBookmarks="true" if allow_watch_bookmarks else None,
            labelSelector=label_selector,
            fieldSelector=field_selector,
            resourceVersion=resource_version,
            timeoutSeconds=timeout_seconds,
        )
        if read_timeout is None and timeout_seconds:
            read_timeout = timeout_seconds + WATCH_READ_SLACK
        path = resource.path(namespace=namespace)
        self._limiter.accept()
        response = self._send(
            "GET",
            path,
            query,
            body=None,
            content_type=None,
            timeout=urllib3.Timeout(connect=self._request_timeout, read=read_timeout),
            preload_content=False,
            # Keep a watch's connection out of the pool (kube-apiserver, like any Go server, agrees
            # to close it): `HTTPWatchStream.close` may shut its socket down from another thread,
            # which must never hit a request that took the connection over.
            extra_headers={"Connection": "close"},
        )
        if response.status != 200:
            try:
                data = response.read()
            except _TRANSPORT_ERRORS as exc:
                raise TransportError(f"watch {path}: {exc}") from exc
            finally:
                response.release_conn()
            raise self._error(response, data)
        return HTTPWatchStream(response, path=path, read_timeout=read_timeout)

    # ----------------------------------------------------------------------------------- writes

    def create(
        self, resource: Resource, body: Mapping[str, Any], *, namespace: str | None = None
    ) -> JSON:
        ns = _namespace(resource, namespace or _body_namespace(body))
        return self._request("POST", resource.path(namespace=ns), body=body)

    def update(
        self,
        resource: Resource,
        body: Mapping[str, Any],
        *,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> JSON:
        name = str((body.get("metadata") or {}).get("name") or "")
        if not name:
            raise ValueError(f"update of {resource.group_resource}: body has no metadata.name")
        ns = _namespace(resource, namespace or _body_namespace(body))
        path = resource.path(namespace=ns, name=name, subresource=subresource)
        return self._request("PUT", path, body=body)

    def update_status(
        self, resource: Resource, body: Mapping[str, Any], *, namespace: str | None = None
    ) -> JSON:
        return self.update(resource, body, namespace=namespace, subresource="status")

    def patch(
        self,
        resource: Resource,
        name: str,
        patch: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        namespace: str | None = None,
        patch_type: PatchType = PatchType.MERGE,
        subresource: str | None = None,
    ) -> JSON:
        if (patch_type is PatchType.JSON) == isinstance(patch, Mapping):
            raise TypeError(
                "a JSON patch is a list of operations; merge and strategic patches are objects"
            )
        path = resource.path(
            namespace=_namespace(resource, namespace), name=name, subresource=subresource
        )
        return self._request("PATCH", path, body=patch, content_type=patch_type.value)

    def patch_status(
        self,
        resource: Resource,
        name: str,
        patch: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        namespace: str | None = None,
        patch_type: PatchType = PatchType.MERGE,
    ) -> JSON:
        return self.patch(
            resource, name, patch, namespace=namespace, patch_type=patch_type, subresource="status"
        )

    def delete(
        self,
        resource: Resource,
        name: str,
        *,
        namespace: str | None = None,
        preconditions: Preconditions | None = None,
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
    ) -> JSON | None:
        options = _delete_options(preconditions, propagation_policy, grace_period_seconds)
        path = resource.path(namespace=_namespace(resource, namespace), name=name)
        result = self._request("DELETE", path, body=options or None)
        # The object when it lingers (finalizers, graceful deletion); a Status when it is gone.
        return None if result.get("kind") == "Status" else result

    def evict(
        self,
        name: str,
        *,
        namespace: str,
        grace_period_seconds: int | None = None,
        preconditions: Preconditions | None = None,
    ) -> None:
        eviction: JSON = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace},
        }
        options = _delete_options(preconditions, None, grace_period_seconds)
        if options:
            eviction["deleteOptions"] = options
        path = PODS.path(namespace=namespace, name=name, subresource="eviction")
        self._request("POST", path, body=eviction)

    # -------------------------------------------------------------------------------- transport

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: object = None,
        content_type: str | None = None,
    ) -> JSON:
        """One throttled request; the decoded JSON body of a 2xx answer, else the matching error."""
        payload = None if body is None else _encode(body)
        self._limiter.accept()
        response = self._send(
            method,
            path,
            query or {},
            body=payload,
            content_type=(content_type or "application/json") if payload is not None else None,
            timeout=urllib3.Timeout(total=self._request_timeout),
            preload_content=True,
        )
        data = response.data
        if not 200 <= response.status < 300:
            raise self._error(response, data)
        if not data:
            return {}
        try:
            decoded = json.loads(data)
        except ValueError as exc:
            raise TransportError(f"{method} {path}: the server sent invalid JSON") from exc
        if not isinstance(decoded, dict):
            raise TransportError(f"{method} {path}: the server sent JSON that is not an object")
        return decoded

    def _send(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        *,
        body: bytes | None,
        content_type: str | None,
        timeout: urllib3.Timeout,
        preload_content: bool,
        extra_headers: Mapping[str, str] | None = None,
    ) -> urllib3.BaseHTTPResponse:
        url = self._host + urllib.parse.quote(path, safe="/:@")
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {"Accept": "application/json", "User-Agent": self._user_agent}
        if content_type:
            headers["Content-Type"] = content_type
        if extra_headers:
            headers.update(extra_headers)
        # Looked up per request: the configuration refreshes expiring tokens here.
        token = self._configuration.get_api_key_with_prefix("BearerToken", alias="authorization")
        if token:
            headers["Authorization"] = token
        try:
            response = self._pool.request(
                method,
                url,
                body=body,
                headers=headers,
                timeout=timeout,
                retries=False,
                preload_content=preload_content,
            )
        except _TRANSPORT_ERRORS as exc:
            raise TransportError(f"{method} {self._host}{path}: {exc}") from exc
        logger.debug("%s %s -> %d", method, path, response.status)
        return response

    def _error(self, response: urllib3.BaseHTTPResponse, data: bytes) -> ApiError:
        retry_after = _retry_after(response.headers.get("Retry-After"), self._clock.now())
        return api_error(response.status, _status_body(data), retry_after=retry_after)


class HTTPWatchStream:
    """An open watch over HTTP (implements `mcm.kube.protocol.WatchStream`).

    Iterate it once. `close` may be called from any thread, at any time: it wakes a blocked read,
    the iteration ends without an error, and the connection is dropped.
    """

    def __init__(
        self, response: urllib3.BaseHTTPResponse, *, path: str, read_timeout: float | None
    ) -> None:
        self._response = response
        self._path = path
        self._read_timeout = read_timeout
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._iterated = False
        self._in_read = False  # a thread is blocked reading; it releases the response, not close()
        self._released = False

    def __iter__(self) -> Iterator[WatchEvent]:
        with self._lock:
            if self._iterated:
                raise RuntimeError(f"watch {self._path} can be iterated once")
            self._iterated = True
        return self._events()

    def close(self) -> None:
        with self._lock:
            self._closed.set()
            in_read = self._in_read
        if in_read:
            # Wake the reader, which then releases the response. Errors mean it is already finished.
            with contextlib.suppress(ValueError, RuntimeError, OSError):
                self._response.shutdown()
        else:
            self._release()  # nobody reads any more: _read checks the flag under the same lock

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={self._path!r}, closed={self._closed.is_set()})"

    def _events(self) -> Iterator[WatchEvent]:
        try:
            for line in self._lines():
                yield self._event(line)
        finally:
            self._release()

    def _lines(self) -> Iterator[bytes]:
        pending = bytearray()
        while True:
            with self._lock:
                if self._closed.is_set():
                    return
                self._in_read = True
            try:
                chunk = self._response.read1(_READ_SIZE)
            except _TRANSPORT_ERRORS as exc:
                if self._closed.is_set():
                    return
                if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
                    raise TransportError(
                        f"watch {self._path}: nothing received for {self._read_timeout} s"
                    ) from exc
                raise TransportError(f"watch {self._path}: {exc}") from exc
            finally:
                with self._lock:
                    self._in_read = False
            if not chunk:
                break
            start = 0
            while (end := chunk.find(b"\n", start)) >= 0:
                pending += chunk[start:end]
                start = end + 1
                if pending.strip():
                    yield bytes(pending)
                pending.clear()
                if self._closed.is_set():
                    return
            pending += chunk[start:]
        if pending.strip() and not self._closed.is_set():
            yield bytes(pending)

    def _event(self, line: bytes) -> WatchEvent:
        try:
            raw = json.loads(line)
            event_type = raw["type"]
            obj = raw["object"]
        except (ValueError, KeyError, TypeError) as exc:
            raise TransportError(f"watch {self._path}: undecodable event") from exc
        if event_type == EventType.ERROR:
            raise api_error(0, obj if isinstance(obj, Mapping) else None)
        try:
            kind = EventType(event_type)
        except ValueError:
            raise TransportError(f"watch {self._path}: unknown event type {event_type!r}") from None
        if not isinstance(obj, dict):
            raise TransportError(f"watch {self._path}: {kind} event without an object")
        return WatchEvent(kind, obj)

    def _release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        try:
            self._response.close()
            self._response.release_conn()
        except _TRANSPORT_ERRORS:
            logger.debug("Closing watch %s failed", self._path, exc_info=True)


def client_from_flag(
    value: str,
    *,
    qps: float = DEFAULT_QPS,
    burst: int = DEFAULT_BURST,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    user_agent: str = DEFAULT_USER_AGENT,
    clock: Clock | None = None,
) -> KubeClient:
    """A client for a ``--*-kubeconfig`` flag value; see `mcm.kube.config.load_from_flag`."""
    return KubeClient(
        kubeconfig.load_from_flag(value),
        qps=qps,
        burst=burst,
        request_timeout=request_timeout,
        user_agent=user_agent,
        clock=clock,
    )


def _namespace(resource: Resource, namespace: str | None) -> str | None:
    """The namespace a single-object request goes to: required for namespaced resources."""
    if not resource.namespaced:
        return None
    if not namespace:
        raise ValueError(f"{resource.group_resource} is namespaced: a namespace is required")
    return namespace


def _body_namespace(body: Mapping[str, Any]) -> str | None:
    metadata = body.get("metadata") or {}
    namespace = metadata.get("namespace")
    return str(namespace) if namespace else None


def _query(**params: object) -> dict[str, str]:
    return {key: str(value) for key, value in params.items() if value is not None and value != ""}


def _delete_options(
    preconditions: Preconditions | None,
    propagation_policy: str | None,
    grace_period_seconds: int | None,
) -> JSON:
    options: JSON = {}
    if preconditions is not None:
        wanted = {"uid": preconditions.uid, "resourceVersion": preconditions.resource_version}
        if any(value is not None for value in wanted.values()):
            options["preconditions"] = {k: v for k, v in wanted.items() if v is not None}
    if propagation_policy is not None:
        options["propagationPolicy"] = propagation_policy
    if grace_period_seconds is not None:
        options["gracePeriodSeconds"] = grace_period_seconds
    return options


def _encode(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":"), default=_jsonable).encode()


def _jsonable(value: object) -> object:
    """Frozen objects (`mcm.api.meta.freeze`: mapping proxies) serialize as the dicts they wrap."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _status_body(data: bytes) -> Mapping[str, Any] | None:
    """The ``kind: Status`` object of an error answer, or a stand-in carrying its text."""
    if not data:
        return None
    try:
        decoded = json.loads(data)
    except ValueError:
        decoded = None
    if isinstance(decoded, Mapping):
        return decoded
    text = data.decode("utf-8", errors="replace").strip()
    return {"message": text[:_ERROR_TEXT_LIMIT]} if text else None


def _retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` in seconds: delta-seconds, or an HTTP date relative to *now*."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)
