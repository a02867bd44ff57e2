"""Decoding ``providerSpec`` into `AWSProviderSpec` with Go ``encoding/json``'s semantics.

The expected error texts were checked against Go's decoder on upstream's struct definitions.
"""

from __future__ import annotations

import types
from typing import Any

import attrs
import pytest

from mcm.api.machineclass import MachineClass
from mcm.api.meta import freeze
from mcm_provider_aws.provider_spec import (
    AWSBlockDeviceMappingSpec,
    AWSCapacityReservationTargetSpec,
    AWSEbsBlockDeviceSpec,
    AWSIAMProfileSpec,
    AWSInstanceMarketOptions,
    AWSNetworkInterfaceSpec,
    AWSPlacementSpec,
    AWSProviderSpec,
    CPUOptions,
    InstanceMetadataOptions,
    ProviderSpecDecodeError,
)

FULL_SPEC: dict[str, Any] = {
    "apiVersion": "mcm.gardener.cloud/v1alpha1",
    "ami": "ami-0123",
    "region": "eu-west-1",
    "machineType": "m5.large",
    "iam": {"name": "profile"},
    "keyName": "ssh-key",
    "networkInterfaces": [
        {
            "subnetID": "subnet-1",
            "securityGroupIDs": ["sg-1", "sg-2"],
            "associatePublicIPAddress": True,
            "deleteOnTermination": False,
            "description": "primary",
            "deviceIndex": 0,
            "networkCardIndex": 1,
            "interfaceType": "efa",
            "ipv6AddressCount": 1,
            "primaryIpv6": False,
            "ipv6PrefixCount": 2,
        }
    ],
    "blockDevices": [
        {
            "deviceName": "/root",
            "ebs": {
                "deleteOnTermination": False,
                "encrypted": True,
                "iops": 3000,
                "kmsKeyID": "key",
                "snapshotID": "snap-1",
                "throughput": 125,
                "volumeSize": 50,
                "volumeType": "gp3",
            },
            "noDevice": "nd",
            "virtualName": "ephemeral0",
        }
    ],
    "tags": {"kubernetes.io/cluster/shoot": "1", "kubernetes.io/role/node": "1"},
    "capacityReservation": {
        "capacityReservationPreference": "open",
        "capacityReservationId": "cr-1",
        "capacityReservationResourceGroupArn": "arn:group",
    },
    "instanceMarketOptions": {"marketType": "spot"},
    "spotPrice": "0.5",
    "placement": {
        "groupId": "pg-1",
        "tenancy": "host",
        "hostId": "h-1",
        "partitionNumber": 2,
        "affinity": "host",
    },
    "instanceMetadataOptions": {
        "httpEndpoint": "enabled",
        "httpPutResponseHopLimit": 2,
        "httpTokens": "required",
        "httpProtocolIpv6": "disabled",
    },
    "cpuOptions": {"coreCount": 4, "threadsPerCore": 1, "amdSevSnp": "enabled"},
    "srcAndDstChecksEnabled": False,
    "ebsOptimized": True,
    "monitoring": True,
}


def test_every_field_decodes_under_its_json_name():
    spec = AWSProviderSpec.from_dict(FULL_SPEC)

    assert spec == AWSProviderSpec(
        api_version="mcm.gardener.cloud/v1alpha1",
        ami="ami-0123",
        region="eu-west-1",
        machine_type="m5.large",
        iam=AWSIAMProfileSpec(name="profile"),
        key_name="ssh-key",
        network_interfaces=(
            AWSNetworkInterfaceSpec(
                subnet_id="subnet-1",
                security_group_ids=("sg-1", "sg-2"),
                associate_public_ip_address=True,
                delete_on_termination=False,
                description="primary",
                device_index=0,
                network_card_index=1,
                interface_type="efa",
                ipv6_address_count=1,
                primary_ipv6=False,
                ipv6_prefix_count=2,
            ),
        ),
        block_devices=(
            AWSBlockDeviceMappingSpec(
                device_name="/root",
                ebs=AWSEbsBlockDeviceSpec(
                    delete_on_termination=False,
                    encrypted=True,
                    iops=3000,
                    kms_key_id="key",
                    snapshot_id="snap-1",
                    throughput=125,
                    volume_size=50,
                    volume_type="gp3",
                ),
                no_device="nd",
                virtual_name="ephemeral0",
            ),
        ),
        tags=types.MappingProxyType(
            {"kubernetes.io/cluster/shoot": "1", "kubernetes.io/role/node": "1"}
        ),
        capacity_reservation=AWSCapacityReservationTargetSpec(
            capacity_reservation_preference="open",
            capacity_reservation_id="cr-1",
            capacity_reservation_resource_group_arn="arn:group",
        ),
        instance_market_options=AWSInstanceMarketOptions(market_type="spot"),
        spot_price="0.5",
        placement=AWSPlacementSpec(
            group_id="pg-1", tenancy="host", host_id="h-1", partition_number=2, affinity="host"
        ),
        instance_metadata_options=InstanceMetadataOptions(
            http_endpoint="enabled",
            http_put_response_hop_limit=2,
            http_tokens="required",
            http_protocol_ipv6="disabled",
        ),
        cpu_options=CPUOptions(core_count=4, threads_per_core=1, amd_sev_snp="enabled"),
        src_and_dst_checks_enabled=False,
        ebs_optimized=True,
        monitoring=True,
    )


