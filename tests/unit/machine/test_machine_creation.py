"""The creation flow (spec §3.3, §2.3 reaction tables; acceptance scenarios 15-24)."""

from __future__ import annotations

import hashlib
import logging
import re
import urllib.parse
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from mcm.api.constants import (
    LONG_RETRY,
    MACHINE_PRIORITY,
    MEDIUM_RETRY,
    SHORT_RETRY,
)
from mcm.api.core import Secret
from mcm.api.machine import MachineOperationType, MachinePhase, MachineState
from mcm.controller.bootstrap import bootstrap_token_id, bootstrap_token_secret_name
from mcm.controller.metrics import MachineMetrics
from mcm.driver import (
    Code,
    CreateMachineRequest,
    CreateMachineResponse,
    GetMachineStatusRequest,
    GetMachineStatusResponse,
)
from mcm.driver.fake import FakeDriver
from mcm.errors import ConflictError
from mcm.kube import resources
from mcm.testing.controller_env import ControllerEnv
from mcm.testing.fake_api import Verb
from tests.unit.machine.builders import (
    MINUTE,
    NAMESPACE,
    env_with_class,
    key,
    machine,
    node,
    reconciler,
    secret,
    stored_machine,
    target,
)


def seed_machine(env: ControllerEnv, **kwargs: Any) -> None:
    env.control.seed(resources.MACHINES, machine(**kwargs))


def test_creation_succeeds_with_object_update_then_status_update_to_pending() -> None:
    env = env_with_class()
    seed_machine(env)
    rec = reconciler(env)

    first = rec.reconcile(key("machine-0"))
    after_first = stored_machine(env)
    second = rec.reconcile(key("machine-0"))
    after_second = stored_machine(env)

    assert env.driver.calls_for("machine-0") == (
        "get_machine_status",
        "create_machine",
        "initialize_machine",
        "get_machine_status",
    )
    assert first.requeue_after == SHORT_RETRY
    assert after_first.spec.provider_id == "fake:///" + after_first.metadata.uid
    assert after_first.node_name == "machine-0"
    assert after_first.metadata.annotations[MACHINE_PRIORITY] == "3"
    assert after_first.phase is None
    assert second.requeue_after == SHORT_RETRY
    assert after_second.phase is MachinePhase.PENDING
    assert after_second.status.current_status.timeout_active is True
    assert after_second.status.last_operation.description == "Creating machine on cloud provider"
    assert after_second.status.last_operation.state is MachineState.PROCESSING
    assert after_second.status.last_operation.type is MachineOperationType.CREATE


def test_provider_id_is_persisted_before_initialize_machine_is_called() -> None:
    env = env_with_class()
    seed_machine(env)
    env.driver.fail_next("initialize_machine", Code.INTERNAL, "boom")

    reconciler(env).reconcile(key("machine-0"))

    identity_patches = [
        a
        for a in env.control.actions_for(Verb.PATCH, resources.MACHINES, reads=False)
        if a.subresource == ""
        and isinstance(a.patch, dict)
        and "providerID" in a.patch.get("spec", {})
    ]
    assert len(identity_patches) == 1
    patch = identity_patches[0].patch
    assert isinstance(patch, dict)
    assert patch["metadata"]["resourceVersion"]
    assert stored_machine(env).spec.provider_id.startswith("fake:///")


def test_a_crash_after_create_leads_to_no_second_vm() -> None:
    env = env_with_class()
    seed_machine(env)
    rec = reconciler(env)
    rec.reconcile(key("machine-0"))  # created, recorded, initialized

    for _ in range(3):
        reconciler(env).reconcile(key("machine-0"))  # a fresh process each time

    assert env.driver.calls_for("machine-0").count("create_machine") == 1
    assert len(env.driver.vms) == 1


def test_identity_write_conflict_is_retried_once_against_a_fresh_read() -> None:
    env = env_with_class()
    seed_machine(env)
    env.control.fail_next(
        Verb.PATCH, resources.MACHINES, error=ConflictError("stale"), name="machine-0"
    )

    reconciler(env).reconcile(key("machine-0"))

    assert stored_machine(env).spec.provider_id.startswith("fake:///")


