"""Is a Machine fit to reconcile: its class reference, its MachineClass, the class's secrets.

Both reconcilers of the machine controller (the machine queue and the termination queue) start a
pass here:

- `validate_machine` checks the Machine itself (upstream's ``validation.ValidateMachine``):
  ``spec.class.kind`` and ``spec.class.name`` must be set. It returns the error message, or None.
- `validate_machine_class` finds the MachineClass and its secrets (upstream's
  ``ValidateMachineClass``) and returns ``(machine_class, secret_data)``. It raises
  `ValidationFailure` carrying the message and the period after which the caller should requeue
  the machine:

  =========================================================  =============================
  problem                                                    retry_after
  =========================================================  =============================
  class not in the lister, or a secret read fails            ``LONG_RETRY`` (10 minutes)
  class lacks the MCM finalizer (class is enqueued, so the   ``SHORT_RETRY`` (5 seconds)
  class reconciler adds it)
  invalid ``nodeTemplate`` (`validate_node_template`)        ``SHORT_RETRY``
  =========================================================  =============================

  A referenced Secret that does not exist is skipped, as upstream does: the driver then gets the
  data of the remaining one(s). The merged `mcm.driver.SecretData` puts ``secretRef``'s keys first
  and lets ``credentialsSecretRef``'s win. Secret contents never appear in messages.

The class is looked up in ``ctx.namespace`` (the controller's ``--namespace``) whatever the
Machine's namespace; a secret reference without a namespace also means ``ctx.namespace``.
"""

from __future__ import annotations

import logging

from mcm.api.constants import LONG_RETRY, MCM_FINALIZER_NAME, SHORT_RETRY
from mcm.api.core import Secret
from mcm.api.machine import Machine
from mcm.api.machineclass import MachineClass, NodeTemplate
from mcm.api.meta import ObjectKey
from mcm.controller.context import MachineControllerContext
from mcm.driver import SecretData, merge_secret_data
from mcm.errors import ApiError, MCMError

__all__ = [
    "NODE_TEMPLATE_CAPACITY_KEYS",
    "ValidationFailure",
    "validate_machine",
    "validate_machine_class",
    "validate_node_template",
]

logger = logging.getLogger(__name__)

NODE_TEMPLATE_CAPACITY_KEYS = ("cpu", "gpu", "memory")
"""What a MachineClass ``nodeTemplate.capacity`` must contain, when a nodeTemplate is given."""

_CAPACITY_MESSAGE = (
    "MachineClass NodeTemplate Capacity should mandatorily have CPU, GPU and Memory configured"
)
_PLACEMENT_MESSAGE = "MachineClass NodeTemplate Instance Type, region and zone cannot be empty"


class ValidationFailure(MCMError):  # noqa: N818 -- the name the termination flow imports
    """The machine cannot be reconciled now; requeue it after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message


def validate_machine(machine: Machine) -> str | None:
    """The problems of *machine*'s class reference, as one message; None when it is valid."""
    problems = []
    if not machine.spec.class_.kind:
        problems.append("spec.class.kind: Required value: Kind is required")
    if not machine.spec.class_.name:
        problems.append("spec.class.name: Required value: Name is required")
    if not problems:
        return None
    return problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"


def validate_node_template(node_template: NodeTemplate | None) -> str | None:
    """Upstream's ``validateNodeTemplate``: the problems of a class's nodeTemplate, or None."""
    if node_template is None:
        return None
    problems = []
    if any(key not in node_template.capacity for key in NODE_TEMPLATE_CAPACITY_KEYS):
        problems.append(_CAPACITY_MESSAGE)
    if not (node_template.instance_type and node_template.region and node_template.zone):
        problems.append(_PLACEMENT_MESSAGE)
    return "; ".join(problems) or None


def validate_machine_class(
    ctx: MachineControllerContext, machine: Machine
) -> tuple[MachineClass, SecretData]:
    """*machine*'s MachineClass and merged secret data; raises `ValidationFailure`."""
    class_name = machine.spec.class_.name
    machine_class = ctx.machine_classes.get(ctx.namespace, class_name)
    if machine_class is None:
        raise ValidationFailure(
            f'machineclass.machine.sapcloud.io "{class_name}" not found', LONG_RETRY
        )
    secrets: list[Secret | None] = []
    for ref in machine_class.secret_refs:
        key = ObjectKey(ref.namespace or ctx.namespace, ref.name)
        try:
            secret = ctx.secrets.get_by_key(key)
        except ApiError as error:
            raise ValidationFailure(
                f"reading secret {key} of machine class {class_name} failed: {error}",
                LONG_RETRY,
            ) from error
        if secret is None:
            logger.debug("secret %s of machine class %s not found; skipping it", key, class_name)
        secrets.append(secret)
    if MCM_FINALIZER_NAME not in machine_class.metadata.finalizers:
        ctx.enqueue_machine_class(machine_class.metadata.key, 0.0)
        raise ValidationFailure(
            f"The machine class {class_name} has no finalizers set."
            " So not reconciling the machine.",
            SHORT_RETRY,
        )
    problem = validate_node_template(machine_class.node_template)
    if problem is not None:
        raise ValidationFailure(problem, SHORT_RETRY)
    return machine_class, merge_secret_data(*secrets)
