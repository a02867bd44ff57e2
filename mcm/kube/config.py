"""Where an API server is and how to authenticate to it: kubeconfig files, in-cluster accounts.

The loaders here each fill a fresh ``kubernetes.client.Configuration`` and never touch the
``kubernetes`` package's global default, so clients for two clusters (MCM's control and target
clusters) coexist in one process. The ``kubernetes`` package does the parsing, so all it supports
works: client certificates and keys (files or inline ``-data``), CA bundles, bearer tokens (inline
or ``tokenFile``), basic auth, exec credential plugins and the legacy auth providers (their tokens
are refreshed on expiry, before a request), ``insecure-skip-tls-verify``, ``tls-server-name`` and
``proxy-url``. That package writes inline certificate data to temporary files, as TLS needs files.

A configuration carries credentials. None of them is ever logged or put into an error message: a
`ConfigError` names the file and what was wrong, with any quoted part of the file cut out. (The
``kubernetes`` package quotes whole ``users`` entries, tokens included, in its own messages, so its
exceptions are not chained.)
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping

import yaml
from kubernetes.client import Configuration
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import (
    SERVICE_CERT_FILENAME,
    SERVICE_TOKEN_FILENAME,
    InClusterConfigLoader,
)
from kubernetes.config.kube_config import ENV_KUBECONFIG_PATH_SEPARATOR, load_kube_config

from mcm.errors import MCMError

logger = logging.getLogger(__name__)

IN_CLUSTER_FLAG_VALUE = "inClusterConfig"
"""The kubeconfig flag value upstream MCM reads as "use the pod's service account"."""

SERVICE_TOKEN_FILE: str = SERVICE_TOKEN_FILENAME
"""Where a pod finds its service account's token."""

SERVICE_CA_FILE: str = SERVICE_CERT_FILENAME
"""Where a pod finds the CA bundle that signed the API server's certificate."""

DEFAULT_KUBECONFIG = "~/.kube/config"
"""Where kubectl and client-go look when ``KUBECONFIG`` is unset."""

_CONTENT = re.compile(r"\{.*\}", re.DOTALL)


class ConfigError(MCMError):
    """No usable connection settings: a missing or malformed kubeconfig, or not in a pod."""


def load_kubeconfig(path: str | os.PathLike[str], *, context: str | None = None) -> Configuration:
    """Read the kubeconfig at *path* (for *context*, else its ``current-context``).

    *path* may list several files joined by ``os.pathsep``, as ``KUBECONFIG`` does; they are merged
    the way kubectl merges them.
    """
    where = os.fspath(path)
    if not any(
        os.path.exists(os.path.expanduser(p)) for p in where.split(ENV_KUBECONFIG_PATH_SEPARATOR)
    ):
        raise ConfigError(f"kubeconfig {where!r} does not exist")
    configuration = Configuration()
    try:
        load_kube_config(  # type: ignore[no-untyped-call]
            config_file=where,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except (ConfigException, OSError, yaml.YAMLError, ValueError, TypeError, KeyError) as exc:
        in_context = f" (context {context!r})" if context else ""
        raise ConfigError(f"kubeconfig {where!r}{in_context}: {_redacted(exc)}") from None
    logger.debug("Loaded kubeconfig %s, server %s", where, configuration.host)
    return configuration


def load_in_cluster(
    *,
    token_file: str = SERVICE_TOKEN_FILE,
    ca_file: str = SERVICE_CA_FILE,
    environ: Mapping[str, str] | None = None,
) -> Configuration:
    """The pod's service account: ``KUBERNETES_SERVICE_HOST``/``_PORT``, its token and CA bundle.

    The token file is re-read every minute, so projected (rotating) tokens keep working.
    """
    configuration = Configuration()
    try:
        loader = InClusterConfigLoader(  # type: ignore[no-untyped-call]
            token_filename=token_file,
            cert_filename=ca_file,
            try_refresh_token=True,
            environ=os.environ if environ is None else environ,
        )
        loader.load_and_set(configuration)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError) as exc:
        raise ConfigError(f"in-cluster config: {_redacted(exc)}") from None
    logger.debug("Loaded in-cluster config, server %s", configuration.host)
    return configuration


def load_from_flag(value: str, *, environ: Mapping[str, str] | None = None) -> Configuration:
    """Settings for a ``--*-kubeconfig`` flag value, as client-go's ``BuildConfigFromFlags`` does.

    A path loads that kubeconfig. ``""`` or ``"inClusterConfig"`` mean the pod's service account;
    outside a pod, ``""`` falls back to ``$KUBECONFIG`` or ``~/.kube/config``, as client-go does.
    """
    if value and value != IN_CLUSTER_FLAG_VALUE:
        return load_kubeconfig(value)
    env = os.environ if environ is None else environ
    try:
        return load_in_cluster(environ=env)
    except ConfigError:
        if value == IN_CLUSTER_FLAG_VALUE:
            raise
        fallback = env.get("KUBECONFIG") or DEFAULT_KUBECONFIG
        logger.warning("Not running in a cluster; using kubeconfig %s", fallback)
        return load_kubeconfig(fallback)


def _redacted(exc: BaseException) -> str:
    """The exception's message with any quoted kubeconfig content (a dict's repr) cut out."""
    return _CONTENT.sub("{...}", str(exc)) or type(exc).__name__
