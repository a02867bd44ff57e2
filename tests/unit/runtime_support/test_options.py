"""The settings objects and the flags that build them: upstream's names, defaults and checks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import click
import pytest
from click.testing import CliRunner

from mcm.cli import (
    build_machine_controller_manager_options,
    build_machine_controller_options,
    configure_logging,
    machine_controller_manager_options,
    machine_controller_options,
)
from mcm.options import (
    LoggingOptions,
    MachineControllerManagerOptions,
    MachineControllerOptions,
    verbosity_level,
)

MINUTE, HOUR = 60.0, 3600.0


def capture(decorator: Callable[..., Any]) -> tuple[click.Command, list[Any]]:
    """A command using *decorator* that records the options it receives (and a provider flag)."""
    received: list[Any] = []

    @click.command()
    @decorator
    @click.option("--provider-flag", default="unset")
    def command(options: Any, provider_flag: str) -> None:
        received.append((options, provider_flag))

    return command, received


def parse_mc(*args: str) -> MachineControllerOptions:
    command, received = capture(machine_controller_options)
    result = CliRunner().invoke(command, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    options: MachineControllerOptions = received[0][0]
    return options


def parse_mcm(*args: str) -> MachineControllerManagerOptions:
    command, received = capture(machine_controller_manager_options)
    result = CliRunner().invoke(command, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    options: MachineControllerManagerOptions = received[0][0]
    return options


def refused(decorator: Any, *args: str) -> str:
    """The error output of a command line the command refuses (exit code 2)."""
    command, received = capture(decorator)
    result = CliRunner().invoke(command, list(args))
    assert result.exit_code == 2, result.output
    assert received == []
    return result.output


def attribute(options: Any, path: str) -> Any:
    for part in path.split("."):
        options = getattr(options, part)
    return options


# --- defaults: upstream's table, flag by flag -----------------------------------------------------

MACHINE_CONTROLLER_DEFAULTS = [
    ("--port", "port", 10259),
    ("--address", "address", "0.0.0.0"),  # noqa: S104
    ("--cloud-provider", "cloud_provider", ""),
    ("--concurrent-syncs", "concurrent_syncs", 50),
    ("--min-resync-period", "min_resync_period", 12 * HOUR),
    ("--profiling", "profiling", False),
    ("--contention-profiling", "contention_profiling", False),
    ("--target-kubeconfig", "target_kubeconfig", ""),
    ("--control-kubeconfig", "control_kubeconfig", ""),
    ("--namespace", "namespace", "default"),
    ("--kube-api-content-type", "kube_api_content_type", "application/vnd.kubernetes.protobuf"),
    ("--kube-api-qps", "kube_api_qps", 20.0),
    ("--kube-api-burst", "kube_api_burst", 30),
    ("--controller-start-interval", "controller_start_interval", 0.0),
    ("--machine-creation-timeout", "machine_creation_timeout", 20 * MINUTE),
    ("--machine-health-timeout", "machine_health_timeout", 10 * MINUTE),
    ("--machine-drain-timeout", "machine_drain_timeout", 2 * HOUR),
    ("--machine-inplace-update-timeout", "machine_inplace_update_timeout", 20 * MINUTE),
    ("--machine-max-evict-retries", "machine_max_evict_retries", 360),
    ("--machine-pv-detach-timeout", "machine_pv_detach_timeout", 2 * MINUTE),
    ("--machine-pv-reattach-timeout", "machine_pv_reattach_timeout", 90.0),
    (
        "--machine-safety-apiserver-statuscheck-timeout",
        "machine_safety_apiserver_statuscheck_timeout",
        30.0,
    ),
    (
        "--machine-safety-apiserver-statuscheck-period",
        "machine_safety_apiserver_statuscheck_period",
        1 * MINUTE,
    ),
    ("--machine-safety-orphan-vms-period", "machine_safety_orphan_vms_period", 15 * MINUTE),
    ("--machine-preserve-timeout", "machine_preserve_timeout", 96 * HOUR),
    (
        "--node-conditions",
        "node_conditions",
        ("KernelDeadlock", "ReadonlyFilesystem", "DiskPressure", "NetworkUnavailable"),
    ),
    ("--bootstrap-token-auth-extra-groups", "bootstrap_token_auth_extra_groups", ""),
    ("--resource-exhausted-retry", "resource_exhausted_retry", 10 * MINUTE),
    ("--leader-elect", "leader_election.leader_elect", True),
    ("--leader-elect-lease-duration", "leader_election.lease_duration", 15.0),
    ("--leader-elect-renew-deadline", "leader_election.renew_deadline", 10.0),
    ("--leader-elect-retry-period", "leader_election.retry_period", 2.0),
    ("--leader-elect-resource-lock", "leader_election.resource_lock", "leases"),
    ("(lock name)", "leader_election.resource_name", "machine-controller"),
    ("--v", "logging.verbosity", 0),
    ("--vmodule", "logging.vmodule", ()),
    ("--log-flush-frequency", "logging.log_flush_frequency", 5.0),
]

MACHINE_CONTROLLER_MANAGER_DEFAULTS = [
    ("--port", "port", 10258),
    ("--address", "address", "0.0.0.0"),  # noqa: S104
    ("--cloud-provider", "cloud_provider", ""),
    ("--concurrent-syncs", "concurrent_syncs", 10),
    ("--min-resync-period", "min_resync_period", 12 * HOUR),
    ("--profiling", "profiling", False),
    ("--contention-profiling", "contention_profiling", False),
    ("--target-kubeconfig", "target_kubeconfig", ""),
    ("--control-kubeconfig", "control_kubeconfig", ""),
    ("--namespace", "namespace", "default"),
    ("--kube-api-content-type", "kube_api_content_type", "application/vnd.kubernetes.protobuf"),
    ("--kube-api-qps", "kube_api_qps", 20.0),
    ("--kube-api-burst", "kube_api_burst", 30),
    ("--controller-start-interval", "controller_start_interval", 0.0),
    ("--safety-up", "safety_up", 2),
    ("--safety-down", "safety_down", 1),
    ("--machine-safety-overshooting-period", "machine_safety_overshooting_period", 1 * MINUTE),
    (
        "--autoscaler-scaledown-annotation-during-rollout",
        "autoscaler_scaledown_annotation_during_rollout",
        True,
    ),
    ("--leader-elect", "leader_election.leader_elect", True),
    ("--leader-elect-lease-duration", "leader_election.lease_duration", 15.0),
    ("--leader-elect-renew-deadline", "leader_election.renew_deadline", 10.0),
    ("--leader-elect-retry-period", "leader_election.retry_period", 2.0),
    ("--leader-elect-resource-lock", "leader_election.resource_lock", "leases"),
    ("(lock name)", "leader_election.resource_name", "machine-controller-manager"),
    ("--v", "logging.verbosity", 0),
]


@pytest.mark.parametrize(
    ("path", "expected"),
    [pytest.param(path, expected, id=flag) for flag, path, expected in MACHINE_CONTROLLER_DEFAULTS],
)
def test_machine_controller_flags_default_to_upstreams_values(path, expected):
    options = parse_mc()

    assert attribute(options, path) == expected
    assert attribute(MachineControllerOptions(), path) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param(path, expected, id=flag)
        for flag, path, expected in MACHINE_CONTROLLER_MANAGER_DEFAULTS
    ],
)
def test_machine_controller_manager_flags_default_to_upstreams_values(path, expected):
    options = parse_mcm()

    assert attribute(options, path) == expected
    assert attribute(MachineControllerManagerOptions(), path) == expected


def test_every_flag_in_the_help_is_in_the_defaults_table():
    command, _ = capture(machine_controller_options)
    flags = {opt for param in command.params for opt in param.opts if opt.startswith("--")} - {
        "--provider-flag"
    }

    assert flags == {flag for flag, _, _ in MACHINE_CONTROLLER_DEFAULTS if flag.startswith("--")}


def test_no_flags_build_the_default_options():
    assert parse_mc() == MachineControllerOptions()
    assert parse_mcm() == MachineControllerManagerOptions()


def test_the_providers_own_flags_pass_through():
    command, received = capture(machine_controller_options)

    CliRunner().invoke(command, ["--provider-flag=aws", "--namespace=shoot--x"])

    options, provider_flag = received[0]
    assert provider_flag == "aws"
    assert options.namespace == "shoot--x"


# --- durations ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("90s", 90.0, id="seconds"),
        pytest.param("20m", 20 * MINUTE, id="minutes"),
        pytest.param("2h", 2 * HOUR, id="hours"),
        pytest.param("1h30m", 90 * MINUTE, id="compound"),
        pytest.param("1.5h", 90 * MINUTE, id="fraction"),
        pytest.param("500ms", 0.5, id="milliseconds"),
        pytest.param("0", 0.0, id="bare-zero"),
    ],
)
def test_durations_take_go_syntax(text, seconds):
    options = parse_mc(f"--machine-drain-timeout={text}")

    assert options.machine_drain_timeout == seconds


def test_a_duration_may_follow_its_flag_as_a_separate_argument():
    assert parse_mc("--leader-elect-retry-period", "3s").leader_election.retry_period == 3.0


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("20", id="no-unit"),
        pytest.param("20 minutes", id="words"),
        pytest.param("1x", id="unknown-unit"),
        pytest.param("", id="empty"),
        pytest.param("PT20M", id="iso-8601"),
    ],
)
def test_a_bad_duration_is_a_usage_error_naming_the_flag(text):
    output = refused(machine_controller_options, f"--machine-creation-timeout={text}")

    assert "--machine-creation-timeout" in output
    assert "not a duration" in output


def test_a_negative_duration_is_refused_by_validation():
    output = refused(machine_controller_options, "--machine-health-timeout=-1m")

    assert "machine health timeout should be a non-negative value" in output


# --- booleans -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param([], True, id="default"),
        pytest.param(["--leader-elect"], True, id="bare-flag"),
        pytest.param(["--leader-elect=true"], True, id="equals-true"),
        pytest.param(["--leader-elect=false"], False, id="equals-false"),
        pytest.param(["--leader-elect=False"], False, id="equals-False"),
        pytest.param(["--leader-elect=0"], False, id="equals-0"),
        pytest.param(["--leader-elect=f"], False, id="equals-f"),
        pytest.param(["--leader-elect", "--namespace=x"], True, id="bare-flag-before-another"),
    ],
)
def test_bool_flags_parse_the_go_way(args, expected):
    assert parse_mc(*args).leader_election.leader_elect is expected


def test_a_bare_bool_flag_defaulting_to_false_turns_it_on():
    options = parse_mc("--profiling", "--contention-profiling")

    assert (options.profiling, options.contention_profiling) == (True, True)


def test_a_manager_bool_flag_can_be_turned_off():
    options = parse_mcm("--autoscaler-scaledown-annotation-during-rollout=false")

    assert options.autoscaler_scaledown_annotation_during_rollout is False


def test_a_bad_bool_value_is_a_usage_error():
    output = refused(machine_controller_options, "--leader-elect=maybe")

    assert "--leader-elect" in output


# --- other parsing and validation -----------------------------------------------------------------


def test_an_unknown_flag_is_an_error():
    output = refused(machine_controller_options, "--machine-creation-timout=20m")

    assert "No such option" in output
    assert "--machine-creation-timout" in output


def test_node_conditions_are_split_on_commas():
    options = parse_mc("--node-conditions=ReadonlyFilesystem, KernelDeadlock,")

    assert options.node_conditions == ("ReadonlyFilesystem", "KernelDeadlock")


def test_an_address_that_is_not_an_ip_is_refused():
    output = refused(machine_controller_options, "--address=localhost")

    assert "--address" in output


def test_validation_reports_every_problem_at_once():
    output = refused(
        machine_controller_options,
        "--port=0",
        "--concurrent-syncs=0",
        "--kube-api-qps=0",
        "--kube-api-burst=-1",
        "--contention-profiling",
    )

    assert "invalid port number provided: got 0" in output
    assert "concurrent syncs should be greater than zero" in output
    assert "kube api qps should be greater than zero" in output
    assert "kube api burst should not be a negative value" in output
    assert "contention-profiling cannot be enabled without enabling profiling" in output


def test_the_statuscheck_period_may_not_be_shorter_than_its_timeout():
    output = refused(
        machine_controller_options,
        "--machine-safety-apiserver-statuscheck-timeout=2m",
        "--machine-safety-apiserver-statuscheck-period=1m",
    )

    assert "status check period should not be less than" in output


def test_no_target_cluster_needs_a_control_kubeconfig():
    output = refused(machine_controller_options, "--target-kubeconfig=none")

    assert "--control-kubeconfig cannot be empty" in output


def test_no_target_cluster_with_a_control_kubeconfig_is_machines_only():
    options = parse_mc("--target-kubeconfig=none", "--control-kubeconfig=/etc/control.yaml")

    assert not options.has_target_cluster
    assert options.effective_control_kubeconfig == "/etc/control.yaml"


def test_the_leader_lease_lives_in_the_control_namespace():
    options = parse_mc("--namespace=shoot--a--b")

    assert options.lease_namespace == "shoot--a--b"
    assert options.leader_election.resource_name == "machine-controller"


def test_an_empty_control_kubeconfig_means_the_targets():
    options = parse_mc("--target-kubeconfig=/etc/target.yaml")

    assert options.has_target_cluster
    assert options.effective_control_kubeconfig == "/etc/target.yaml"


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--leader-elect-resource-lock=endpoints"], id="removed-lock-kind"),
        pytest.param(["--leader-elect-renew-deadline=20s"], id="deadline-beyond-lease"),
        pytest.param(["--leader-elect-retry-period=9s"], id="retry-too-close-to-deadline"),
    ],
)
def test_leader_election_settings_client_go_would_refuse_are_refused(args):
    output = refused(machine_controller_options, *args)

    assert "leader election" in output


def test_leader_election_settings_are_not_checked_when_not_electing():
    options = parse_mc("--leader-elect=false", "--leader-elect-resource-lock=endpoints")

    assert options.leader_election.leader_elect is False


def test_manager_validation_checks_its_own_flags():
    output = refused(machine_controller_manager_options, "--safety-up=-1", "--safety-down=-2")

    assert "safety up should be a non negative value" in output
    assert "safety down should be a non negative value" in output


def test_building_from_some_values_keeps_the_other_defaults():
    options = build_machine_controller_options(port=1234, leader_elect=False, v=3)

    assert options == attrs.evolve(
        MachineControllerOptions(),
        port=1234,
        leader_election=attrs.evolve(
            MachineControllerOptions().leader_election, leader_elect=False
        ),
        logging=LoggingOptions(verbosity=3),
    )


def test_building_invalid_values_raises_a_usage_error():
    with pytest.raises(click.UsageError, match="invalid port"):
        build_machine_controller_manager_options(port=70000)


def test_options_are_frozen():
    options = MachineControllerOptions()

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        options.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("retry", "effective"),
    [pytest.param(0.0, 10 * MINUTE, id="zero-means-default"), pytest.param(30.0, 30.0, id="set")],
)
def test_a_zero_resource_exhausted_retry_means_the_long_retry(retry, effective):
    options = parse_mc(f"--resource-exhausted-retry={retry}s")

    assert options.effective_resource_exhausted_retry == effective


def test_the_content_type_must_look_like_a_media_type():
    output = refused(machine_controller_options, "--kube-api-content-type=json")

    assert "kube api content type cannot be parsed" in output
    assert parse_mc("--kube-api-content-type=application/json; charset=utf-8")


# --- logging --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verbosity", "level"),
    [
        pytest.param(0, logging.INFO, id="0-info"),
        pytest.param(2, logging.INFO - 2, id="2-just-below-info"),
        pytest.param(4, logging.DEBUG, id="4-debug"),
        pytest.param(6, logging.DEBUG - 2, id="6-below-debug"),
        pytest.param(50, 1, id="never-notset"),
    ],
)
def test_verbosity_maps_onto_logging_levels(verbosity, level):
    assert verbosity_level(verbosity) == level


@pytest.mark.parametrize(
    "args", [pytest.param(["--v=4"], id="long"), pytest.param(["-v", "4"], id="short")]
)
def test_the_v_flag_sets_the_verbosity(args):
    assert parse_mc(*args).logging.level == logging.DEBUG


def test_vmodule_parses_logger_levels():
    options = parse_mc("--vmodule=mcm.cache=5,mcm.kube=0")

    assert options.logging.vmodule == (("mcm.cache", 5), ("mcm.kube", 0))


def test_a_malformed_vmodule_is_refused():
    output = refused(machine_controller_options, "--vmodule=mcm.cache")

    assert "--vmodule" in output


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.level, list(root.handlers), logging.getLogger("mcm.cache").level)
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    logging.getLogger("mcm.cache").setLevel(saved[2])


def test_configure_logging_applies_the_verbosity_and_vmodule(restore_logging):
    configure_logging(LoggingOptions(verbosity=2, vmodule=(("mcm.cache", 4),)))

    assert logging.getLogger().level == logging.INFO - 2
    assert logging.getLogger("mcm.cache").level == logging.DEBUG
