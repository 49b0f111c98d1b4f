"""What the loop reads: one store. ``--dataset`` only ingests into one first.

``flywheel run --db URL`` runs on what the store holds - documents, queries, judgments by split
and source, LLM grades, logged events. ``flywheel run --dataset DIR|NAME`` ingests the folder
into ``--db`` (or into a fresh store in the output folder) and then takes the same path, so
there is one loop, not one for benchmark folders and another for a team's own data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flywheel.data.events import Event
from flywheel.data.types import RetrievalDataset
from flywheel.errors import ConfigError
from flywheel.judging.labels import LLMLabels
from flywheel.pipeline.config import LoopConfig
from flywheel.pipeline.resolve import resolve_dataset
from flywheel.store import JudgmentSource, Store

# Judgments a person or a benchmark made; LLM grades are read apart (they have a threshold)
JUDGED_SOURCES = (JudgmentSource.HUMAN, JudgmentSource.BENCHMARK)


@dataclass
class LoopData:
    """A store's contents, read once: the dataset (qrels per split from people and benchmarks),
    its LLM grades and its events."""

    dataset: RetrievalDataset
    store_url: str
    events: list[Event] = field(default_factory=list)
    llm: LLMLabels | None = None


def store_url(config: LoopConfig, out: Path) -> str:
    """``config.db``, or a fresh SQLite store in the output folder for ``--dataset`` alone."""
    if config.db:
        return config.db
    if config.dataset is None:
        raise ConfigError("nothing to run on; pass --db URL (a store) or --dataset DIR|NAME")
    path = out / "store.db"
    for stale in (path, path.with_name("store.db-wal"), path.with_name("store.db-shm")):
        stale.unlink(missing_ok=True)  # a leftover store from an earlier run would mix in
    return f"sqlite:///{path}"


def load_loop_data(config: LoopConfig, *, out: Path, say: Callable[[str], None]) -> LoopData:
    """Ingest ``config.dataset`` when given, then read the store."""
    url = store_url(config, out)
    name = "flywheel"
    with Store(url) as store:
        if config.dataset is not None:
            folder = resolve_dataset(config.dataset, work_dir=out)
            store.ingest_beir(folder)
            name = Path(folder).name
            say(f"ingested {folder} into {url}")
        dataset = store.to_dataset(name, sources=[str(s) for s in JUDGED_SOURCES])
        events = store.events() if config.use_events else []
        llm = LLMLabels.from_store(store) if config.use_llm_labels else None
    if not dataset.corpus:
        raise ConfigError(f"the store {url} holds no documents; ingest a corpus first")
    return LoopData(dataset=dataset, store_url=url, events=events, llm=llm)
