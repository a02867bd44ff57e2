"""Talking to Kubernetes API servers: the only package in ``mcm`` that imports ``kubernetes``.

`mcm.kube.protocol` defines `Api`, the seam every controller, informer and test uses: raw JSON in,
raw JSON out, for any resource, core or custom. `mcm.kube.client.KubeClient` implements it over
HTTP; `mcm.testing` implements it in memory. `mcm.kube.resources` names the resources.
"""
