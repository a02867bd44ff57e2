"""``fake-machine-controller``: a provider's machine controller, with the in-memory fake cloud.

This is the worked example of ``docs/writing-a-provider.md``: a provider binary is a click command
that takes upstream's flags (`mcm.cli.machine_controller_options`), builds its `mcm.driver.Driver`
and hands both to `mcm.app.run_machine_controller`. Here the driver is
`mcm.driver.fake.FakeDriver`, whose VMs live in the process's memory, so the binary runs against
any cluster with the machine CRDs installed and creates nothing outside it.

Fake VMs never boot, so nothing would register their Nodes and Machines would stay Pending.
``--simulate-kubelets`` plays the kubelets (`mcm.testing.kubelet.KubeletSimulator` over
`mcm.testing.vm_sources.FakeDriverVMSource`): every fake VM joins the target cluster as a Ready
Node, pods bound to those Nodes run, and PodDisruptionBudget status is kept current. It is meant
for a throwaway cluster (``mcm.testing.envtest`` or kind); on a cluster with real kubelets it
would fight them.

A failure to start (invalid flags, unusable kubeconfig, no machine CRDs) or the loss of the leader
lease exits with status 1 and a message.
"""

from __future__ import annotations

import logging
import threading

import click

from mcm.app import (
    LeadershipLostError,
    StartupError,
    install_signal_handlers,
    run_machine_controller,
)
from mcm.cli import configure_logging, machine_controller_options
from mcm.driver.fake import FakeDriver
from mcm.kube.client import client_from_flag
from mcm.kube.config import ConfigError
from mcm.options import MachineControllerOptions
from mcm.testing.kubelet import KubeletSimulator
from mcm.testing.vm_sources import FakeDriverVMSource

__all__ = ["main"]

logger = logging.getLogger(__name__)

KUBELET_POLL_INTERVAL = 1.0
"""How often the simulated kubelets look for new or deleted fake VMs."""


@click.command("fake-machine-controller")
@machine_controller_options
@click.option(
    "--simulate-kubelets",
    is_flag=True,
    help="Register a Ready Node in the target cluster for every fake VM (throwaway clusters only).",
)
def main(options: MachineControllerOptions, simulate_kubelets: bool) -> None:
    """Run the machine controller with an in-memory fake cloud provider."""
    configure_logging(options.logging)
    if simulate_kubelets and not options.has_target_cluster:
        raise click.UsageError("--simulate-kubelets needs a target cluster")
    driver = FakeDriver()
    stop = threading.Event()
    restore = install_signal_handlers(stop)
    kubelets: threading.Thread | None = None
    try:
        if simulate_kubelets:
            kubelets = _start_kubelets(driver, options, stop)
        run_machine_controller(driver, options, stop=stop)
    except (StartupError, ConfigError, LeadershipLostError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        stop.set()
        if kubelets is not None:
            kubelets.join()
        restore()


def _start_kubelets(
    driver: FakeDriver, options: MachineControllerOptions, stop: threading.Event
) -> threading.Thread:
    target = client_from_flag(
        options.target_kubeconfig, qps=options.kube_api_qps, burst=options.kube_api_burst
    )
    simulator = KubeletSimulator(
        target, FakeDriverVMSource(driver), poll_interval=KUBELET_POLL_INTERVAL
    )
    thread = threading.Thread(target=simulator.run, args=(stop,), name="kubelets", daemon=True)
    thread.start()
    logger.info("simulating the kubelets of the fake VMs in %s", target.host)
    return thread
