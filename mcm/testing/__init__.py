"""Test doubles for ``mcm``, shipped in the package like ``kopf.testing``.

`FakeApiServer` is an in-memory `mcm.kube.protocol.Api` that keeps the API server's rules (resource
versions, conflicts, generation, the status subresource, finalizers, graceful pod deletion, eviction
against PodDisruptionBudgets, selectors, patches, watches that replay, expire and break) and records
every request as an `Action`. `FakeWatchStream` is the stream its watches return. Label and field
selectors live in `mcm.testing.selectors`, the patch flavours in `mcm.testing.patching`.

Importing this package imports nothing heavy; the envtest and kubelet helpers are separate modules.
"""

from mcm.testing.fake_api import Action, FakeApiServer, Verb
from mcm.testing.watch_streams import FakeWatchStream

__all__ = ["Action", "FakeApiServer", "FakeWatchStream", "Verb"]
