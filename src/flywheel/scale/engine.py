"""Where batch work runs: ``local`` (this process, the default) or ``ray`` (Ray Data actors).

The Ray engine is Ray itself, not a scheduler of ours: each job is one Ray Data pipeline whose
model step is ``map_batches`` over an actor pool (one model loaded per actor, a GPU per actor
when the cluster has GPUs), writing Parquet shards from the workers. :func:`ray_session` starts
a small local Ray (the machine's cores, no dashboard, a small object store) unless Ray is
already running or an address is given, in which case the same job runs on that cluster
unchanged. ``import flywheel.scale`` does not import Ray; a missing Ray says which extra to
install.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from flywheel._internal.choices import parse_choice
from flywheel._internal.progress import progress_enabled
from flywheel.errors import ConfigError, MissingDependencyError
from flywheel.scale.shards import split_blocks
from flywheel.settings import ensure_offline

logger = logging.getLogger(__name__)

#: Environment variables every Ray worker must see (offline model loading, the cache folder).
_FORWARDED_ENV = (
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "FLYWHEEL_ALLOW_NETWORK",
    "FLYWHEEL_CACHE",
    "HF_HOME",
)


class Engine(StrEnum):
    """``local``: one process (the library's normal path); ``ray``: Ray Data actors."""

    LOCAL = "local"
    RAY = "ray"


def parse_engine(value: str | Engine) -> Engine:
    return parse_choice(Engine, str(value), "engine")


@dataclass(frozen=True)
class RayOptions:
    """How a job uses Ray.

    ``address``: a running cluster (``ray://host:10001`` or ``auto``); ``None`` starts a local
    Ray sized by ``num_cpus`` (default: this machine's cores) and ``object_store_mb``, stopped
    when the job ends. ``workers``: actors in the pool (default: one per GPU, else one per CPU
    of the cluster). ``cpus_per_worker``: CPU threads each actor's model may use.
    ``gpus_per_worker``: ``None`` takes one GPU per actor when the cluster has GPUs, else none.
    ``batch_size``: rows per ``map_batches`` call (the model batches inside it).
    """

    address: str | None = None
    workers: int | None = None
    num_cpus: int | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float | None = None
    object_store_mb: int = 500
    batch_size: int = 256

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.cpus_per_worker <= 0:
            raise ConfigError(f"cpus_per_worker must be > 0, got {self.cpus_per_worker}")
        if self.object_store_mb < 100:
            raise ConfigError(
                f"object_store_mb={self.object_store_mb} is below Ray's minimum; use >= 100"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def require_ray() -> Any:
    """``ray`` with Ray Data, or a :class:`MissingDependencyError` naming the extra."""
    if importlib.util.find_spec("ray") is None:
        raise MissingDependencyError("ray[data]", extra="ray")
    import ray
    import ray.data  # noqa: F401  (Ray Data ships with the 'data' extra)

    return ray


@contextmanager
def ray_session(options: RayOptions) -> Iterator[Any]:
    """A connected Ray for the duration of one job; started (and stopped) here when needed."""
    ray = require_ray()
    ensure_offline()
    started = False
    if not ray.is_initialized():
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no phoning home from a job
        env = {name: os.environ[name] for name in _FORWARDED_ENV if name in os.environ}
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "configure_logging": False,
            "log_to_driver": False,
        }
        if options.address:
            kwargs["address"] = options.address
            kwargs["runtime_env"] = {"env_vars": env}  # a cluster's workers do not inherit ours
        else:
            kwargs["num_cpus"] = options.num_cpus or os.cpu_count() or 1
            kwargs["object_store_memory"] = options.object_store_mb * 1024 * 1024
        logger.info("starting Ray (%s)", options.address or f"local, {kwargs.get('num_cpus')} CPUs")
        ray.init(**kwargs)
        started = True
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = progress_enabled()
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


@dataclass(frozen=True)
class PoolPlan:
    """The actor pool of one ``map_batches`` step, and the resources of each actor."""

    workers: int
    num_cpus: float
    num_gpus: float  # the model picks its device: Ray shows an actor only the GPUs it asked for

    def map_kwargs(self, ray: Any) -> dict[str, Any]:
        """The ``map_batches`` arguments that make this pool."""
        return {
            "compute": ray.data.ActorPoolStrategy(size=self.workers),
            "num_cpus": self.num_cpus,
            "num_gpus": self.num_gpus,
        }


def plan_pool(ray: Any, options: RayOptions) -> PoolPlan:
    """One actor per GPU when the cluster has GPUs (one model per GPU), else one per CPU slot;
    ``options.workers`` overrides the count. Asking for more than fits fails here, not as a
    job that waits forever for resources."""
    resources = ray.cluster_resources()
    cpus, gpus = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
    per_gpu = options.gpus_per_worker if options.gpus_per_worker is not None else (
        1.0 if gpus >= 1 else 0.0
    )  # fmt: skip
    if per_gpu > 0 and gpus < per_gpu:
        raise ConfigError(
            f"gpus_per_worker={per_gpu} but the Ray cluster has {gpus:g} GPUs; "
            "drop --gpus-per-worker or point --ray-address at a cluster with GPUs"
        )
    by_cpu = int(cpus // options.cpus_per_worker)
    fit = min(by_cpu, int(gpus // per_gpu)) if per_gpu > 0 else by_cpu
    workers = options.workers or max(1, fit)
    if workers > max(fit, 0):
        raise ConfigError(
            f"{workers} workers need {workers * options.cpus_per_worker:g} CPUs"
            + (f" and {workers * per_gpu:g} GPUs" if per_gpu else "")
            + f"; the Ray cluster has {cpus:g} CPUs and {gpus:g} GPUs. Ask for fewer workers, "
            "fewer CPUs per worker, or a larger cluster (--ray-address)"
        )
    return PoolPlan(workers=workers, num_cpus=options.cpus_per_worker, num_gpus=per_gpu)


def map_to_parquet(
    ray: Any,
    options: RayOptions,
    table: Any,
    worker: type,
    worker_kwargs: dict[str, Any],
    folder: Any,
) -> int:
    """One Ray Data step, the shape every batch job here has: ``table`` in blocks of
    ``options.batch_size`` rows, ``map_batches`` over an actor pool of ``worker`` (built once per
    actor with ``worker_kwargs``: one model per actor), Parquet shards into ``folder``. Returns
    the number of actors."""
    plan = plan_pool(ray, options)
    dataset = ray.data.from_arrow(split_blocks(table, options.batch_size)).map_batches(
        worker,
        batch_size=options.batch_size,
        batch_format="pyarrow",
        fn_constructor_kwargs=worker_kwargs,
        **plan.map_kwargs(ray),
    )
    dataset.write_parquet(str(folder))
    return plan.workers
