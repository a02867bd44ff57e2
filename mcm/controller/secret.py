"""The Secret reconciler: a Secret a MachineClass refers to cannot be deleted.

The driver needs a class's secrets (``secretRef``: user data and often cloud credentials;
``credentialsSecretRef``: credentials) to delete VMs, so while any MachineClass refers to a Secret
the Secret carries the finalizer ``machine.sapcloud.io/machine-controller``; once none does, the
finalizer is removed (upstream's ``secret.go``). MachineClasses being deleted still count: their
machines may still need the credentials.

Only Secrets in ``ctx.namespace`` are reconciled; keys of other namespaces are ignored. A reference
names the Secret when its name matches and its namespace, or ``ctx.namespace`` if it has none,
is the Secret's namespace.

Every key is reconciled again after `SECRET_RESYNC_PERIOD` (10 minutes), whatever happened. The
finalizer list is written as a merge patch guarded by the resourceVersion the cache showed: a
conflict requeues after ``ConflictRetry``; other API errors raise, so the key is also retried with
the rate limiter's back-off, as upstream does. A Secret already being deleted gets no new
finalizer (the API server would refuse it), only loses ours when it is no longer referenced.

Secret data is never read here, let alone logged.
"""

from __future__ import annotations

import logging

from mcm.api.constants import CONFLICT_RETRY, MC_FINALIZER_NAME
from mcm.api.core import Secret
from mcm.api.machineclass import MachineClass
from mcm.api.meta import ObjectKey
from mcm.api.patches import finalizers_patch
from mcm.controller.context import MachineControllerContext
from mcm.controller.runtime import Result
from mcm.errors import ConflictError, MCMError, NotFoundError
from mcm.kube.resources import SECRETS

__all__ = ["SECRET_RESYNC_PERIOD", "SecretReconciler", "class_refers_to_secret"]

logger = logging.getLogger(__name__)

SECRET_RESYNC_PERIOD = 10 * 60.0
"""Seconds after which every Secret key is reconciled again (upstream's fixed 10 minutes)."""


def class_refers_to_secret(
    machine_class: MachineClass, secret_key: ObjectKey, *, default_namespace: str
) -> bool:
    """Does ``secretRef`` or ``credentialsSecretRef`` of *machine_class* name *secret_key*?

    A reference without a namespace means *default_namespace* (the controller's namespace).
    """
    return any(
        ref.name == secret_key.name and (ref.namespace or default_namespace) == secret_key.namespace
        for ref in machine_class.secret_refs
    )


class SecretReconciler:
    """Adds and removes the finalizer of a Secret used by MachineClasses."""

    def __init__(self, ctx: MachineControllerContext) -> None:
        self._ctx = ctx

    def reconcile(self, key: ObjectKey) -> Result:
        ctx = self._ctx
        if key.namespace != ctx.namespace:
            logger.debug("secret %s: outside namespace %s; ignoring", key, ctx.namespace)
            return Result()
        secret = ctx.secrets.get_by_key(key)
        if secret is None:
            logger.debug("secret %s: not found; nothing to do", key)
            return Result()
        try:
            self._reconcile(secret)
        except ConflictError:
            return Result(requeue_after=CONFLICT_RETRY)
        except NotFoundError:
            return Result()
        except MCMError:
            # Upstream re-adds the key after ten minutes whatever the outcome, errors included;
            # the error itself sends the key through the rate limiter as well.
            ctx.enqueue_secret(key, SECRET_RESYNC_PERIOD)
            raise
        return Result(requeue_after=SECRET_RESYNC_PERIOD)

    def _reconcile(self, secret: Secret) -> None:
        ctx = self._ctx
        key = secret.metadata.key
        referenced = any(
            class_refers_to_secret(c, key, default_namespace=ctx.namespace)
            for c in ctx.machine_classes.list(ctx.namespace)
        )
        has_finalizer = MC_FINALIZER_NAME in secret.metadata.finalizers
        if referenced and not has_finalizer:
            if secret.metadata.deleting:
                logger.warning(
                    "secret %s: referenced by a machine class but already being deleted;"
                    " cannot protect it",
                    key,
                )
                return
            self._patch_finalizers(secret, add=True)
            logger.info("secret %s: referenced by a machine class; added finalizer", key)
        elif not referenced and has_finalizer:
            self._patch_finalizers(secret, add=False)
            logger.info("secret %s: no machine class refers to it; removed finalizer", key)

    def _patch_finalizers(self, secret: Secret, *, add: bool) -> None:
        patch = finalizers_patch(
            secret.metadata.finalizers,
            add=(MC_FINALIZER_NAME,) if add else (),
            remove=() if add else (MC_FINALIZER_NAME,),
            resource_version=secret.metadata.resource_version,
        )
        self._ctx.control.patch(
            SECRETS, secret.metadata.name, patch, namespace=secret.metadata.namespace
        )