def test_a_machine_classes_frozen_provider_spec_decodes_the_same():
    machine_class = MachineClass.from_dict(
        {"metadata": {"name": "c", "namespace": "ns"}, "provider": "AWS", "providerSpec": FULL_SPEC}
    )

    assert AWSProviderSpec.from_dict(machine_class.provider_spec) == AWSProviderSpec.from_dict(
        FULL_SPEC
    )


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param({"networkInterfaces": [{"securityGroupIDs": "sg"}]}, id="string for a slice"),
        pytest.param({"tags": [["a", "b"]]}, id="array for a map"),
    ],
)
def test_frozen_json_fails_like_plain_json(raw):
    with pytest.raises(ProviderSpecDecodeError) as plain:
        AWSProviderSpec.from_dict(raw)
    with pytest.raises(ProviderSpecDecodeError) as frozen:
        AWSProviderSpec.from_dict(freeze(raw))

    assert str(frozen.value) == str(plain.value)


def test_an_empty_object_decodes_to_go_zero_values():
    spec = AWSProviderSpec.from_dict({})

    assert spec == AWSProviderSpec()
    assert (spec.ami, spec.block_devices, spec.network_interfaces, dict(spec.tags)) == (
        "",
        (),
        (),
        {},
    )
    assert spec.iam == AWSIAMProfileSpec(arn="", name="")
    assert spec.key_name is None
    assert spec.placement is None
    assert spec.cpu_options is None


def test_unknown_keys_are_ignored():
    spec = AWSProviderSpec.from_dict(
        {"ami": "a", "availabilityZone": "eu-west-1a", "ipv4PrefixCount": 3}
    )

    assert spec == AWSProviderSpec(ami="a")


def test_keys_match_case_insensitively():
    spec = AWSProviderSpec.from_dict(
        {
            "AMI": "a",
            "Region": "r",
            "BLOCKDEVICES": [{"EBS": {"VolumeSize": 5}}],
            "\u212aeyName": "k",
        }
    )

    assert (spec.ami, spec.region, spec.key_name) == (
        "a",
        "r",
        "k",
    )  # U+212A KELVIN SIGN folds to k
    assert spec.block_devices[0].ebs.volume_size == 5


def test_a_later_key_for_the_same_field_merges_into_the_earlier_value():
    spec = AWSProviderSpec.from_dict(
        {
            "iam": {"name": "a"},
            "IAM": {"arn": "b"},
            "tags": {"x": "1"},
            "Tags": {"y": "2"},
            "cpuOptions": {"coreCount": 2},
            "CPUOPTIONS": {"threadsPerCore": 1},
            "blockDevices": [{"deviceName": "/root"}, {"deviceName": "/dev/sdb"}],
            "BlockDevices": [{"ebs": {"volumeSize": 9}}],
        }
    )

    assert spec.iam == AWSIAMProfileSpec(name="a", arn="b")
    assert dict(spec.tags) == {"x": "1", "y": "2"}
    assert spec.cpu_options == CPUOptions(core_count=2, threads_per_core=1)
    assert spec.block_devices == (
        AWSBlockDeviceMappingSpec(device_name="/root", ebs=AWSEbsBlockDeviceSpec(volume_size=9)),
    )


