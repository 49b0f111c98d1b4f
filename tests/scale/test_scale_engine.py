"""How the actor pool is sized from a cluster's resources (no Ray needed: a stand-in cluster)."""

from __future__ import annotations

import pytest

from flywheel.errors import ConfigError
from flywheel.scale.engine import RayOptions, parse_engine, plan_pool


class Cluster:
    """Just what ``plan_pool`` asks of ``ray``."""

    def __init__(self, **resources: float) -> None:
        self.resources = resources

    def cluster_resources(self) -> dict[str, float]:
        return self.resources


def test_one_actor_per_gpu_when_the_cluster_has_gpus() -> None:
    plan = plan_pool(Cluster(CPU=64, GPU=8), RayOptions())
    assert (plan.workers, plan.num_cpus, plan.num_gpus) == (8, 1.0, 1.0)
    plan = plan_pool(Cluster(CPU=64, GPU=8), RayOptions(cpus_per_worker=4))
    assert (plan.workers, plan.num_cpus) == (8, 4.0)  # tokenising gets 4 cores per GPU


def test_one_actor_per_cpu_slot_without_gpus() -> None:
    assert plan_pool(Cluster(CPU=16), RayOptions()).workers == 16
    plan = plan_pool(Cluster(CPU=16), RayOptions(cpus_per_worker=4))
    assert (plan.workers, plan.num_gpus) == (4, 0.0)
    assert plan_pool(Cluster(CPU=16, GPU=2), RayOptions(gpus_per_worker=0)).workers == 16


def test_asking_for_more_than_the_cluster_has_fails_with_the_numbers() -> None:
    with pytest.raises(ConfigError, match="3 workers need 3 CPUs and 3 GPUs; .* 2 GPUs"):
        plan_pool(Cluster(CPU=16, GPU=2), RayOptions(workers=3))
    with pytest.raises(ConfigError, match="gpus_per_worker=1.0 but the Ray cluster has 0 GPUs"):
        plan_pool(Cluster(CPU=16), RayOptions(gpus_per_worker=1.0))


def test_bad_options_and_engines_are_refused_before_any_work() -> None:
    with pytest.raises(ConfigError, match="workers must be >= 1"):
        RayOptions(workers=0)
    with pytest.raises(ConfigError, match="below Ray's minimum"):
        RayOptions(object_store_mb=10)
    with pytest.raises(ConfigError, match="unknown engine 'spark'; choose one of: local, ray"):
        parse_engine("spark")
