"""The ``machine-controller`` command: upstream's flags plus the AWS provider's, into the driver.

The command runs with `run_machine_controller` and `AWSDriver` replaced by recorders, so these
tests see exactly what the flags turn into and start nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from mcm.app import LeadershipLostError, StartupError
from mcm.options import MachineControllerOptions
from mcm_provider_aws import cli
from mcm_provider_aws.throttle import Rate, Throttle

REPO = Path(__file__).resolve().parents[3]
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS")


class Recorded:
    """What the command handed on: the driver's keyword arguments and the options."""

    def __init__(self) -> None:
        self.driver_kwargs: dict[str, Any] = {}
        self.options: MachineControllerOptions | None = None
        self.failure: BaseException | None = None


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Recorded:
    record = Recorded()
    for variable in ENDPOINT_VARIABLES:
        monkeypatch.delenv(variable, raising=False)

    def driver(**kwargs: Any) -> str:
        record.driver_kwargs = kwargs
        return "the driver"

    def run(driver: Any, options: MachineControllerOptions, **kwargs: Any) -> None:
        assert driver == "the driver"
        assert kwargs == {}  # no stop event: the app handles SIGTERM and SIGINT itself
        record.options = options
        if record.failure is not None:
            raise record.failure

    monkeypatch.setattr(cli, "AWSDriver", driver)
    monkeypatch.setattr(cli, "run_machine_controller", run)
    monkeypatch.setattr(cli, "configure_logging", lambda options: None)
    return record


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli.main, list(args), env=env, catch_exceptions=False)


def test_without_provider_flags_the_driver_gets_ec2s_buckets_three_attempts_and_no_endpoint(
    recorded,
):
    result = invoke()

    assert result.exit_code == 0, result.output
    assert recorded.driver_kwargs == {
        "endpoint_url": None,
        "sts_endpoint_url": None,
        "throttle": Throttle(),
        "max_attempts": 3,
    }
    assert recorded.driver_kwargs["throttle"].run_instances == Rate(2.0, 5)
    assert recorded.driver_kwargs["throttle"].mutating == Rate(5.0, 50)
    assert recorded.driver_kwargs["throttle"].describe == Rate(20.0, 100)


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        pytest.param((), {"AWS_ENDPOINT_URL": "http://any:1"}, "http://any:1", id="generic-var"),
        pytest.param(
            (),
            {"AWS_ENDPOINT_URL": "http://any:1", "AWS_ENDPOINT_URL_EC2": "http://ec2:2"},
            "http://ec2:2",
            id="ec2-var-wins",
        ),
        pytest.param(
            ("--aws-endpoint-url", "http://flag:3"),
            {"AWS_ENDPOINT_URL_EC2": "http://ec2:2"},
            "http://flag:3",
            id="flag-wins",
        ),
    ],
)
def test_the_ec2_endpoint_comes_from_the_flag_else_the_ec2_variable_else_the_generic_one(
    recorded, args, env, expected
):
    result = invoke(*args, env=env)

    assert result.exit_code == 0, result.output
    assert recorded.driver_kwargs["endpoint_url"] == expected


def test_the_sts_endpoint_comes_from_its_own_flag_or_variable(recorded):
    result = invoke(env={"AWS_ENDPOINT_URL_STS": "http://sts:4"})

    assert result.exit_code == 0, result.output
    assert recorded.driver_kwargs["sts_endpoint_url"] == "http://sts:4"
    assert recorded.driver_kwargs["endpoint_url"] is None


def test_throttle_flags_shape_the_buckets_and_per_action_overrides(recorded):
    result = invoke(
        "--ec2-run-instances-rate",
        "1:3",
        "--ec2-mutating-rate=4:40",
        "--ec2-describe-rate",
        "10:50",
        "--ec2-action-rates",
        "RunInstances=0.5:1,DescribeInstances=5:10",
        "--ec2-max-attempts",
        "5",
    )

    assert result.exit_code == 0, result.output
    throttle = recorded.driver_kwargs["throttle"]
    assert throttle == Throttle(
        run_instances=Rate(1.0, 3),
        mutating=Rate(4.0, 40),
        describe=Rate(10.0, 50),
        actions={"RunInstances": Rate(0.5, 1), "DescribeInstances": Rate(5.0, 10)},
    )
    assert throttle.rate_for("RunInstances") == Rate(0.5, 1)
    assert throttle.rate_for("TerminateInstances") == Rate(4.0, 40)
    assert recorded.driver_kwargs["max_attempts"] == 5


