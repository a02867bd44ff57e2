"""Test doubles for the AWS provider: EC2 over HTTP with fault injection, and EC2 as a VM source.

`EC2Endpoint` runs moto's server (`MotoServer`) behind a `FaultFront` that fails, slows, throttles
and counts EC2 calls per action; `EC2VMSource` feeds a cluster's instances to the kubelet
simulator (`mcm.testing.kubelet`). moto is imported only when a server starts in-process.
"""

from mcm_provider_aws.testing.ec2_endpoint import EC2Endpoint
from mcm_provider_aws.testing.fault_front import ActionCounts, FaultFront, HeldCall, error_body
from mcm_provider_aws.testing.moto_server import MotoServer
from mcm_provider_aws.testing.vm_source import EC2VMSource

__all__ = [
    "ActionCounts",
    "EC2Endpoint",
    "EC2VMSource",
    "FaultFront",
    "HeldCall",
    "MotoServer",
    "error_body",
]