def test_creation_already_succeeded_needs_no_update() -> None:
    env = env_with_class()
    assert env.target is not None
    seed_machine(
        env,
        phase="Running",
        provider_id="fake:///machine-0",
        node="machine-0",
        annotations={MACHINE_PRIORITY: "3", "node.machine.sapcloud.io/x": "y"},
        conditions=[
            {"type": "Ready", "status": "True"},
            {"type": "DiskPressure", "status": "False"},
            {"type": "MemoryPressure", "status": "False"},
            {"type": "NetworkUnavailable", "status": "False"},
        ],
    )
    target(env).seed(
        resources.NODES,
        node(
            "machine-0",
            labels={"node.gardener.cloud/machine-name": "machine-0"},
            annotations={"node.machine.sapcloud.io/last-applied-anno-labels-taints": "{}"},
        ),
    )
    env.control.clear_actions()

    result = reconciler(env).reconcile(key("machine-0"))

    assert result.requeue_after == LONG_RETRY
    assert env.control.actions_for(resource=resources.MACHINES, reads=False) == []
    assert env.driver.calls == ()


@pytest.mark.parametrize(
    ("code", "retry", "keeps_state"),
    [
        pytest.param(Code.INTERNAL, MEDIUM_RETRY, False, id="internal-medium-retry"),
        pytest.param(Code.INVALID_ARGUMENT, MEDIUM_RETRY, False, id="invalid-argument"),
        pytest.param(Code.RESOURCE_EXHAUSTED, 10 * MINUTE, True, id="resource-exhausted-long"),
        pytest.param(Code.UNAVAILABLE, SHORT_RETRY, True, id="unavailable-short"),
        pytest.param(Code.DEADLINE_EXCEEDED, SHORT_RETRY, True, id="deadline-exceeded-short"),
        pytest.param(Code.ABORTED, SHORT_RETRY, True, id="aborted-short"),
        pytest.param(Code.UNKNOWN, SHORT_RETRY, True, id="unknown-short"),
    ],
)
def test_create_machine_error_sets_crash_loop_back_off_and_retries_per_code(
    code: Code, retry: float, keeps_state: bool
) -> None:
    env = env_with_class(machine_creation_timeout=60 * MINUTE)
    seed_machine(env, last_known_state="state-1")
    env.driver.fail_next("create_machine", code, "cloud says no")

    result = reconciler(env).reconcile(key("machine-0"))

    stored = stored_machine(env)
    assert result.requeue_after == retry
    assert stored.phase is MachinePhase.CRASH_LOOP_BACK_OFF
    operation = stored.status.last_operation
    assert operation.description == (
        f"Cloud provider message - machine codes error: code = [{code.go_name}]"
        " message = [cloud says no]"
    )
    assert operation.error_code == code.go_name
    assert operation.state is MachineState.FAILED
    assert operation.type is MachineOperationType.CREATE
    assert stored.status.last_known_state == ("state-1" if keeps_state else "")
    assert env.recorder.reasons_for(key("machine-0")) == ["CreateFailed"]


def test_resource_exhausted_uses_the_configured_retry() -> None:
    env = env_with_class(resource_exhausted_retry=2 * MINUTE)
    seed_machine(env)
    env.driver.fail_next("create_machine", Code.RESOURCE_EXHAUSTED, "no capacity")

    result = reconciler(env).reconcile(key("machine-0"))

    assert result.requeue_after == 2 * MINUTE


def test_resource_exhausted_retry_of_zero_means_the_long_retry() -> None:
    env = env_with_class(resource_exhausted_retry=0.0, machine_creation_timeout=60 * MINUTE)
    seed_machine(env)
    env.driver.fail_next("create_machine", Code.RESOURCE_EXHAUSTED, "no capacity")

    result = reconciler(env).reconcile(key("machine-0"))

    assert result.requeue_after == LONG_RETRY


def test_create_error_requeues_at_the_creation_deadline_when_it_comes_first() -> None:
    env = env_with_class()  # 20m creation timeout
    seed_machine(env, created=15 * MINUTE)
    env.driver.fail_next("create_machine", Code.RESOURCE_EXHAUSTED, "no capacity")

    result = reconciler(env).reconcile(key("machine-0"))

    assert result.requeue_after == pytest.approx(5 * MINUTE)
    assert stored_machine(env).phase is MachinePhase.CRASH_LOOP_BACK_OFF