@pytest.mark.parametrize(
    ("args", "enabled"),
    [
        pytest.param(("--ec2-client-throttling=false",), False, id="false"),
        pytest.param(("--ec2-client-throttling=0",), False, id="zero"),
        pytest.param(("--ec2-client-throttling",), True, id="bare"),
        pytest.param(("--ec2-client-throttling=true",), True, id="true"),
    ],
)
def test_client_throttling_is_a_pflag_style_boolean(recorded, args, enabled):
    result = invoke(*args)

    assert result.exit_code == 0, result.output
    assert recorded.driver_kwargs["throttle"].enabled is enabled
    assert (recorded.driver_kwargs["throttle"].rate_for("RunInstances") is None) is not enabled


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            (
                "--ec2-run-instances-rate",
                "2",
            ),
            "'--ec2-run-instances-rate'",
            id="no-burst",
        ),
        pytest.param(("--ec2-describe-rate", "0:5"), "'--ec2-describe-rate'", id="zero-rate"),
        pytest.param(("--ec2-mutating-rate", "5:0"), "'--ec2-mutating-rate'", id="zero-burst"),
        pytest.param(("--ec2-action-rates", "RunInstances"), "'--ec2-action-rates'", id="no-rate"),
        pytest.param(("--ec2-max-attempts", "0"), "'--ec2-max-attempts'", id="no-attempt"),
        pytest.param(("--ec2-client-throttling=maybe",), "'--ec2-client-throttling'", id="bool"),
    ],
)
def test_an_invalid_provider_flag_is_a_usage_error_naming_it(recorded, args, message):
    result = invoke(*args)

    assert result.exit_code == 2
    assert message in result.output
    assert recorded.options is None  # nothing ran


def test_the_machine_controller_flags_reach_the_app(recorded):
    result = invoke(
        "--namespace=shoot--dev--sample",
        "--control-kubeconfig=/control",
        "--target-kubeconfig=/target",
        "--resource-exhausted-retry=2s",
        "--machine-creation-timeout=20m",
        "--leader-elect=false",
        "--v=3",
    )

    assert result.exit_code == 0, result.output
    options = recorded.options
    assert options is not None
    assert options.namespace == "shoot--dev--sample"
    assert (options.control_kubeconfig, options.target_kubeconfig) == ("/control", "/target")
    assert options.resource_exhausted_retry == 2.0
    assert options.machine_creation_timeout == 1200.0
    assert options.leader_election.leader_elect is False
    assert options.logging.verbosity == 3


def test_an_invalid_machine_controller_flag_is_a_usage_error(recorded):
    result = invoke("--concurrent-syncs=0")

    assert result.exit_code == 2
    assert "concurrent syncs should be greater than zero" in result.output


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(StartupError("the control cluster does not serve machines"), id="startup"),
        pytest.param(LeadershipLostError("lost the leader lease"), id="leadership"),
    ],
)
def test_a_failure_to_start_or_to_keep_leading_exits_1_with_its_message(recorded, failure):
    recorded.failure = failure

    result = invoke()

    assert result.exit_code == 1
    assert f"Error: {failure}" in result.output


@pytest.mark.parametrize(
    "command",
    [
        pytest.param([str(REPO / "cmd" / "machine-controller" / "main.py")], id="launcher"),
        pytest.param(["-m", "mcm_provider_aws.cli"], id="module"),
    ],
)
def test_the_launcher_and_the_module_run_the_same_command(command):
    result = subprocess.run(
        [sys.executable, *command, "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=REPO,
    )

    assert result.returncode == 0, result.stderr
    assert "Run the machine controller with the AWS (EC2) provider." in result.stdout
    assert "--ec2-run-instances-rate" in result.stdout
    assert "--machine-creation-timeout" in result.stdout
