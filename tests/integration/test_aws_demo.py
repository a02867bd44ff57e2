"""``make demo`` end to end: ``hack/demo.py`` as a process, ready, then torn down with nothing left.

The demo starts a control plane of its own (etcd and kube-apiserver from ``KUBEBUILDER_ASSETS``),
moto, the kubelet simulator and the ``machine-controller`` binary. "Nothing left" is checked in
``/proc``: no process whose command line names the demo's control-plane directory (its etcd,
kube-apiserver and machine-controller do) may run after the demo ended.
"""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "hack" / "demo.py"
READY_LINE = re.compile(
    r"all (\d+) machines Running in [\d.]+s: (\d+) instances, (\d+) Ready Nodes"
)
KUBECONFIG_LINE = re.compile(r"export KUBECONFIG=(\S+)/admin\.kubeconfig")
MACHINE_ROW = re.compile(
    r"^(demo-\d+)\s+Running\s+aws:///eu-west-1/i-[0-9a-f]+\s+ip-\S+ \(Ready\)$"
)


def processes_of(workdir: str) -> set[int]:
    """Processes whose command line names *workdir*: the demo's etcd (``--data-dir``),
    kube-apiserver (``--cert-dir``) and machine-controller (``--control-kubeconfig``)."""
    found = set()
    needle = workdir.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if needle in cmdline:
            found.add(int(entry.name))
    return found


def workdir_of(output: str) -> str:
    """The demo's control-plane directory, from the ``export KUBECONFIG=`` line it prints."""
    found = KUBECONFIG_LINE.search(output)
    assert found is not None, output
    return found.group(1)


def wait_gone(workdir: str, timeout: float = 10.0) -> set[int]:
    """The demo's processes still there after at most *timeout* seconds (reaping takes a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        left = processes_of(workdir)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


@pytest.mark.timeout(120)
def test_the_demo_runs_three_machines_and_exit_when_ready_leaves_no_process(tmp_path):
    result = subprocess.run(
        [sys.executable, str(DEMO), "--exit-when-ready", f"--log-dir={tmp_path}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    ready = READY_LINE.search(result.stdout)
    assert ready is not None, output
    assert ready.groups() == ("3", "3", "3")
    rows = {m.group(1) for line in result.stdout.splitlines() if (m := MACHINE_ROW.match(line))}
    assert rows == {"demo-1", "demo-2", "demo-3"}
    assert "kubectl -n default get machines,machineclasses" in result.stdout
    assert "stopped the control plane" in result.stdout
    assert wait_gone(workdir_of(result.stdout)) == set()
    controller_log = (tmp_path / "machine-controller.log").read_text()
    assert "AWS provider: EC2 endpoint http://127.0.0.1:" in controller_log  # the front


def pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


@pytest.mark.timeout(120)
def test_ctrl_c_tears_the_running_demo_down_and_leaves_no_process(tmp_path):
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    with subprocess.Popen(
        [sys.executable, str(DEMO), "--machines=1", f"--log-dir={tmp_path}"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as demo:
        assert demo.stdout is not None
        reader = threading.Thread(target=pump, args=(demo.stdout, lines), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 90.0
            while not any("Running until Ctrl-C" in line for line in seen):
                assert time.monotonic() < deadline, "".join(seen)
                seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
            workdir = workdir_of("".join(seen))
            running = processes_of(workdir)

            demo.send_signal(signal.SIGINT)
            demo.wait(60.0)
        finally:
            if demo.poll() is None:
                demo.kill()
                demo.wait()
        reader.join(10.0)
    while not lines.empty():
        seen.append(lines.get())
    output = "".join(seen)

    assert len(running) == 3, output  # etcd, kube-apiserver and the controller ran
    assert demo.returncode == 0, output
    for component in ("machine-controller", "kubelet simulator", "EC2", "control plane"):
        assert f"stopped the {component}" in output
    assert wait_gone(workdir) == set()
