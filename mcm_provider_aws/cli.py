"""``machine-controller``: the machine controller with the AWS driver, as one click command.

The command takes every flag of upstream's provider ``machine-controller``
(`mcm.cli.machine_controller_options`, same names and defaults) plus the AWS provider's own:

- ``--aws-endpoint-url``: where EC2 calls go. Without the flag, ``AWS_ENDPOINT_URL_EC2`` and then
  ``AWS_ENDPOINT_URL`` are read (the variables boto3 itself honours); without those, botocore
  resolves EC2's regional endpoint from the class's region. ``--aws-sts-endpoint-url`` (or
  ``AWS_ENDPOINT_URL_STS``) does the same for the STS calls of workload-identity credentials.
- Client-side throttling (`mcm_provider_aws.throttle`): ``--ec2-run-instances-rate``,
  ``--ec2-mutating-rate`` and ``--ec2-describe-rate`` shape the token buckets of RunInstances, of
  the other mutating actions and of Describe calls, each as ``<per second>:<burst>``; the defaults
  are EC2's own published buckets (2:5, 5:50, 20:100). ``--ec2-action-rates`` overrides single
  actions (``RunInstances=1:3,DescribeInstances=10:50``). ``--ec2-client-throttling=false`` turns
  the buckets off (EC2's throttling and botocore's retries remain).
- ``--ec2-max-attempts``: attempts per EC2 call in all, botocore's standard retry mode (3, the Go
  SDK's default that upstream relies on).

The flags build one `mcm_provider_aws.driver.AWSDriver`, and `mcm.app.run_machine_controller`
runs the controller with it until SIGTERM or SIGINT (an orderly shutdown, exit status 0). Invalid
flags are a usage error (exit status 2); a failure to start (unusable kubeconfig, no machine CRDs)
or the loss of the leader lease exits with status 1 and a message.

Run it as the console script ``machine-controller``, as ``python -m mcm_provider_aws.cli``, or
through the launcher ``cmd/machine-controller/main.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import click

from mcm.app import LeadershipLostError, StartupError, run_machine_controller
from mcm.cli import configure_logging, machine_controller_options
from mcm.kube.config import ConfigError
from mcm.options import MachineControllerOptions
from mcm_provider_aws.driver import AWSDriver
from mcm_provider_aws.ec2 import DEFAULT_MAX_ATTEMPTS
from mcm_provider_aws.throttle import (
    DEFAULT_DESCRIBE_RATE,
    DEFAULT_MUTATING_RATE,
    DEFAULT_RUN_INSTANCES_RATE,
    Rate,
    Throttle,
    parse_action_rates,
    parse_rate,
)

__all__ = [
    "ACTION_RATES",
    "RATE",
    "ActionRates",
    "RateType",
    "build_throttle",
    "describe_throttle",
    "main",
]

logger = logging.getLogger(__name__)

ENDPOINT_ENV_VARS = ("AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL")
STS_ENDPOINT_ENV_VARS = ("AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL")


class RateType(click.ParamType[Rate, Any]):
    """``<per second>:<burst>`` as a `Rate` (``2:5``, ``0.5:1``)."""

    name = "rate"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Rate:
        if isinstance(value, Rate):
            return value
        try:
            return parse_rate(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class ActionRates(click.ParamType[dict[str, Rate], Any]):
    """``Action=<per second>:<burst>,...`` as per-action `Rate` overrides."""

    name = "action=rate,..."

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> dict[str, Rate]:
        if isinstance(value, dict):
            return value
        try:
            return parse_action_rates(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


RATE = RateType()
ACTION_RATES = ActionRates()


def build_throttle(
    *,
    ec2_run_instances_rate: Rate = DEFAULT_RUN_INSTANCES_RATE,
    ec2_mutating_rate: Rate = DEFAULT_MUTATING_RATE,
    ec2_describe_rate: Rate = DEFAULT_DESCRIBE_RATE,
    ec2_action_rates: Mapping[str, Rate] | None = None,
    ec2_client_throttling: bool = True,
) -> Throttle:
    """The client-side `Throttle` the throttling flags (click's parameter names) describe."""
    return Throttle(
        enabled=ec2_client_throttling,
        run_instances=ec2_run_instances_rate,
        mutating=ec2_mutating_rate,
        describe=ec2_describe_rate,
        actions=ec2_action_rates or {},
    )


def describe_throttle(throttle: Throttle) -> str:
    """One line for the log: the buckets, or ``off``."""
    if not throttle.enabled:
        return "off"
    overrides = "".join(f", {action} {rate}" for action, rate in sorted(throttle.actions.items()))
    return (
        f"RunInstances {throttle.run_instances}, mutating {throttle.mutating},"
        f" describe {throttle.describe}{overrides}"
    )


@click.command("machine-controller")
@machine_controller_options
@click.option(
    "--aws-endpoint-url",
    envvar=list(ENDPOINT_ENV_VARS),
    show_envvar=True,
    default=None,
    help="EC2 endpoint URL (a local EC2 double, a VPC endpoint); default: the region's.",
)
@click.option(
    "--aws-sts-endpoint-url",
    envvar=list(STS_ENDPOINT_ENV_VARS),
    show_envvar=True,
    default=None,
    help="STS endpoint URL for workload-identity credentials; default: the region's.",
)
@click.option(
    "--ec2-run-instances-rate",
    type=RATE,
    default=str(DEFAULT_RUN_INSTANCES_RATE),
    show_default=True,
    help="Client-side token bucket of RunInstances, as <per second>:<burst>.",
)
@click.option(
    "--ec2-mutating-rate",
    type=RATE,
    default=str(DEFAULT_MUTATING_RATE),
    show_default=True,
    help="Token bucket of each other mutating EC2 action (TerminateInstances ...).",
)
@click.option(
    "--ec2-describe-rate",
    type=RATE,
    default=str(DEFAULT_DESCRIBE_RATE),
    show_default=True,
    help="Token bucket of each Describe/Get/List EC2 action.",
)
@click.option(
    "--ec2-action-rates",
    type=ACTION_RATES,
    default="",
    help="Per-action buckets that override the above: Action=<per second>:<burst>,...",
)
@click.option(
    "--ec2-client-throttling",
    type=click.BOOL,
    is_flag=False,
    flag_value=True,
    default=True,
    show_default="true",
    metavar="[=BOOL]",
    help="Space EC2 calls with the token buckets above; false leaves it to EC2 and retries.",
)
@click.option(
    "--ec2-max-attempts",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_ATTEMPTS,
    show_default=True,
    help="Attempts per EC2 call in all (retries of throttling, 5xx and connection errors).",
)
def main(
    options: MachineControllerOptions,
    aws_endpoint_url: str | None,
    aws_sts_endpoint_url: str | None,
    ec2_max_attempts: int,
    **throttle_flags: Any,
) -> None:
    """Run the machine controller with the AWS (EC2) provider."""
    configure_logging(options.logging)
    throttle = build_throttle(**throttle_flags)
    driver = AWSDriver(
        endpoint_url=aws_endpoint_url or None,
        sts_endpoint_url=aws_sts_endpoint_url or None,
        throttle=throttle,
        max_attempts=ec2_max_attempts,
    )
    logger.info(
        "AWS provider: EC2 endpoint %s; client-side throttling: %s; %d attempts per EC2 call",
        aws_endpoint_url or "of each class's region",
        describe_throttle(throttle),
        ec2_max_attempts,
    )
    try:
        run_machine_controller(driver, options)
    except (StartupError, ConfigError, LeadershipLostError) as exc:
        raise click.ClickException(str(exc)) from None


if __name__ == "__main__":
    main()
