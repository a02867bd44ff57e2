"""Which volumes a drain tracks for each pod (upstream's getPodVolumeInfos, §8 scenario 57)."""

from __future__ import annotations

from mcm.api.core import Pod
from mcm.api.meta import ObjectKey
from mcm.controller.drain import PodVolumeInfo, VolumeInfo, pod_volume_infos
from mcm.driver import Code
from mcm.kube.resources import PERSISTENT_VOLUME_CLAIMS, PERSISTENT_VOLUMES
from mcm.testing.controller_env import ControllerEnv
from tests.unit.drain.builders import NAMESPACE, pod, pv, pvc, target


def pods(*bodies: dict[str, object]) -> list[Pod]:
    return [Pod.from_dict(body) for body in bodies]


def key(name: str) -> ObjectKey:
    return ObjectKey(NAMESPACE, name)


def test_an_empty_pod_list_has_no_volume_infos():
    assert pod_volume_infos(ControllerEnv().context, []) == {}


def test_pods_without_volumes_have_empty_volume_infos():
    infos = pod_volume_infos(ControllerEnv().context, pods(pod("bar0"), pod("bar1")))

    assert infos == {key("bar0"): PodVolumeInfo(), key("bar1"): PodVolumeInfo()}


def test_exclusive_volumes_are_tracked_with_the_driver_volume_id():
    env = ControllerEnv()
    target(env).seed(PERSISTENT_VOLUME_CLAIMS, pvc("claim", volume="exclusive-0"))
    target(env).seed(PERSISTENT_VOLUMES, pv("exclusive-0", handle="exclusive-0-id"))

    infos = pod_volume_infos(env.context, pods(pod("bar", claims=["claim"])))

    assert infos == {
        key("bar"): PodVolumeInfo(
            volumes=(VolumeInfo(persistent_volume_name="exclusive-0", volume_id="exclusive-0-id"),)
        )
    }
    assert infos[key("bar")].persistent_volume_names == ("exclusive-0",)
    assert infos[key("bar")].volume_ids == ("exclusive-0-id",)


def test_shared_volumes_are_filtered_out():
    env = ControllerEnv()
    api = target(env)
    for claim, volume in [("ex0", "exclusive0"), ("ex1", "exclusive1"), ("sh", "shared")]:
        api.seed(PERSISTENT_VOLUME_CLAIMS, pvc(claim, volume=volume))
        api.seed(PERSISTENT_VOLUMES, pv(volume))

    infos = pod_volume_infos(
        env.context, pods(pod("bar0", claims=["ex0", "sh"]), pod("bar1", claims=["ex1", "sh"]))
    )

    assert infos[key("bar0")].persistent_volume_names == ("exclusive0",)
    assert infos[key("bar1")].persistent_volume_names == ("exclusive1",)


def test_provider_unrelated_volumes_are_filtered_out():
    env = ControllerEnv()
    target(env).seed(PERSISTENT_VOLUME_CLAIMS, pvc("claim", volume="nfs-0"))
    target(env).seed(PERSISTENT_VOLUMES, pv("nfs-0", nfs=True))

    infos = pod_volume_infos(env.context, pods(pod("bar", claims=["claim"])))

    assert infos == {key("bar"): PodVolumeInfo()}


def test_missing_claims_are_filtered_out():
    infos = pod_volume_infos(ControllerEnv().context, pods(pod("bar", claims=["missing"])))

    assert infos == {key("bar"): PodVolumeInfo()}


def test_missing_persistent_volumes_are_filtered_out():
    env = ControllerEnv()
    target(env).seed(PERSISTENT_VOLUME_CLAIMS, pvc("claim", volume="gone"))

    infos = pod_volume_infos(env.context, pods(pod("bar", claims=["claim"])))

    assert infos == {key("bar"): PodVolumeInfo()}


def test_volumes_the_driver_fails_on_are_not_tracked():
    env = ControllerEnv()
    target(env).seed(PERSISTENT_VOLUME_CLAIMS, pvc("claim", volume="pv-0"))
    target(env).seed(PERSISTENT_VOLUMES, pv("pv-0"))
    env.driver.fail_always("get_volume_ids", Code.INTERNAL)

    infos = pod_volume_infos(env.context, pods(pod("bar", claims=["claim"])))

    assert infos == {key("bar"): PodVolumeInfo()}
