"""The creation flow: find or create the machine's VM, record it, initialize it, mark it Pending.

`CreationFlow.run` is upstream's ``triggerCreationFlow``. The machine pass calls it while the
Machine has no ``spec.providerID``, no phase, or phase CrashLoopBackOff. One pass does at most one
of these and ends, so every write is seen by the next pass:

1. Render the user data (`mcm.controller.bootstrap.render_user_data`): bootstrap token and machine
   name placeholders. No ``userData`` key, or no token: ``SHORT_RETRY``.
2. ``GetMachineStatus``. OK: adopt the VM (provider ID, node name, addresses). ``NotFound`` or
   ``Unimplemented``: create a VM if the Machine has no provider ID yet, else trust the Machine's
   provider ID and ``node`` label. ``Uninitialized``: the VM exists, initialize it. Undecodable:
   ``MEDIUM_RETRY`` with no status change. Any other code: the create-error handling below.
3. ``CreateMachine``. Failure: the create-error handling. Success: the create-duration metric,
   then the stale-node check (with a target cluster): a Node already named like the new VM's node,
   when that name is not the Machine's, means the provider reused an old name; the VM is deleted
   again and the Machine marked Failed ("VM using old node obj"). A Node whose
   ``spec.providerID`` is the one ``CreateMachine`` just returned is not stale: the new VM's
   kubelet registered it before this check ran.
4. Persist the VM's identity *at once*, before anything else can fail: ``spec.providerID``, the
   ``node`` label (with a target cluster) and the ``machinepriority.machine.sapcloud.io=3``
   annotation, as one merge patch guarded by the Machine's resourceVersion (retried once on a
   conflict against a fresh read, so a lagging cache does not lose the provider ID). A crash
   after this point cannot lead to a second VM: the next pass finds the provider ID.
5. ``InitializeMachine`` when a VM was just created or reported ``Uninitialized``.
   ``Unimplemented`` counts as success; undecodable errors: ``LONG_RETRY``; other codes: status
   "Provider error: <err>. Initialize VM Instance", phase CrashLoopBackOff (or Failed after the
   creation timeout), ``SHORT_RETRY``. Without a target cluster the addresses are persisted.
6. A machine without phase, or in CrashLoopBackOff, goes Pending (``timeoutActive``), or, without
   a target cluster, straight to Available with its addresses.

So the driver sees ``GetMachineStatus`` → ``CreateMachine`` → ``InitializeMachine`` in the first
pass, and ``GetMachineStatus`` alone in the second (which sets Pending).

**Create errors** (upstream's ``machineCreateErrorHandler``): ``lastOperation`` = "Cloud provider
message - <err>" with the code's name, state Failed, type Create; phase Failed once the creation
timeout has passed since creationTimestamp, else CrashLoopBackOff. Requeue after
``--resource-exhausted-retry`` for ``ResourceExhausted``, ``SHORT_RETRY`` for the transient codes
(`mcm.driver.TRANSIENT_CODES`), ``MEDIUM_RETRY`` otherwise, but never later than the creation
deadline, so a CrashLoopBackOff machine turns Failed when its time is up. ``lastKnownState`` is
kept for ``ResourceExhausted`` and the transient codes and cleared otherwise, unless the error
carries a response with one. The status write is skipped when similar to the stored one
(`mcm.controller.status.write_status_unless_similar`).

While the flow runs the machine is in ``ctx.pending_creations``: the deletion flow waits for it.
"""

from __future__ import annotations

import datetime
import logging

import attrs