def test_create_error_after_creation_timeout_marks_the_machine_failed() -> None:
    env = env_with_class()
    seed_machine(env, created=21 * MINUTE, phase="CrashLoopBackOff")
    env.driver.fail_next("create_machine", Code.INTERNAL, "boom")

    result = reconciler(env).reconcile(key("machine-0"))

    assert stored_machine(env).phase is MachinePhase.FAILED
    assert result.requeue_after == MEDIUM_RETRY


def test_repeated_similar_create_error_is_not_written_again() -> None:
    env = env_with_class(machine_creation_timeout=60 * MINUTE)
    seed_machine(env)
    env.driver.fail_always("create_machine", Code.INTERNAL, "request id 1234 failed")
    rec = reconciler(env)
    rec.reconcile(key("machine-0"))
    env.control.clear_actions()
    env.clock.step(5)

    rec.reconcile(key("machine-0"))

    assert env.control.actions_for(Verb.PATCH, resources.MACHINES, subresource="status") == []


def test_stale_node_with_a_different_name_deletes_the_vm_and_fails_the_machine() -> None:
    env = env_with_class()
    driver = _driver_naming_nodes(env, "old-node")
    env.context.driver = driver
    assert env.target is not None
    target(env).seed(resources.NODES, node("old-node"))
    seed_machine(env)

    result = reconciler(env).reconcile(key("machine-0"))

    stored = stored_machine(env)
    assert driver.calls_for("machine-0") == (
        "get_machine_status",
        "create_machine",
        "delete_machine",
    )
    assert driver.vms == {}
    assert stored.phase is MachinePhase.FAILED
    assert stored.status.last_operation.description == "VM using old node obj"
    assert stored.status.last_operation.state is MachineState.FAILED
    assert stored.spec.provider_id == ""
    assert result.requeue_after == SHORT_RETRY


def _node_with_provider_id(name: str, provider_id: str) -> dict[str, Any]:
    body = node(name)
    body["spec"] = {"providerID": provider_id}
    return body


def test_node_that_the_new_vm_registered_before_the_stale_node_check_is_not_stale() -> None:
    env = env_with_class()
    driver = _driver_naming_nodes(env, "ip-10-0-0-1")
    env.context.driver = driver
    seed_machine(env)
    provider_id = "fake:///" + stored_machine(env).metadata.uid
    target(env).seed(resources.NODES, _node_with_provider_id("ip-10-0-0-1", provider_id))
    rec = reconciler(env)

    first = rec.reconcile(key("machine-0"))
    after_first = stored_machine(env)
    rec.reconcile(key("machine-0"))
    after_second = stored_machine(env)

    assert driver.calls_for("machine-0") == (
        "get_machine_status",
        "create_machine",
        "initialize_machine",
        "get_machine_status",
    )
    assert list(driver.vms) == [provider_id]
    assert first.requeue_after == SHORT_RETRY
    assert after_first.spec.provider_id == provider_id
    assert after_first.node_name == "ip-10-0-0-1"
    assert after_second.phase is MachinePhase.PENDING
    assert after_second.status.last_operation.description != "VM using old node obj"


@pytest.mark.parametrize(
    "node_provider_id",
    [
        pytest.param("fake:///an-old-vm", id="another VM's provider ID"),
        pytest.param("", id="no provider ID"),
    ],
)
def test_node_with_the_new_vms_name_but_another_provider_id_is_still_stale(
    node_provider_id: str,
) -> None:
    env = env_with_class()
    driver = _driver_naming_nodes(env, "ip-10-0-0-1")
    env.context.driver = driver
    seed_machine(env)
    target(env).seed(resources.NODES, _node_with_provider_id("ip-10-0-0-1", node_provider_id))

    result = reconciler(env).reconcile(key("machine-0"))

    stored = stored_machine(env)
    assert driver.calls_for("machine-0") == (
        "get_machine_status",
        "create_machine",
        "delete_machine",
    )
    assert driver.vms == {}
    assert stored.phase is MachinePhase.FAILED
    assert stored.status.last_operation.description == "VM using old node obj"
    assert stored.spec.provider_id == ""
    assert result.requeue_after == SHORT_RETRY