def test_null_clears_pointers_slices_and_maps_and_leaves_other_fields_alone():
    spec = AWSProviderSpec.from_dict(
        {
            "iam": {"name": "a"},
            "IAM": None,
            "cpuOptions": {"coreCount": 2},
            "CpuOptions": None,
            "tags": {"x": "1"},
            "TAGS": None,
            "networkInterfaces": [{"subnetID": "s"}],
            "NetworkInterfaces": None,
            "ebsOptimized": None,
            "blockDevices": [None, {"ebs": None, "deviceName": None}],
        }
    )

    assert spec.iam == AWSIAMProfileSpec(name="a")
    assert spec.cpu_options is None
    assert dict(spec.tags) == {}
    assert spec.network_interfaces == ()
    assert spec.ebs_optimized is False
    assert spec.block_devices == (AWSBlockDeviceMappingSpec(), AWSBlockDeviceMappingSpec())


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        pytest.param(2.0, 2, id="integral float, as the API server normalises it"),
        pytest.param(-2147483648, -(2**31), id="int32 minimum"),
        pytest.param(2147483647, 2**31 - 1, id="int32 maximum"),
    ],
)
def test_integers_within_int32_decode(number, expected):
    spec = AWSProviderSpec.from_dict({"blockDevices": [{"ebs": {"volumeSize": number}}]})

    assert spec.block_devices[0].ebs.volume_size == expected


def test_decoded_objects_are_immutable():
    spec = AWSProviderSpec.from_dict(FULL_SPEC)

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        spec.ami = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.tags["new"] = "x"  # type: ignore[index]
    assert isinstance(spec.block_devices, tuple)
    assert isinstance(spec.network_interfaces[0].security_group_ids, tuple)


def test_the_raw_input_is_not_kept_or_changed():
    raw: dict[str, Any] = {"ami": "a", "tags": {"x": "1"}}

    spec = AWSProviderSpec.from_dict(raw)
    raw["tags"]["x"] = "changed"

    assert spec.tags["x"] == "1"