from mcm.api.constants import (
    CONFLICT_RETRY,
    LONG_RETRY,
    MACHINE_PRIORITY,
    MACHINE_PRIORITY_DEFAULT,
    MEDIUM_RETRY,
    NODE_LABEL_KEY,
    SHORT_RETRY,
)
from mcm.api.core import NodeAddress
from mcm.api.machine import (
    LastOperation,
    Machine,
    MachineOperationType,
    MachinePhase,
    MachineSpec,
    MachineState,
)
from mcm.api.machineclass import MachineClass
from mcm.api.patches import current_status, last_operation, merge_patches
from mcm.clock import utcnow
from mcm.controller.bootstrap import UserDataError, render_user_data
from mcm.controller.context import MachineControllerContext
from mcm.controller.effective import effective_creation_timeout
from mcm.controller.metrics import MachineMetrics
from mcm.controller.status import patch_machine_status, write_status_unless_similar
from mcm.controller.steps import Step
from mcm.driver import (
    TRANSIENT_CODES,
    Code,
    CreateMachineRequest,
    CreateMachineResponse,
    DeleteMachineRequest,
    GetMachineStatusRequest,
    GetMachineStatusResponse,
    InitializeMachineRequest,
    InitializeMachineResponse,
    MachineError,
    SecretData,
    from_error,
)
from mcm.errors import ApiError, ConflictError
from mcm.events import NORMAL, WARNING
from mcm.kube.resources import MACHINES

__all__ = [
    "CREATED_WITHOUT_TARGET_DESCRIPTION",
    "CREATING_DESCRIPTION",
    "REASON_CREATED",
    "REASON_CREATE_FAILED",
    "REASON_INITIALIZED",
    "REASON_INITIALIZE_FAILED",
    "REASON_STALE_NODE",
    "STALE_NODE_DESCRIPTION",
    "CreationFlow",
    "build_address_status",
    "create_failure_phase",
]

logger = logging.getLogger(__name__)

CREATING_DESCRIPTION = "Creating machine on cloud provider"
CREATED_WITHOUT_TARGET_DESCRIPTION = "Created machine on cloud provider"
STALE_NODE_DESCRIPTION = "VM using old node obj"

# Event reasons (on the Machine).
REASON_CREATED = "Created"
REASON_CREATE_FAILED = "CreateFailed"
REASON_INITIALIZED = "Initialized"
REASON_INITIALIZE_FAILED = "InitializeFailed"
REASON_STALE_NODE = "StaleNode"
REASON_PENDING = "Pending"
REASON_AVAILABLE = "Available"

_LABELS_UPDATED = "machine creation in process. Machine labels/annotations update is successful"
_INITIALIZED = "machine creation in process. Machine initialization (if required) is successful"
_STATUS_UPDATED = "machine creation in process. Machine/Status UPDATE successful"


def create_failure_phase(
    ctx: MachineControllerContext, machine: Machine, now: datetime.datetime
) -> MachinePhase:
    """Failed once the creation timeout has passed since creation, else CrashLoopBackOff."""
    remaining = _creation_time_left(ctx, machine, now)
    return MachinePhase.FAILED if remaining <= 0 else MachinePhase.CRASH_LOOP_BACK_OFF


def _creation_time_left(
    ctx: MachineControllerContext, machine: Machine, now: datetime.datetime
) -> float:
    created = machine.metadata.creation_timestamp or now
    return effective_creation_timeout(ctx, machine) - (now - created).total_seconds()


def build_address_status(addresses: list[NodeAddress], node_name: str) -> tuple[NodeAddress, ...]:
    """Upstream's ``buildAddressStatus``: deduplicated, plus ``Hostname: <node>``, sorted by
    type+address."""
    unique = {(a.type, a.address): a for a in addresses}
    if node_name:
        unique[("Hostname", node_name)] = NodeAddress(type="Hostname", address=node_name)
    return tuple(sorted(unique.values(), key=lambda a: a.type + a.address))


@attrs.define
class _Found:
    """What the flow learnt about the VM."""

    provider_id: str = ""
    node_name: str = ""
    needs_initialization: bool = False
    addresses: list[NodeAddress] = attrs.field(factory=list)