def _driver_naming_nodes(env: ControllerEnv, node_name: str) -> FakeDriver:
    return FakeDriver(clock=env.clock, node_name_for=lambda _m: node_name)


def test_crash_loop_back_off_machine_whose_vm_exists_goes_pending() -> None:
    env = env_with_class()
    env.driver.add_orphan_vm("machine-0", machine_class="class-1")
    seed_machine(
        env,
        phase="CrashLoopBackOff",
        provider_id="fake:///machine-0",
        node="machine-0",
        annotations={MACHINE_PRIORITY: "3"},
    )

    result = reconciler(env).reconcile(key("machine-0"))

    assert env.driver.calls_for("machine-0") == ("get_machine_status",)
    assert stored_machine(env).phase is MachinePhase.PENDING
    assert result.requeue_after == SHORT_RETRY


def test_uninitialized_vm_whose_initialization_fails_goes_crash_loop_back_off() -> None:
    env = env_with_class()
    env.driver.add_orphan_vm("machine-0", machine_class="class-1", initialized=False)
    env.driver.fail_next("initialize_machine", Code.INTERNAL, "nic not attached")
    seed_machine(env)

    result = reconciler(env).reconcile(key("machine-0"))

    stored = stored_machine(env)
    assert env.driver.calls_for("machine-0") == ("get_machine_status", "initialize_machine")
    assert stored.phase is MachinePhase.CRASH_LOOP_BACK_OFF
    operation = stored.status.last_operation
    assert operation.description == (
        "Provider error: machine codes error: code = [Internal] message = [nic not attached]."
        " Initialize VM Instance"
    )
    assert operation.error_code == "Internal"
    assert operation.state is MachineState.FAILED
    assert result.requeue_after == SHORT_RETRY


def test_get_machine_status_uninitialized_then_initialize_fails_reports_its_code() -> None:
    env = env_with_class()
    env.driver.add_orphan_vm("machine-0", machine_class="class-1", initialized=False)
    env.driver.fail_next("initialize_machine", Code.UNINITIALIZED, "still booting")
    seed_machine(env)

    reconciler(env).reconcile(key("machine-0"))

    assert stored_machine(env).status.last_operation.error_code == "Uninitialized"


def test_unimplemented_initialize_counts_as_success() -> None:
    env = env_with_class()
    env.driver.unimplemented.add("initialize_machine")
    seed_machine(env)
    rec = reconciler(env)

    first = rec.reconcile(key("machine-0"))
    rec.reconcile(key("machine-0"))

    assert first.requeue_after == SHORT_RETRY
    assert stored_machine(env).phase is MachinePhase.PENDING


def test_get_machine_status_unimplemented_creates_when_no_provider_id() -> None:
    env = env_with_class()
    env.driver.unimplemented.add("get_machine_status")
    seed_machine(env)

    reconciler(env).reconcile(key("machine-0"))

    assert env.driver.calls_for("machine-0") == (
        "get_machine_status",
        "create_machine",
        "initialize_machine",
    )


def test_get_machine_status_unimplemented_trusts_an_existing_provider_id() -> None:
    env = env_with_class()
    env.driver.unimplemented.add("get_machine_status")
    seed_machine(
        env, provider_id="fake:///x", node="machine-0", annotations={MACHINE_PRIORITY: "3"}
    )

    result = reconciler(env).reconcile(key("machine-0"))

    assert env.driver.calls_for("machine-0") == ("get_machine_status",)
    assert stored_machine(env).phase is MachinePhase.PENDING
    assert result.requeue_after == SHORT_RETRY


def test_other_get_machine_status_code_is_a_create_error() -> None:
    env = env_with_class()
    env.driver.fail_next("get_machine_status", Code.PERMISSION_DENIED, "no")
    seed_machine(env)

    result = reconciler(env).reconcile(key("machine-0"))

    assert stored_machine(env).phase is MachinePhase.CRASH_LOOP_BACK_OFF
    assert stored_machine(env).status.last_operation.error_code == "PermissionDenied"
    assert result.requeue_after == MEDIUM_RETRY


