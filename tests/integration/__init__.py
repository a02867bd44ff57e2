"""Integration tests: the foundation against a real kube-apiserver and etcd."""