DECODE_ERRORS = [
    pytest.param(
        None, "unexpected end of JSON input", id="absent providerSpec (empty Raw upstream)"
    ),
    pytest.param(
        [], "json: cannot unmarshal array into Go value of type api.AWSProviderSpec", id="an array"
    ),
    pytest.param(
        "x",
        "json: cannot unmarshal string into Go value of type api.AWSProviderSpec",
        id="a string",
    ),
    pytest.param(
        {"ami": 5},
        "json: cannot unmarshal number into Go struct field AWSProviderSpec.ami of type string",
        id="number for a string",
    ),
    pytest.param(
        {"ebsOptimized": "true"},
        "json: cannot unmarshal string into Go struct field AWSProviderSpec.ebsOptimized of type"
        " bool",
        id="string for a bool",
    ),
    pytest.param(
        {"keyName": False},
        "json: cannot unmarshal bool into Go struct field AWSProviderSpec.keyName of type string",
        id="bool for a string pointer",
    ),
    pytest.param(
        {"iam": []},
        "json: cannot unmarshal array into Go struct field AWSProviderSpec.iam of type"
        " api.AWSIAMProfileSpec",
        id="array for a struct",
    ),
    pytest.param(
        {"placement": "x"},
        "json: cannot unmarshal string into Go struct field AWSProviderSpec.placement of type"
        " api.AWSPlacementSpec",
        id="string for a struct pointer",
    ),
    pytest.param(
        {"networkInterfaces": {}},
        "json: cannot unmarshal object into Go struct field AWSProviderSpec.networkInterfaces of"
        " type []api.AWSNetworkInterfaceSpec",
        id="object for a slice",
    ),
    pytest.param(
        {"networkInterfaces": [False]},
        "json: cannot unmarshal bool into Go struct field AWSProviderSpec.networkInterfaces of type"
        " api.AWSNetworkInterfaceSpec",
        id="bool for a slice element",
    ),
    pytest.param(
        {"networkInterfaces": [{"securityGroupIDs": ["sg", 1]}]},
        "json: cannot unmarshal number into Go struct field"
        " AWSNetworkInterfaceSpec.networkInterfaces.securityGroupIDs of type string",
        id="number in a string slice",
    ),
    pytest.param(
        {"tags": {"a": 1}},
        "json: cannot unmarshal number into Go struct field AWSProviderSpec.tags of type string",
        id="number as a tag value",
    ),
    pytest.param(
        {"tags": ["a"]},
        "json: cannot unmarshal array into Go struct field AWSProviderSpec.tags of type"
        " map[string]string",
        id="array for the tags map",
    ),
    pytest.param(
        {"blockDevices": [{"ebs": {"volumeSize": "50"}}]},
        "json: cannot unmarshal string into Go struct field"
        " AWSEbsBlockDeviceSpec.blockDevices.ebs.volumeSize of type int32",
        id="string for an int32 in a nested struct",
    ),
    pytest.param(
        {"BlockDevices": [{"EBS": {"VolumeSize": True}}]},
        "json: cannot unmarshal bool into Go struct field"
        " AWSEbsBlockDeviceSpec.blockDevices.ebs.volumeSize of type int32",
        id="the path uses the declared names, not the keys",
    ),
    pytest.param(
        {"cpuOptions": {"coreCount": 1.5}},
        "json: cannot unmarshal number 1.5 into Go struct field CPUOptions.cpuOptions.coreCount of"
        " type int32",
        id="fraction for an int32",
    ),
    pytest.param(
        {"cpuOptions": {"threadsPerCore": 3000000000}},
        "json: cannot unmarshal number 3000000000 into Go struct field"
        " CPUOptions.cpuOptions.threadsPerCore of type int32",
        id="int32 overflow",
    ),
    pytest.param(
        {"placement": {"partitionNumber": -2147483649}},
        "json: cannot unmarshal number -2147483649 into Go struct field"
        " AWSPlacementSpec.placement.partitionNumber of type int32",
        id="int32 underflow",
    ),
    pytest.param(
        {"instanceMetadataOptions": {"httpPutResponseHopLimit": 1e-7}},
        "json: cannot unmarshal number 1e-7 into Go struct field"
        " InstanceMetadataOptions.instanceMetadataOptions.httpPutResponseHopLimit of type int32",
        id="a small float in Go's notation",
    ),
    pytest.param(
        {"blockDevices": [{"ebs": {"iops": 1e22}}]},
        "json: cannot unmarshal number 1e+22 into Go struct field"
        " AWSEbsBlockDeviceSpec.blockDevices.ebs.iops of type int32",
        id="a large float in Go's notation",
    ),
    pytest.param(
        {"blockDevices": [{"ebs": {"iops": 1e19}}]},
        "json: cannot unmarshal number 10000000000000000000 into Go struct field"
        " AWSEbsBlockDeviceSpec.blockDevices.ebs.iops of type int32",
        id="an integral float beyond int64",
    ),
    pytest.param(
        {"capacityReservation": {"capacityReservationId": 1}},
        "json: cannot unmarshal number into Go struct field"
        " AWSCapacityReservationTargetSpec.capacityReservation.capacityReservationId of type"
        " string",
        id="number for a string pointer in a struct pointer",
    ),
    pytest.param(
        {"instanceMarketOptions": {"marketType": []}},
        "json: cannot unmarshal array into Go struct field"
        " AWSInstanceMarketOptions.instanceMarketOptions.marketType of type string",
        id="array for a string",
    ),
    pytest.param(
        {"srcAndDstChecksEnabled": "false"},
        "json: cannot unmarshal string into Go struct field AWSProviderSpec.srcAndDstChecksEnabled"
        " of type bool",
        id="string for a bool pointer",
    ),
    pytest.param(
        {"ami": 1, "region": 2},
        "json: cannot unmarshal number into Go struct field AWSProviderSpec.ami of type string",
        id="the first error in document order wins",
    ),
    pytest.param(
        {"region": 2, "ami": 1},
        "json: cannot unmarshal number into Go struct field AWSProviderSpec.region of type string",
        id="the first error in document order wins, reversed",
    ),
]


@pytest.mark.parametrize(("raw", "message"), DECODE_ERRORS)
def test_a_wrong_type_fails_with_gos_message(raw, message):
    with pytest.raises(ProviderSpecDecodeError) as caught:
        AWSProviderSpec.from_dict(raw)

    assert str(caught.value) == message
    assert caught.value.message == message


def test_decode_errors_do_not_quote_string_values():
    with pytest.raises(ProviderSpecDecodeError) as caught:
        AWSProviderSpec.from_dict({"tags": {"k": "v"}, "region": "r", "ami": {"secret": "s3cr3t"}})

    assert "s3cr3t" not in str(caught.value)