def test_undecodable_get_machine_status_error_changes_nothing() -> None:
    env = env_with_class()
    seed_machine(env)

    class Broken(FakeDriver):
        def get_machine_status(self, request: GetMachineStatusRequest) -> GetMachineStatusResponse:
            raise RuntimeError("socket closed")

    env.context.driver = Broken(clock=env.clock)
    env.control.clear_actions()

    result = reconciler(env).reconcile(key("machine-0"))

    assert result.requeue_after == MEDIUM_RETRY
    assert env.control.actions_for(Verb.PATCH, reads=False) == []


def test_created_vm_without_node_name_is_an_internal_error() -> None:
    env = env_with_class()
    env.context.driver = _driver_naming_nodes(env, "")
    seed_machine(env)

    result = reconciler(env).reconcile(key("machine-0"))

    assert result.requeue_after == MEDIUM_RETRY
    assert stored_machine(env).spec.provider_id == ""


def test_infra_only_creation_ends_available_with_addresses() -> None:
    env = env_with_class(target=False)
    seed_machine(env)
    rec = reconciler(env)

    first = rec.reconcile(key("machine-0"))
    after_first = stored_machine(env)
    second = rec.reconcile(key("machine-0"))
    after_second = stored_machine(env)
    third = rec.reconcile(key("machine-0"))

    assert first.requeue_after == SHORT_RETRY
    assert "node" not in after_first.metadata.labels
    assert [a.to_dict() for a in after_first.status.addresses] == [
        {"type": "Hostname", "address": "machine-0"},
        {"type": "InternalIP", "address": "10.0.0.1"},
    ]
    assert second.requeue_after == SHORT_RETRY
    assert after_second.phase is MachinePhase.AVAILABLE
    assert after_second.status.last_operation.description == "Created machine on cloud provider"
    assert after_second.status.last_operation.state is MachineState.SUCCESSFUL
    assert after_second.status.current_status.timeout_active is False
    assert third.requeue_after == LONG_RETRY
    assert stored_machine(env).metadata.resource_version == after_second.metadata.resource_version


def test_pending_creations_holds_the_machine_only_during_the_flow() -> None:
    env = env_with_class()
    seed_machine(env)
    seen = []
    original = env.driver.create_machine

    def spying_create(request: CreateMachineRequest) -> CreateMachineResponse:
        seen.append(key("machine-0") in env.context.pending_creations)
        return original(request)

    env.driver.create_machine = spying_create  # type: ignore[method-assign]

    reconciler(env).reconcile(key("machine-0"))

    assert seen == [True]
    assert key("machine-0") not in env.context.pending_creations


def test_create_duration_metric_is_set_for_a_machine_of_a_deployment() -> None:
    registry = CollectorRegistry()
    env = env_with_class()
    seed_machine(env, labels={"name": "md-1"}, created=90)
    rec = reconciler(env, metrics=MachineMetrics(registry))

    rec.reconcile(key("machine-0"))

    labels = {
        "namespace": NAMESPACE,
        "machine_deployment": "md-1",
        "instance_type": "",
        "zone": "",
    }
    assert registry.get_sample_value("mcm_machine_create_duration_seconds", labels) == 90.0


# --------------------------------------------------------------------------------- user data


def _sent_user_data(env: ControllerEnv) -> str:
    driver = env.context.driver
    assert isinstance(driver, FakeDriver)
    request = next(c.request for c in driver.calls if c.method == "create_machine")
    assert isinstance(request, CreateMachineRequest)
    return request.secret.data["userData"].decode()


def _token_secret(env: ControllerEnv, machine_name: str = "machine-0") -> Secret:
    assert env.target is not None
    raw = target(env).stored(
        resources.SECRETS, bootstrap_token_secret_name(machine_name), namespace="kube-system"
    )
    assert raw is not None
    return Secret.from_dict(raw)


