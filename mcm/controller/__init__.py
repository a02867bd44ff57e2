"""Controllers: the generic runtime and the reconcilers built on it.

`mcm.controller.runtime` is the layer every controller shares: a `Controller` owns a rate-limited
work queue of `mcm.api.meta.ObjectKey` values and a pool of worker threads, hands each key to a
`Reconciler`, and decides from the outcome whether, and when, the key comes back. Informer event
handlers only compute keys and enqueue them (`mcm.controller.runtime.enqueue_handler`). The
reconcilers themselves (machine, machine set, machine deployment, safety) live in sibling modules
and are tested by calling ``reconcile(key)`` directly.

Import the modules, not this package: it deliberately re-exports nothing.
"""
