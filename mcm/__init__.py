"""Gardener's machine-controller-manager, re-implemented in Python.

The package is a client-go-style controller library (``mcm.workqueue``, ``mcm.cache``,
``mcm.kube``), the ``machine.sapcloud.io/v1alpha1`` object model (``mcm.api``), the provider
contract (``mcm.driver``) and the controllers built on them. Importing it has no side effects.
"""

__version__ = "0.1.0"