class CreationFlow:
    """Upstream's ``triggerCreationFlow``; see the module docstring."""

    def __init__(self, ctx: MachineControllerContext, *, metrics: MachineMetrics) -> None:
        self._ctx = ctx
        self._metrics = metrics

    def run(self, machine: Machine, machine_class: MachineClass, secret: SecretData) -> Step:
        """One pass of the creation flow for *machine*."""
        key = machine.metadata.key
        self._ctx.pending_creations.add(key)
        try:
            return self._run(machine, machine_class, secret)
        finally:
            self._ctx.pending_creations.discard(key)

    def _run(self, machine: Machine, machine_class: MachineClass, secret: SecretData) -> Step:
        ctx = self._ctx
        name = machine.metadata.name
        try:
            secret = render_user_data(ctx, machine, secret)
        except UserDataError as user_data_error:
            logger.warning("machine %s: %s", name, user_data_error)
            return Step(SHORT_RETRY, str(user_data_error))

        found = _Found(addresses=list(machine.status.addresses))
        outcome = self._find_or_create(machine, machine_class, secret, found)
        if outcome is not None:
            return outcome

        if (ctx.has_target and not found.node_name) or not found.provider_id:
            error = MachineError(
                Code.INTERNAL,
                f'machine "{name}": nodeName ("{found.node_name}") or providerID'
                f' ("{found.provider_id}") is empty after creation flow',
            )
            logger.error("%s", error)
            return Step(MEDIUM_RETRY, str(error))

        machine, labels_message = self._persist_identity(machine, found)

        if found.needs_initialization:
            return self._initialize(machine, machine_class, secret, found)
        if labels_message is not None:
            return Step(SHORT_RETRY, labels_message)
        if machine.phase in (None, MachinePhase.CRASH_LOOP_BACK_OFF):
            return self._set_created(machine, found)
        return Step(LONG_RETRY)

    # --- find / create ----------------------------------------------------------------------

    def _find_or_create(
        self, machine: Machine, machine_class: MachineClass, secret: SecretData, found: _Found
    ) -> Step | None:
        ctx = self._ctx
        name = machine.metadata.name
        try:
            status = ctx.driver.get_machine_status(
                GetMachineStatusRequest(machine=machine, machine_class=machine_class, secret=secret)
            )
        except Exception as exc:  # noqa: BLE001 -- any driver failure is decoded by its text
            error, decoded = from_error(exc)
            if not decoded:
                logger.warning("machine %s: undecodable GetMachineStatus error: %s", name, exc)
                return Step(MEDIUM_RETRY, f"getting VM status failed: {exc}")
            logger.info("machine %s: GetMachineStatus: %s", name, error)
            if error.code in (Code.NOT_FOUND, Code.UNIMPLEMENTED):
                if machine.spec.provider_id:
                    found.provider_id = machine.spec.provider_id
                    found.node_name = machine.node_name
                    return None
                return self._create(machine, machine_class, secret, found)
            if error.code is Code.UNINITIALIZED:
                response = error.response
                if isinstance(response, GetMachineStatusResponse):
                    found.provider_id = response.provider_id
                    found.node_name = response.node_name
                found.needs_initialization = True
                logger.info("machine %s: VM exists but is not initialized", name)
                return None
            return self._create_failed(machine, None, error)
        if not machine.node_name or not machine.spec.provider_id:
            logger.info("machine %s: adopting existing VM %s", name, status.provider_id)
        found.provider_id = status.provider_id
        found.node_name = status.node_name
        found.addresses.extend(status.addresses)
        return None

    def _create(
        self, machine: Machine, machine_class: MachineClass, secret: SecretData, found: _Found
    ) -> Step | None:
        ctx = self._ctx
        name = machine.metadata.name
        logger.info(
            "machine %s: creating a VM (creation timeout %.0f s)",
            name,
            effective_creation_timeout(ctx, machine),
        )
        try:
            created = ctx.driver.create_machine(
                CreateMachineRequest(machine=machine, machine_class=machine_class, secret=secret)
            )
        except Exception as exc:  # noqa: BLE001 -- any driver failure is decoded by its text
            error, _ = from_error(exc)
            response = getattr(exc, "response", None)
            return self._create_failed(
                machine, response if isinstance(response, CreateMachineResponse) else None, error
            )
        now = utcnow(ctx.clock)
        found.provider_id = created.provider_id
        found.node_name = created.node_name
        found.addresses.extend(created.addresses)
        found.needs_initialization = True
        if machine.metadata.creation_timestamp is not None:
            self._metrics.record_durations(
                machine,
                machine_class,
                create=(now - machine.metadata.creation_timestamp).total_seconds(),
            )
        logger.info(
            "machine %s: created VM %s (node %s)", name, created.provider_id, created.node_name
        )
        ctx.recorder.event(
            machine, NORMAL, REASON_CREATED, f"Created VM {created.provider_id} for the machine"
        )
        if ctx.nodes is not None and created.node_name != name:
            stale = self._stale_node(machine, machine_class, secret, created)
            if stale is not None:
                return stale
        return None

    def _stale_node(
        self,
        machine: Machine,
        machine_class: MachineClass,
        secret: SecretData,
        created: CreateMachineResponse,
    ) -> Step | None:
        """A Node named like the new VM's node exists and is not the VM's own (another
        providerID): delete the VM, fail the machine."""
        ctx = self._ctx
        assert ctx.nodes is not None  # noqa: S101
        name = machine.metadata.name
        try:
            node = ctx.nodes.get(created.node_name)
        except ApiError as error:
            logger.warning("machine %s: stale-node check failed: %s", name, error)
            return None
        if node is None:
            return None
        if created.provider_id and node.spec.provider_id == created.provider_id:
            # The kubelet of the new VM registered before this check ran: its own Node.
            logger.info(
                "machine %s: node %s already carries the new VM's provider ID; not stale",
                name,
                created.node_name,
            )
            return None
        logger.error(
            "machine %s: node %s already exists; deleting the new VM %s to get a fresh one",
            name,
            created.node_name,
            created.provider_id,
        )
        failure = ""
        try:
            ctx.driver.delete_machine(
                DeleteMachineRequest(
                    machine=attrs.evolve(
                        machine, spec=MachineSpec(provider_id=created.provider_id)
                    ),
                    machine_class=machine_class,
                    secret=secret,
                )
            )
        except Exception as exc:  # noqa: BLE001 -- retried with the next creation attempt
            failure = f": deleting the VM failed: {exc}"
            logger.warning("machine %s: deleting the VM of a stale node failed: %s", name, exc)
        now = utcnow(ctx.clock)
        try:
            write_status_unless_similar(
                ctx,
                machine,
                last_operation=last_operation(
                    STALE_NODE_DESCRIPTION,
                    MachineState.FAILED,
                    MachineOperationType.CREATE,
                    now=now,
                ),
                current_status=current_status(MachinePhase.FAILED, now=now),
                last_known_state=machine.status.last_known_state,
            )
        except ApiError as error:
            return _write_failed(name, error)
        ctx.recorder.event(
            machine,
            WARNING,
            REASON_STALE_NODE,
            f"Node {created.node_name} already exists; deleted the new VM and marked the"
            " machine Failed",
        )
        return Step(SHORT_RETRY, f"machine {name!r} refers to a stale node object{failure}")

    def _create_failed(
        self, machine: Machine, response: CreateMachineResponse | None, error: MachineError
    ) -> Step:
        """Upstream's ``machineCreateErrorHandler``; see the module docstring."""
        ctx = self._ctx
        name = machine.metadata.name
        now = utcnow(ctx.clock)
        code = error.code
        if code is Code.RESOURCE_EXHAUSTED:
            retry = ctx.options.effective_resource_exhausted_retry
            last_known_state = machine.status.last_known_state
        elif code in TRANSIENT_CODES:
            retry = SHORT_RETRY
            last_known_state = machine.status.last_known_state
        else:
            retry = MEDIUM_RETRY
            last_known_state = ""
        if response is not None and response.last_known_state:
            last_known_state = response.last_known_state
        description = f"Cloud provider message - {error}"
        logger.warning("machine %s: creating the VM failed: %s", name, error)
        phase = create_failure_phase(ctx, machine, now)
        try:
            write_status_unless_similar(
                ctx,
                machine,
                last_operation=LastOperation(
                    description=description,
                    error_code=code.go_name,
                    last_update_time=now,
                    state=MachineState.FAILED,
                    type=MachineOperationType.CREATE,
                ),
                current_status=current_status(phase, now=now),
                last_known_state=last_known_state,
            )
        except ApiError as error_:
            return _write_failed(name, error_)
        ctx.recorder.event(machine, WARNING, REASON_CREATE_FAILED, description)
        remaining = _creation_time_left(ctx, machine, now)
        return Step(retry, str(error), recheck_after=remaining if remaining > 0 else None)

    # --- persist ----------------------------------------------------------------------------

    def _identity_patch(self, machine: Machine, found: _Found) -> dict[str, object] | None:
        ctx = self._ctx
        meta = machine.metadata
        label_missing = ctx.has_target and NODE_LABEL_KEY not in meta.labels
        if not (label_missing or MACHINE_PRIORITY not in meta.annotations) and (
            machine.spec.provider_id
        ):
            return None
        parts: list[dict[str, object]] = [
            {"metadata": {"resourceVersion": meta.resource_version}},
            {"spec": {"providerID": found.provider_id}},
        ]
        if ctx.has_target:
            parts.append({"metadata": {"labels": {NODE_LABEL_KEY: found.node_name}}})
        if not meta.annotations.get(MACHINE_PRIORITY):
            parts.append(
                {"metadata": {"annotations": {MACHINE_PRIORITY: MACHINE_PRIORITY_DEFAULT}}}
            )
        return merge_patches(*parts)

    def _persist_identity(self, machine: Machine, found: _Found) -> tuple[Machine, str | None]:
        """Write providerID, node label and priority if missing (upstream's ``updateLabels``).

        Returns the Machine to continue with and the "in process" message when something was
        written; a failed write is logged and the flow goes on with the old object.
        """
        ctx = self._ctx
        name = machine.metadata.name
        for attempt in range(2):
            patch = self._identity_patch(machine, found)
            if patch is None:
                return machine, None
            try:
                written = ctx.control.patch(
                    MACHINES, name, patch, namespace=machine.metadata.namespace
                )
            except ConflictError as error:
                if attempt == 1:
                    logger.warning("machine %s: recording provider ID conflicted: %s", name, error)
                    return machine, None
                try:
                    machine = Machine.from_dict(
                        ctx.control.get(MACHINES, name, namespace=machine.metadata.namespace)
                    )
                except ApiError as read_error:
                    logger.warning("machine %s: re-reading failed: %s", name, read_error)
                    return machine, None
                continue
            except ApiError as error:
                logger.warning("machine %s: recording provider ID failed: %s", name, error)
                return machine, None
            logger.info(
                "machine %s: recorded provider ID %s and node %s",
                name,
                found.provider_id,
                found.node_name,
            )
            return Machine.from_dict(written), _LABELS_UPDATED
        return machine, None

    # --- initialize -------------------------------------------------------------------------

    def _initialize(
        self, machine: Machine, machine_class: MachineClass, secret: SecretData, found: _Found
    ) -> Step:
        ctx = self._ctx
        name = machine.metadata.name
        started = ctx.clock.monotonic()
        try:
            response: InitializeMachineResponse | None = ctx.driver.initialize_machine(
                InitializeMachineRequest(
                    machine=machine, machine_class=machine_class, secret=secret
                )
            )
        except Exception as exc:  # noqa: BLE001 -- any driver failure is decoded by its text
            error, decoded = from_error(exc)
            if not decoded:
                logger.warning("machine %s: undecodable InitializeMachine error: %s", name, exc)
                return Step(LONG_RETRY, f"initializing the VM failed: {exc}")
            if error.code is not Code.UNIMPLEMENTED:
                return self._initialize_failed(machine, error)
            logger.debug("machine %s: the driver does not initialize VMs", name)
            response = None
        else:
            ctx.recorder.event(machine, NORMAL, REASON_INITIALIZED, "Initialized the VM")
        duration = ctx.clock.monotonic() - started
        self._metrics.record_durations(machine, machine_class, initialize=duration)
        if not ctx.has_target:
            addresses = list(found.addresses)
            if response is not None:
                addresses.extend(response.addresses)
            try:
                patch_machine_status(
                    ctx, machine, addresses=build_address_status(addresses, found.node_name)
                )
            except ApiError as error:
                return Step(
                    SHORT_RETRY,
                    "failed to persist status addresses after initialization was successful:"
                    f" {error}",
                )
        return Step(SHORT_RETRY, _INITIALIZED)

    def _initialize_failed(self, machine: Machine, error: MachineError) -> Step:
        ctx = self._ctx
        name = machine.metadata.name
        now = utcnow(ctx.clock)
        description = f"Provider error: {error}. Initialize VM Instance"
        logger.warning("machine %s: initializing the VM failed: %s", name, error)
        try:
            write_status_unless_similar(
                ctx,
                machine,
                last_operation=LastOperation(
                    description=description,
                    error_code=error.code.go_name,
                    last_update_time=now,
                    state=MachineState.FAILED,
                    type=MachineOperationType.CREATE,
                ),
                current_status=current_status(create_failure_phase(ctx, machine, now), now=now),
                last_known_state=machine.status.last_known_state,
            )
        except ApiError as error_:
            return _write_failed(name, error_)
        ctx.recorder.event(machine, WARNING, REASON_INITIALIZE_FAILED, description)
        remaining = _creation_time_left(ctx, machine, now)
        return Step(SHORT_RETRY, str(error), recheck_after=remaining if remaining > 0 else None)

    # --- Pending / Available ----------------------------------------------------------------

    def _set_created(self, machine: Machine, found: _Found) -> Step:
        ctx = self._ctx
        name = machine.metadata.name
        now = utcnow(ctx.clock)
        try:
            if ctx.has_target:
                patch_machine_status(
                    ctx,
                    machine,
                    last_operation=last_operation(
                        CREATING_DESCRIPTION,
                        MachineState.PROCESSING,
                        MachineOperationType.CREATE,
                        now=now,
                    ),
                    current_status=current_status(
                        MachinePhase.PENDING, now=now, timeout_active=True
                    ),
                )
                ctx.recorder.event(
                    machine, NORMAL, REASON_PENDING, "VM created; waiting for its node to join"
                )
            else:
                patch_machine_status(
                    ctx,
                    machine,
                    last_operation=last_operation(
                        CREATED_WITHOUT_TARGET_DESCRIPTION,
                        MachineState.SUCCESSFUL,
                        MachineOperationType.CREATE,
                        now=now,
                    ),
                    current_status=current_status(MachinePhase.AVAILABLE, now=now),
                    addresses=build_address_status(list(found.addresses), found.node_name),
                )
                ctx.recorder.event(machine, NORMAL, REASON_AVAILABLE, "VM created and available")
        except ApiError as error:
            return _write_failed(name, error)
        logger.info("machine %s: created on the cloud provider", name)
        return Step(SHORT_RETRY, _STATUS_UPDATED)


def _write_failed(name: str, error: ApiError) -> Step:
    logger.warning("machine %s: status write failed: %s", name, error)
    retry = CONFLICT_RETRY if isinstance(error, ConflictError) else SHORT_RETRY
    return Step(retry, f"Machine/status UPDATE failed for {name!r}: {error}")
