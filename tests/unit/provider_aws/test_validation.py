"""Validation of the AWS provider spec and secret: upstream's rules, order, words and error code.

Every expected text below was checked against upstream's own ``ValidateAWSProviderSpec`` (built
from the provider's repository at the commit the spec describes).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mcm.driver import Code, MachineError, SecretData, from_error
from mcm_provider_aws.provider_spec import AWSProviderSpec
from mcm_provider_aws.validation import (
    ErrorType,
    FieldError,
    decode_provider_spec,
    validate_provider_spec,
    validate_secret,
    validation_error,
    validation_error_message,
)

DEVICE_PATTERN = "(regex used for validation is '^/dev/(sd[a-z]|xvd[a-c][a-z]?)$')"

VALID_SPEC: dict[str, Any] = {
    "ami": "ami-123456789",
    "region": "eu-west-1",
    "machineType": "m4.large",
    "iam": {"name": "test-iam"},
    "keyName": "test-ssh-publickey",
    "blockDevices": [{"ebs": {"volumeSize": 50, "volumeType": "gp2"}}],
    "networkInterfaces": [{"subnetID": "subnet-123456", "securityGroupIDs": ["sg-00002132323"]}],
    "tags": {
        "kubernetes.io/cluster/shoot--test": "1",
        "kubernetes.io/role/test": "1",
    },
}

STATIC_SECRET = {
    "providerAccessKeyId": b"dummy-id",
    "providerSecretAccessKey": b"dummy-secret",
    "userData": b"dummy-user-data",
}


def spec_with(**changes: Any) -> dict[str, Any]:
    """VALID_SPEC with top-level keys replaced (None removes the key)."""
    spec = copy.deepcopy(VALID_SPEC)
    for key, value in changes.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    return spec


def errors_of(raw: dict[str, Any], secret: dict[str, bytes] | None = None) -> list[str]:
    data = SecretData(STATIC_SECRET if secret is None else secret)
    return [str(e) for e in validate_provider_spec(AWSProviderSpec.from_dict(raw), data)]


def ebs(**fields: Any) -> dict[str, Any]:
    return {"volumeSize": 50, "volumeType": "gp2", **fields}


def nic(**fields: Any) -> dict[str, Any]:
    return {"subnetID": "subnet-123456", "securityGroupIDs": ["sg-1"], **fields}


# ------------------------------------------------------------------------------------ valid specs


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(VALID_SPEC, id="Simple validation of AWS machine class"),
        pytest.param(
            spec_with(blockDevices=[{"ebs": ebs(volumeType="io1", iops=100)}]),
            id="AWS machine class with io1 type block device",
        ),
        pytest.param(
            spec_with(blockDevices=[{"ebs": ebs(volumeType="gp3", iops=3000, throughput=125)}]),
            id="AWS machine class with gp3 type block device",
        ),
        pytest.param(
            spec_with(
                blockDevices=[
                    {"deviceName": "/root", "ebs": ebs()},
                    {"deviceName": "/dev/sdb", "ebs": ebs()},
                    {"deviceName": "/dev/xvdcz", "ebs": ebs(volumeType="st1")},
                ]
            ),
            id="Multiple block devices with one root and data disks named by pattern",
        ),
        pytest.param(
            spec_with(blockDevices=[{"deviceName": "any-name", "ebs": ebs()}]),
            id="a single block device is root whatever its name",
        ),
        pytest.param(spec_with(blockDevices=[]), id="no block devices (fails later at create)"),
        pytest.param(spec_with(iam={"arn": "arn:aws:iam::1:instance-profile/x"}), id="IAM by ARN"),
        pytest.param(
            spec_with(capacityReservation={"capacityReservationId": "cr-1"}),
            id="CapacityReservationTargetSpec valid spec configuring only CapacityReservationID",
        ),
        pytest.param(
            spec_with(capacityReservation={"capacityReservationResourceGroupArn": "arn:group"}),
            id="CapacityReservationTargetSpec valid spec configuring only "
            "CapacityReservationResourceGroupArn",
        ),
        pytest.param(
            spec_with(capacityReservation={"capacityReservationPreference": "open"}),
            id="capacity reservation with a preference only",
        ),
        pytest.param(
            spec_with(
                networkInterfaces=[
                    nic(interfaceType="", deviceIndex=0, networkCardIndex=0),
                    nic(interfaceType="efa-only", deviceIndex=1),
                ]
            ),
            id="network interfaces with valid interfaceType and indices",
        ),
        pytest.param(
            spec_with(
                placement={
                    "tenancy": "host",
                    "hostId": "h-1",
                    "affinity": "host",
                    "partitionNumber": 1,
                }
            ),
            id="placement on a dedicated host",
        ),
        pytest.param(
            spec_with(instanceMarketOptions={"marketType": "capacity-block"}), id="market type"
        ),
        pytest.param(
            spec_with(
                instanceMetadataOptions={
                    "httpEndpoint": "enabled",
                    "httpPutResponseHopLimit": 64,
                    "httpTokens": "required",
                    "httpProtocolIpv6": "disabled",
                }
            ),
            id="AWS machine class with valid instanceMetadata",
        ),
        pytest.param(
            spec_with(instanceMetadataOptions={"httpPutResponseHopLimit": 0, "httpTokens": ""}),
            id="instanceMetadata hop limit 0 and empty strings",
        ),
        pytest.param(spec_with(cpuOptions={}), id="nil cpuOptions should be valid"),
        pytest.param(
            spec_with(cpuOptions={"coreCount": 4, "threadsPerCore": 2}),
            id="valid ThreadsPerCore and CoreCount should pass",
        ),
        pytest.param(
            spec_with(cpuOptions={"amdSevSnp": "enabled"}), id="valid amdSevSnp should pass"
        ),
        pytest.param(
            spec_with(tags={"a-kubernetes.io/cluster/x-b": "", "x/kubernetes.io/role/y": ""}),
            id="tag keys only need to contain the prefixes",
        ),
    ],
)
def test_a_valid_spec_has_no_errors(raw):
    assert errors_of(raw) == []


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(STATIC_SECRET, id="providerAccessKeyId and providerSecretAccessKey"),
        pytest.param(
            {"accessKeyID": b"id", "secretAccessKey": b"key", "userData": b"x"},
            id="secretAccessKey is mentioned",
        ),
        pytest.param(
            {
                "providerAccessKeyId": b"",
                "accessKeyID": b"id",
                "secretAccessKey": b"k",
                "userData": b"x",
            },
            id="an empty preferred key next to a set alternative",
        ),
        pytest.param(
            {"workloadIdentityTokenFile": b"/var/run/token", "roleARN": b"arn", "userData": b"x"},
            id="should successfully validate the secret",
        ),
    ],
)
def test_a_valid_secret_has_no_errors(secret):
    assert validate_secret(SecretData(secret)) == []


# ---------------------------------------------------------------------------- one rule at a time


RULES = [
    # 1-4
    pytest.param(
        spec_with(ami=""),
        None,
        "providerSpec.ami: Required value: AMI is required",
        id="AMI field missing",
    ),
    pytest.param(
        spec_with(region=None),
        None,
        "providerSpec.region: Required value: Region is required",
        id="Region field missing",
    ),
    pytest.param(
        spec_with(machineType=""),
        None,
        "providerSpec.machineType: Required value: MachineType is required",
        id="MachineType field missing",
    ),
    pytest.param(
        spec_with(iam={}),
        None,
        "providerSpec.iam: Invalid value: {}: either IAM Name or ARN must be set",
        id="both IAM.Name and IAM.ARN fields missing",
    ),
    pytest.param(
        spec_with(iam={"name": "foo", "arn": "bar"}),
        None,
        'providerSpec.iam: Invalid value: {"arn":"bar","name":"foo"}: either IAM Name or ARN must'
        " be set",
        id="both IAM.Name and IAM.ARN fields set",
    ),
    # 5-11
    pytest.param(
        spec_with(
            blockDevices=[
                {"deviceName": "/root", "ebs": ebs()},
                {"deviceName": "/dev/sdaa", "ebs": ebs()},
            ]
        ),
        None,
        'providerSpec.blockDevices[1].deviceName: Invalid value: "/dev/sdaa": Device name given:'
        f" /dev/sdaa does not match the expected pattern {DEVICE_PATTERN}",
        id="data device name does not match the pattern",
    ),
    pytest.param(
        spec_with(
            blockDevices=[
                {"deviceName": "/root", "ebs": ebs()},
                {"deviceName": "/dev/sdb\n", "ebs": ebs()},
            ]
        ),
        None,
        'providerSpec.blockDevices[1].deviceName: Invalid value: "/dev/sdb\\n": Device name given:'
        f" /dev/sdb\n does not match the expected pattern {DEVICE_PATTERN}",
        id="a trailing newline does not match the pattern",
    ),
    pytest.param(
        spec_with(blockDevices=[{"ebs": {"volumeSize": 50}}]),
        None,
        "providerSpec.blockDevices[0].ebs.volumeType: Required value: Please mention a valid EBS"
        " volume type: [gp2 gp3 io1 st1 sc1 standard]",
        id="EBS volume type is missing",
    ),
    pytest.param(
        spec_with(blockDevices=[{"ebs": ebs(volumeType="io2", iops=100)}]),
        None,
        "providerSpec.blockDevices[0].ebs.volumeType: Required value: Please mention a valid EBS"
        " volume type: [gp2 gp3 io1 st1 sc1 standard]",
        id="EBS volume type is of not mentioned type",
    ),
    pytest.param(
        spec_with(blockDevices=[{"ebs": ebs(volumeSize=-50)}]),
        None,
        "providerSpec.blockDevices[0].ebs.volumeSize: Required value: Please mention a valid EBS"
        " volume size",
        id="Invalid block device size specified",
    ),
    pytest.param(
        spec_with(blockDevices=[{"ebs": ebs(volumeType="io1")}]),
        None,
        "providerSpec.blockDevices[0].ebs.iops: Required value: Please mention a valid EBS volume"
        " iops",
        id="EBS volume of type io1 is missing iops field",
    ),
    pytest.param(
        spec_with(blockDevices=[{"ebs": ebs(iops=-100)}]),
        None,
        "providerSpec.blockDevices[0].ebs.iops: Required value: Please mention a valid EBS volume"
        " iops",
        id="Invalid EBS volume iops",
    ),
    pytest.param(
        spec_with(blockDevices=[{"ebs": ebs(volumeType="gp3", throughput=-200)}]),
        None,
        "providerSpec.blockDevices[0].ebs.throughput: Invalid value: -200: Throughput should be a"
        " positive value",
        id="Invalid EBS volume throughput",
    ),
    pytest.param(
        spec_with(
            blockDevices=[
                {"deviceName": "/dev/sdb", "ebs": ebs()},
                {"deviceName": "/dev/sdc", "ebs": ebs()},
            ]
        ),
        None,
        "providerSpec.blockDevices: Required value: Only one device can be specified as root",
        id="Multiple block devices specified without a root",
    ),
    pytest.param(
        spec_with(
            blockDevices=[
                {"deviceName": "/root", "ebs": ebs()},
                {"deviceName": "/root", "ebs": ebs()},
            ]
        ),
        None,
        [
            "providerSpec.blockDevices: Required value: Only one device can be specified as root",
            "providerSpec.blockDevices: Required value: Device name '/root' duplicated 2 times,"
            " DeviceName must be unique",
        ],
        id="Multiple root block devices specified",
    ),
    pytest.param(
        spec_with(
            blockDevices=[
                {"deviceName": "/root", "ebs": ebs()},
                {"deviceName": "/dev/sdb", "ebs": ebs()},
                {"deviceName": "/dev/sdb", "ebs": ebs()},
                {"deviceName": "/dev/sdb", "ebs": ebs()},
            ]
        ),
        None,
        "providerSpec.blockDevices: Required value: Device name '/dev/sdb' duplicated 3 times,"
        " DeviceName must be unique",
        id="a duplicated data device name",
    ),
    # 12-13
    pytest.param(
        spec_with(
            capacityReservation={
                "capacityReservationPreference": "open",
                "capacityReservationId": "cr-1",
                "capacityReservationResourceGroupArn": "arn",
            }
        ),
        None,
        "providerSpec.capacityReservation: Required value: CapacityReservationPreference cannot be"
        " set when also providing a CapacityReservationID or CapacityReservationResourceGroupArn",
        id="CapacityReservationTargetSpec invalid spec configuring both preference, target id and"
        " arn",
    ),
    pytest.param(
        spec_with(
            capacityReservation={
                "capacityReservationPreference": "open",
                "capacityReservationId": "",
            }
        ),
        None,
        "providerSpec.capacityReservation: Required value: CapacityReservationPreference cannot be"
        " set when also providing a CapacityReservationID or CapacityReservationResourceGroupArn",
        id="CapacityReservationTargetSpec invalid spec configuring both preference and target id",
    ),
    pytest.param(
        spec_with(
            capacityReservation={
                "capacityReservationPreference": "none",
                "capacityReservationResourceGroupArn": "arn",
            }
        ),
        None,
        "providerSpec.capacityReservation: Required value: CapacityReservationPreference cannot be"
        " set when also providing a CapacityReservationID or CapacityReservationResourceGroupArn",
        id="CapacityReservationTargetSpec invalid spec configuring both preference and arn",
    ),
    pytest.param(
        spec_with(
            capacityReservation={
                "capacityReservationId": "cr-1",
                "capacityReservationResourceGroupArn": "a",
            }
        ),
        None,
        "providerSpec.capacityReservation: Required value: CapacityReservationResourceGroupArn or"
        " CapacityReservationId are optional but only one should be used",
        id="CapacityReservationTargetSpec invalid spec configuring both id and arn",
    ),
    # 14-20
    pytest.param(
        spec_with(networkInterfaces=[]),
        None,
        "providerSpec.networkInterfaces[]: Required value: Mention at least one NetworkInterface",
        id="Network Interfaces are missing",
    ),
    pytest.param(
        spec_with(networkInterfaces=[nic(subnetID="")]),
        None,
        "providerSpec.networkInterfaces[0].subnetID: Required value: SubnetID is required",
        id="SubnetID is missing",
    ),
    pytest.param(
        spec_with(networkInterfaces=[nic(securityGroupIDs=[])]),
        None,
        "providerSpec.networkInterfaces[0].securityGroupIDs: Required value: Mention at least one"
        " securityGroupID",
        id="SecurityGroupIDs are missing",
    ),
    pytest.param(
        spec_with(networkInterfaces=[nic(), nic(securityGroupIDs=["sg-1", ""])]),
        None,
        "providerSpec.networkInterfaces[1].securityGroupIDs: Required value: securityGroupIDs"
        " cannot be blank for networkInterface:1 securityGroupID:1",
        id="Security group ID left blank for network interface",
    ),
    pytest.param(
        spec_with(networkInterfaces=[nic(interfaceType="invalid")]),
        None,
        'providerSpec.networkInterfaces[0].interfaceType: Unsupported value: "invalid": supported'
        ' values: "interface", "efa", "efa-only"',
        id="Invalid interfaceType for network interface",
    ),
    pytest.param(
        spec_with(networkInterfaces=[nic(deviceIndex=-1)]),
        None,
        "providerSpec.networkInterfaces[0].deviceIndex: Invalid value: -1: must be >= 0",
        id="Negative deviceIndex for network interface",
    ),
    pytest.param(
        spec_with(networkInterfaces=[nic(networkCardIndex=-1)]),
        None,
        "providerSpec.networkInterfaces[0].networkCardIndex: Invalid value: -1: must be >= 0",
        id="Negative networkCardIndex for network interface",
    ),
    # 21-24
    pytest.param(
        spec_with(placement={"tenancy": "invalid"}),
        None,
        'providerSpec.placement.tenancy: Unsupported value: "invalid": supported values:'
        ' "default", "dedicated", "host"',
        id="Invalid placement tenancy",
    ),
    pytest.param(
        spec_with(placement={"affinity": "any"}),
        None,
        'providerSpec.placement.affinity: Unsupported value: "any": supported values: "default",'
        ' "host"',
        id="Invalid placement affinity",
    ),
    pytest.param(
        spec_with(placement={"hostId": "h-1", "tenancy": "dedicated"}),
        None,
        'providerSpec.placement.hostId: Forbidden: hostId can only be set when tenancy is "host"',
        id="Placement hostId without tenancy host",
    ),
    pytest.param(
        spec_with(placement={"partitionNumber": 0}),
        None,
        "providerSpec.placement.partitionNumber: Invalid value: 0: must be >= 1",
        id="Placement partitionNumber below 1",
    ),
    # 25
    pytest.param(
        spec_with(instanceMarketOptions={"marketType": "invalid"}),
        None,
        'providerSpec.instanceMarketOptions.marketType: Unsupported value: "invalid": supported'
        ' values: "spot", "capacity-block", "interruptible-capacity-reservation"',
        id="Invalid instanceMarketOptions marketType",
    ),
    pytest.param(
        spec_with(instanceMarketOptions={}),
        None,
        'providerSpec.instanceMarketOptions.marketType: Unsupported value: "": supported values:'
        ' "spot", "capacity-block", "interruptible-capacity-reservation"',
        id="empty instanceMarketOptions marketType",
    ),
    # 27-31
    pytest.param(
        VALID_SPEC,
        {"workloadIdentityTokenFile": b"", "roleARN": b"arn", "userData": b"x"},
        "secretRef.workloadIdentityTokenFile: Required value: Workload identity token file is"
        " required",
        id="empty workload identity token file",
    ),
    pytest.param(
        VALID_SPEC,
        {"workloadIdentityTokenFile": b"/token", "roleARN": b"", "userData": b"x"},
        "secretRef.roleARN: Required value: Role ARN is required when workload identity is used",
        id="empty role ARN with workload identity",
    ),
    pytest.param(
        VALID_SPEC,
        {"workloadIdentityTokenFile": b"", "userData": b""},
        [
            "secretRef.workloadIdentityTokenFile: Required value: Workload identity token file is"
            " required",
            "secretRef.roleARN: Required value: Role ARN is required when workload identity is"
            " used",
            "secretRef.userData: Required value: Mention userData",
        ],
        id="should fail to validate the secret",
    ),
    pytest.param(
        VALID_SPEC,
        {"providerSecretAccessKey": b"k", "userData": b"x"},
        "secretRef.AWSAccessKeyID: Required value: Mention atleast providerAccessKeyId or"
        " accessKeyID",
        id="ProviderAccessKeyID is missing",
    ),
    pytest.param(
        VALID_SPEC,
        {"providerAccessKeyId": b"id", "providerSecretAccessKey": b"", "userData": b"x"},
        "secretRef.AWSSecretAccessKey: Required value: Mention atleast providerSecretAccessKey or"
        " secretAccessKey",
        id="Mention atleast AWSSecretAccessKey or AWSAlternativeSecretAccessKey",
    ),
    pytest.param(
        VALID_SPEC,
        {"providerAccessKeyId": b"id", "providerSecretAccessKey": b"k"},
        "secretRef.userData: Required value: Mention userData",
        id="Secret UserData is required field",
    ),
    # 32-33
    pytest.param(
        spec_with(tags={"kubernetes.io/role/test": "1"}),
        None,
        "providerSpec.tags[]: Required value: Tag required of the form kubernetes.io/cluster/****",
        id="Cluster tag missing",
    ),
    pytest.param(
        spec_with(tags={"kubernetes.io/cluster/shoot--test": "1"}),
        None,
        "providerSpec.tags[]: Required value: Tag required of the form kubernetes.io/role/****",
        id="Role tag missing",
    ),
    pytest.param(
        spec_with(
            tags={
                "kubernetes.io/cluster/a": "1",
                "kubernetes.io/role/x-kubernetes.io/cluster/b": "1",
            }
        ),
        None,
        "providerSpec.tags[]: Required value: Tag required of the form kubernetes.io/role/****",
        id="a key containing both prefixes counts only as the cluster tag",
    ),
    # 34-37
    pytest.param(
        spec_with(instanceMetadataOptions={"httpPutResponseHopLimit": 72}),
        None,
        "providerSpec.instanceMetadata.httpPutResponseHopLimit: Invalid value: 72: Only values"
        " between 0 and 64, both included, are accepted",
        id="AWS machine class with instanceMetadata with invalid httpPutResponseHopLimit",
    ),
    pytest.param(
        spec_with(instanceMetadataOptions={"httpPutResponseHopLimit": -1}),
        None,
        "providerSpec.instanceMetadata.httpPutResponseHopLimit: Invalid value: -1: Only values"
        " between 0 and 64, both included, are accepted",
        id="negative httpPutResponseHopLimit",
    ),
    pytest.param(
        spec_with(instanceMetadataOptions={"httpEndpoint": "foobar"}),
        None,
        'providerSpec.instanceMetadata.httpEndpoint: Invalid value: "foobar": Accepted values:'
        " [disabled enabled]",
        id="AWS machine class with instanceMetadata with invalid httpEndpoint",
    ),
    pytest.param(
        spec_with(instanceMetadataOptions={"httpTokens": "foobar"}),
        None,
        'providerSpec.instanceMetadata.httpTokens: Invalid value: "foobar": Accepted values:'
        " [required optional]",
        id="AWS machine class with instanceMetadata with invalid httpTokens",
    ),
    pytest.param(
        spec_with(instanceMetadataOptions={"httpProtocolIpv6": "foobar"}),
        None,
        'providerSpec.instanceMetadata.httpProtocolIpv6: Invalid value: "foobar": Accepted'
        " values: [enabled disabled]",
        id="AWS machine class with instanceMetadata with invalid httpProtocolIpv6",
    ),
    # 38-40
    pytest.param(
        spec_with(cpuOptions={"amdSevSnp": "invalid"}),
        None,
        'providerSpec.cpuOptions.amdSevSnp: Invalid value: "invalid": AmdSevSnp must be one of'
        " [enabled disabled]",
        id="invalid amdSevSnp should be rejected",
    ),
    pytest.param(
        spec_with(cpuOptions={"amdSevSnp": "<&>"}),
        None,
        'providerSpec.cpuOptions.amdSevSnp: Invalid value: "\\u003c\\u0026\\u003e": AmdSevSnp'
        " must be one of [enabled disabled]",
        id="amdSevSnp is rendered as Go JSON",
    ),
    pytest.param(
        spec_with(cpuOptions={"threadsPerCore": 2}),
        None,
        "providerSpec.cpuOptions.coreCount: Required value: CoreCount is required when"
        " ThreadsPerCore is set",
        id="only ThreadsPerCore set should require CoreCount",
    ),
    pytest.param(
        spec_with(cpuOptions={"coreCount": 2}),
        None,
        "providerSpec.cpuOptions.threadsPerCore: Required value: ThreadsPerCore is required when"
        " CoreCount is set",
        id="only CoreCount set should require ThreadsPerCore",
    ),
    pytest.param(
        spec_with(cpuOptions={"threadsPerCore": 3}),
        None,
        "providerSpec.cpuOptions.coreCount: Required value: CoreCount is required when"
        " ThreadsPerCore is set",
        id="a missing CoreCount skips the ThreadsPerCore value check",
    ),
    pytest.param(
        spec_with(cpuOptions={"coreCount": 2, "threadsPerCore": 3}),
        None,
        "providerSpec.cpuOptions.threadsPerCore: Invalid value: 3: ThreadsPerCore must be 1 or 2",
        id="invalid ThreadsPerCore value should be rejected",
    ),
]


@pytest.mark.parametrize(("raw", "secret", "expected"), RULES)
def test_each_rule_reports_upstreams_exact_error(raw, secret, expected):
    expected_list = [expected] if isinstance(expected, str) else expected

    assert errors_of(raw, secret) == expected_list


def test_a_missing_secret_is_reported_at_secretref():
    errors = validate_provider_spec(AWSProviderSpec.from_dict(VALID_SPEC), None)

    assert [str(e) for e in errors] == ["secretRef[]: Required value: secretRef is required"]


def test_errors_come_in_upstreams_order():
    raw = {
        "iam": {},
        "blockDevices": [{"deviceName": "/dev/sdaa"}, {"deviceName": "/root"}],
        "networkInterfaces": [{"interfaceType": "bad", "deviceIndex": -1}],
        "placement": {"hostId": "h", "tenancy": "x"},
        "instanceMarketOptions": {},
        "instanceMetadataOptions": {"httpTokens": "x"},
        "cpuOptions": {"amdSevSnp": "x"},
        "capacityReservation": {
            "capacityReservationId": "a",
            "capacityReservationResourceGroupArn": "b",
        },
    }

    errors = validate_provider_spec(AWSProviderSpec.from_dict(raw), SecretData({}))

    assert [e.field for e in errors] == [
        "providerSpec.ami",
        "providerSpec.region",
        "providerSpec.machineType",
        "providerSpec.iam",
        "providerSpec.blockDevices[0].deviceName",
        "providerSpec.blockDevices[0].ebs.volumeType",
        "providerSpec.blockDevices[0].ebs.volumeSize",
        "providerSpec.blockDevices[1].ebs.volumeType",
        "providerSpec.blockDevices[1].ebs.volumeSize",
        "providerSpec.capacityReservation",
        "providerSpec.networkInterfaces[0].subnetID",
        "providerSpec.networkInterfaces[0].securityGroupIDs",
        "providerSpec.networkInterfaces[0].interfaceType",
        "providerSpec.networkInterfaces[0].deviceIndex",
        "providerSpec.placement.tenancy",
        "providerSpec.placement.hostId",
        "providerSpec.instanceMarketOptions.marketType",
        "secretRef.AWSAccessKeyID",
        "secretRef.AWSSecretAccessKey",
        "secretRef.userData",
        "providerSpec.tags[]",
        "providerSpec.tags[]",
        "providerSpec.instanceMetadata.httpTokens",
        "providerSpec.cpuOptions.amdSevSnp",
    ]


def test_field_errors_carry_their_kubernetes_type():
    errors = validate_provider_spec(
        AWSProviderSpec.from_dict(
            spec_with(ami="", iam={}, placement={"hostId": "h", "affinity": "x"})
        ),
        SecretData(STATIC_SECRET),
    )

    assert [e.type for e in errors] == [
        ErrorType.REQUIRED,
        ErrorType.INVALID,
        ErrorType.NOT_SUPPORTED,
        ErrorType.FORBIDDEN,
    ]


# ----------------------------------------------------------------------- how the driver reports it


def test_the_driver_error_matches_upstreams_for_missing_ami_and_region():
    raw = spec_with(ami=None, region=None)
    errors = validate_provider_spec(AWSProviderSpec.from_dict(raw), SecretData(STATIC_SECRET))

    error = validation_error(errors)

    assert error.code is Code.INVALID_ARGUMENT
    assert str(error) == (
        "machine codes error: code = [InvalidArgument] message = [error while validating"
        " ProviderSpec [providerSpec.ami: Required value: AMI is required, providerSpec.region:"
        " Required value: Region is required]]"
    )
    decoded, ok = from_error(error)
    assert ok
    assert decoded.code is Code.INVALID_ARGUMENT


def test_a_single_error_is_reported_without_brackets():
    errors = validate_provider_spec(
        AWSProviderSpec.from_dict(VALID_SPEC),
        SecretData({"providerAccessKeyId": b"id", "providerSecretAccessKey": b"k"}),
    )

    message = validation_error_message(errors)

    assert message == (
        "error while validating ProviderSpec secretRef.userData: Required value: Mention userData"
    )


def test_repeated_texts_are_reported_once():
    twice = FieldError(type=ErrorType.REQUIRED, field="providerSpec.ami", detail="AMI is required")
    other = FieldError(type=ErrorType.FORBIDDEN, field="providerSpec.x")

    assert validation_error_message([twice, twice]) == (
        "error while validating ProviderSpec providerSpec.ami: Required value: AMI is required"
    )
    assert validation_error_message([twice, other, twice]) == (
        "error while validating ProviderSpec [providerSpec.ami: Required value: AMI is required,"
        " providerSpec.x: Forbidden]"
    )


def test_there_is_no_message_for_no_errors():
    with pytest.raises(ValueError, match="no validation errors"):
        validation_error_message([])


def test_decode_provider_spec_returns_the_spec_when_valid():
    spec = decode_provider_spec(VALID_SPEC, SecretData(STATIC_SECRET))

    assert spec == AWSProviderSpec.from_dict(VALID_SPEC)


@pytest.mark.parametrize(
    ("raw", "code", "message"),
    [
        pytest.param(
            None, Code.INTERNAL, "unexpected end of JSON input", id="Unexpected end of JSON input"
        ),
        pytest.param(
            spec_with(ami=5),
            Code.INTERNAL,
            "json: cannot unmarshal number into Go struct field AWSProviderSpec.ami of type string",
            id="Unmarshalling for provider spec fails",
        ),
        pytest.param(
            spec_with(ami=None, region=None),
            Code.INVALID_ARGUMENT,
            "error while validating ProviderSpec [providerSpec.ami: Required value: AMI is"
            " required, providerSpec.region: Required value: Region is required]",
            id="Validation for providerSpec fails. Missing AMI & Region.",
        ),
    ],
)
def test_decode_provider_spec_fails_with_upstreams_codes(raw, code, message):
    with pytest.raises(MachineError) as caught:
        decode_provider_spec(raw, SecretData(STATIC_SECRET))

    assert caught.value.code is code
    assert caught.value.message == message


def test_secret_values_never_appear_in_validation_errors():
    secret = {
        "providerAccessKeyId": b"",
        "accessKeyID": b"AKIASECRETVALUE1",
        "providerSecretAccessKey": b"",
        "userData": b"",
        "roleARN": b"arn:secret-role-value",
    }
    raw = spec_with(ami=None)

    with pytest.raises(MachineError) as caught:
        decode_provider_spec(raw, SecretData(secret))

    text = str(caught.value) + repr(caught.value)
    assert "secretRef.AWSSecretAccessKey" in text
    assert "AKIASECRETVALUE1" not in text
    assert "secret-role-value" not in text
