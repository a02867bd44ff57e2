"""Loading kubeconfigs and in-cluster settings into a KubeClient, and keeping credentials secret."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mcm import errors
from mcm.kube.client import KubeClient, client_from_flag
from mcm.kube.config import ConfigError, load_from_flag, load_kubeconfig
from mcm.kube.resources import NODES
from tests.unit.kube.kube_http_fakes import PKI, FakeAPIServer

MakeKubeconfig = Callable[..., Path]


def _serve_node(server: FakeAPIServer) -> None:
    server.reply("GET", "/api/v1/nodes/n1", body={"metadata": {"name": "n1"}})


def test_a_kubeconfig_context_picks_its_own_user(tmp_path: Path, apiserver: FakeAPIServer) -> None:
    _serve_node(apiserver)
    cluster = {"name": "c", "cluster": {"server": apiserver.url}}
    path = tmp_path / "config"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [
                    {"name": "alice", "user": {"token": "alice-token"}},
                    {"name": "bob", "user": {"token": "bob-token"}},
                ],
                "contexts": [
                    {"name": "as-alice", "context": {"cluster": "c", "user": "alice"}},
                    {"name": "as-bob", "context": {"cluster": "c", "user": "bob"}},
                ],
                "current-context": "as-alice",
            }
        )
    )

    with KubeClient.from_kubeconfig(path, qps=0) as default:
        default.get(NODES, "n1")
    with KubeClient.from_kubeconfig(path, context="as-bob", qps=0) as bob:
        bob.get(NODES, "n1")

    tokens = [r.headers["authorization"] for r in apiserver.requests]
    assert tokens == ["Bearer alice-token", "Bearer bob-token"]


def test_a_token_file_is_read(
    tmp_path: Path, apiserver: FakeAPIServer, make_kubeconfig: MakeKubeconfig
) -> None:
    _serve_node(apiserver)
    (tmp_path / "token").write_text("from-a-file")
    path = make_kubeconfig(apiserver.url, user={"tokenFile": str(tmp_path / "token")})

    with KubeClient.from_kubeconfig(path, qps=0) as kube:
        kube.get(NODES, "n1")

    assert apiserver.requests[0].headers["authorization"] == "Bearer from-a-file"


def test_inline_client_certificate_data_authenticates_over_tls(
    tls_apiserver: FakeAPIServer, pki: PKI, make_kubeconfig: MakeKubeconfig
) -> None:
    _serve_node(tls_apiserver)
    path = make_kubeconfig(tls_apiserver.url, user=pki.client_user(), cluster=pki.ca_cluster())

    with KubeClient.from_kubeconfig(path, qps=0) as kube:
        node = kube.get(NODES, "n1")

    assert node == {"metadata": {"name": "n1"}}
    assert tls_apiserver.requests[0].client_cn == pki.client_cn
    assert "authorization" not in tls_apiserver.requests[0].headers


def test_client_certificate_files_relative_to_the_kubeconfig_authenticate_over_tls(
    tmp_path: Path, tls_apiserver: FakeAPIServer, pki: PKI, make_kubeconfig: MakeKubeconfig
) -> None:
    _serve_node(tls_apiserver)
    (tmp_path / "ca.crt").write_bytes(pki.ca_cert)
    (tmp_path / "client.crt").write_bytes(pki.client_cert)
    (tmp_path / "client.key").write_bytes(pki.client_key)
    path = make_kubeconfig(
        tls_apiserver.url,
        user={"client-certificate": "client.crt", "client-key": "client.key"},
        cluster={"certificate-authority": "ca.crt"},
    )

    with KubeClient.from_kubeconfig(path, qps=0) as kube:
        kube.get(NODES, "n1")

    assert tls_apiserver.requests[0].client_cn == pki.client_cn


def test_an_untrusted_server_certificate_is_a_transport_error(
    tls_apiserver: FakeAPIServer, pki: PKI, make_kubeconfig: MakeKubeconfig
) -> None:
    path = make_kubeconfig(tls_apiserver.url, user=pki.client_user())  # no CA

    with KubeClient.from_kubeconfig(path, qps=0) as kube, pytest.raises(errors.TransportError):
        kube.get(NODES, "n1")

    assert tls_apiserver.requests == []


def test_insecure_skip_tls_verify_connects_without_a_ca_and_without_warnings(
    tls_apiserver: FakeAPIServer,
    pki: PKI,
    make_kubeconfig: MakeKubeconfig,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _serve_node(tls_apiserver)
    path = make_kubeconfig(
        tls_apiserver.url, user=pki.client_user(), cluster={"insecure-skip-tls-verify": True}
    )

    with KubeClient.from_kubeconfig(path, qps=0) as kube:  # warnings are errors in this suite
        kube.get(NODES, "n1")

    assert tls_apiserver.requests[0].client_cn == pki.client_cn
    assert "TLS certificate verification is disabled" in caplog.text


def test_an_exec_plugin_supplies_the_token(
    apiserver: FakeAPIServer, make_kubeconfig: MakeKubeconfig
) -> None:
    _serve_node(apiserver)
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {"token": "from-the-plugin"},
    }
    plugin = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": sys.executable,
        "args": ["-c", f"print({json.dumps(json.dumps(credential))})"],
    }
    path = make_kubeconfig(apiserver.url, user={"exec": plugin})

    with KubeClient.from_kubeconfig(path, qps=0) as kube:
        kube.get(NODES, "n1")

    assert apiserver.requests[0].headers["authorization"] == "Bearer from-the-plugin"


def test_in_cluster_settings_use_the_service_account_token_and_ca(
    tmp_path: Path, tls_apiserver: FakeAPIServer, pki: PKI
) -> None:
    _serve_node(tls_apiserver)
    (tmp_path / "token").write_text("service-account-token")
    (tmp_path / "ca.crt").write_bytes(pki.ca_cert)
    port = tls_apiserver.url.rsplit(":", 1)[1]
    environ = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port}

    with KubeClient.in_cluster(
        qps=0,
        token_file=str(tmp_path / "token"),
        ca_file=str(tmp_path / "ca.crt"),
        environ=environ,
    ) as kube:
        kube.get(NODES, "n1")

    assert kube.host == tls_apiserver.url
    assert tls_apiserver.requests[0].headers["authorization"] == "bearer service-account-token"


def test_a_flag_holding_a_path_loads_that_kubeconfig(
    kubeconfig: Path, apiserver: FakeAPIServer
) -> None:
    _serve_node(apiserver)

    with client_from_flag(str(kubeconfig), qps=0) as kube:
        kube.get(NODES, "n1")

    assert kube.host == apiserver.url
    assert len(apiserver.requests) == 1


def test_an_empty_flag_outside_a_cluster_falls_back_to_the_kubeconfig_env(
    kubeconfig: Path, apiserver: FakeAPIServer
) -> None:
    configuration = load_from_flag("", environ={"KUBECONFIG": str(kubeconfig)})

    assert configuration.host == apiserver.url


def test_the_in_cluster_flag_value_outside_a_cluster_is_a_config_error(kubeconfig: Path) -> None:
    with pytest.raises(ConfigError, match="in-cluster"):
        load_from_flag("inClusterConfig", environ={"KUBECONFIG": str(kubeconfig)})


def test_a_missing_kubeconfig_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_kubeconfig(tmp_path / "nope")


def test_a_malformed_kubeconfig_is_a_config_error_that_quotes_no_credentials(
    tmp_path: Path, token: str
) -> None:
    path = tmp_path / "config"
    path.write_text(
        json.dumps(
            {
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": token}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )

    with pytest.raises(ConfigError) as caught:
        load_kubeconfig(path, context="does-not-exist")

    assert "does-not-exist" in str(caught.value)
    assert token not in str(caught.value)
    assert caught.value.__cause__ is None


def test_loading_logs_no_credentials(
    kubeconfig: Path, apiserver: FakeAPIServer, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    with KubeClient.from_kubeconfig(kubeconfig, qps=0) as kube:
        text = repr(kube)

    assert apiserver.url in caplog.text
    assert token not in caplog.text
    assert token not in text