def test_bootstrap_token_is_generated_and_replaces_the_placeholder() -> None:
    env = env_with_class(bootstrap_token_auth_extra_groups="system:bootstrappers:extra")
    seed_machine(env)

    reconciler(env).reconcile(key("machine-0"))

    token = _token_secret(env)
    token_id = token.data["token-id"].decode()
    token_value = token.data["token-secret"].decode()
    assert token.type == "bootstrap.kubernetes.io/token"
    assert token_id == bootstrap_token_id("machine-0")
    assert len(token_value) == 16
    assert token.data["usage-bootstrap-authentication"] == b"true"
    assert token.data["usage-bootstrap-signing"] == b"true"
    assert token.data["auth-extra-groups"] == b"system:bootstrappers:extra"
    assert token.data["expiration"] == b"2023-11-14T22:33:20Z"
    assert token.data["description"] == (
        b'A bootstrap token for machine "machine-0" generated by MachineControllerManager.'
    )
    assert _sent_user_data(env) == (
        f"#!/bin/bash\ntoken={token_id}.{token_value}\nname=machine-0\n"
    )


def test_bootstrap_token_is_reused_on_the_next_pass() -> None:
    env = env_with_class()
    seed_machine(env)
    env.driver.fail_next("create_machine", Code.UNAVAILABLE, "try later")
    rec = reconciler(env)
    rec.reconcile(key("machine-0"))
    first = _token_secret(env).data["token-secret"]

    rec.reconcile(key("machine-0"))

    assert _token_secret(env).data["token-secret"] == first
    assert first.decode() in _sent_user_data(env)


def test_url_escaped_placeholders_are_replaced_with_escaped_values() -> None:
    escaped = urllib.parse.quote_plus
    env = env_with_class(
        secret_body=secret(
            userData=f"t={escaped('<<BOOTSTRAP_TOKEN>>')}&n={escaped('<<MACHINE_NAME>>')}"
        )
    )
    seed_machine(env)

    reconciler(env).reconcile(key("machine-0"))

    token = _token_secret(env)
    expected_token = f"{token.data['token-id'].decode()}.{token.data['token-secret'].decode()}"
    assert _sent_user_data(env) == f"t={escaped(expected_token)}&n=machine-0"


def test_user_data_without_placeholders_is_sent_unchanged() -> None:
    env = env_with_class(secret_body=secret(userData="#cloud-config\n"))
    seed_machine(env)

    reconciler(env).reconcile(key("machine-0"))

    assert _sent_user_data(env) == "#cloud-config\n"


def test_missing_user_data_is_an_error_and_no_vm_is_created() -> None:
    env = env_with_class(secret_body=secret(other="x"))
    seed_machine(env)

    result = reconciler(env).reconcile(key("machine-0"))

    assert result.requeue_after == SHORT_RETRY
    assert env.driver.calls == ()


def test_without_target_no_token_is_made_and_its_placeholder_stays() -> None:
    env = env_with_class(target=False)
    seed_machine(env)

    reconciler(env).reconcile(key("machine-0"))

    assert _sent_user_data(env) == "#!/bin/bash\ntoken=<<BOOTSTRAP_TOKEN>>\nname=machine-0\n"


def test_token_ids_are_six_hex_digits_for_any_name() -> None:
    assert bootstrap_token_id("ab") == hashlib.sha256(b"ab").hexdigest()[:6]
    assert re.fullmatch(r"[0-9a-f]{6}", bootstrap_token_id("machine-0"))


def test_machines_of_one_set_get_distinct_token_ids() -> None:
    names = [f"web-6d4f8-{suffix:05x}" for suffix in range(200)]

    assert len({bootstrap_token_id(name) for name in names}) == len(names)


def test_secrets_never_reach_the_machine_status_events_or_logs(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    env = env_with_class()
    seed_machine(env)
    env.driver.fail_next("initialize_machine", Code.INTERNAL, "boom")

    reconciler(env).reconcile(key("machine-0"))

    token = _token_secret(env).data["token-secret"].decode()
    stored = env.control.stored(resources.MACHINES, "machine-0", namespace=NAMESPACE)
    assert token not in str(stored)
    assert all(token not in event.message for event in env.recorder.events)
    assert token not in caplog.text
