"""The few-shot library: a versioned, explained choice of examples, and prompts built from it.

``build_library(examples, embedder=...)`` (in :mod:`flywheel.fewshot.build`) filters the
examples for quality, groups them by intent, and picks each group's representatives (nearest
its centre, diverse by MMR). Every example gets a status and a reason: ``representative``
(chosen, with its rank in the group), ``candidate`` (passed the filters; a nearest-neighbour
pool for live queries) or ``excluded`` (with the filter that refused it).
``library.save(store)`` stores it as a new version; ``FewShotLibrary.load(store, name)`` reads
the newest (or a given) version back, and ``library.prompt(query, store=store)`` logs which
version each prompt came from.

Rotation: ``BuildConfig(rotate=True)`` with ``previous=`` the last version skips that version's
representatives where a group has other good examples, so successive versions show fresh ones.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from flywheel._internal.choices import parse_choice
from flywheel.errors import ConfigError
from flywheel.fewshot.examples import Example
from flywheel.fewshot.grouping import GroupingConfig
from flywheel.fewshot.prompting import DEFAULT_TEMPLATE, render_prompt
from flywheel.fewshot.quality import QualityConfig
from flywheel.fewshot.selectors import (
    DynamicConfig,
    ExamplePool,
    LibrarySelector,
    NearestNeighbourSelector,
    RandomSelector,
    Selection,
    StaticSelector,
)
from flywheel.retrieval.embedders import Embedder
from flywheel.store import fewshot as rows

logger = logging.getLogger(__name__)


class ExampleStatus(StrEnum):
    REPRESENTATIVE = "representative"
    CANDIDATE = "candidate"
    EXCLUDED = "excluded"


class PromptMode(StrEnum):
    """``dynamic``: per query (the library's way); ``static``: one fixed prompt; ``nearest`` and
    ``random``: the baselines, over the same pool (for experiments)."""

    DYNAMIC = "dynamic"
    STATIC = "static"
    NEAREST = "nearest"
    RANDOM = "random"


@dataclass(frozen=True)
class BuildConfig:
    """Everything a build depends on (stored with the version)."""

    quality: QualityConfig = field(default_factory=QualityConfig)
    grouping: GroupingConfig = field(default_factory=GroupingConfig)
    per_group: int = 2
    representative_lambda: float = 0.7
    rotate: bool = False
    dynamic: DynamicConfig = field(default_factory=DynamicConfig)

    def __post_init__(self) -> None:
        if self.per_group < 1:
            raise ConfigError(f"per_group must be >= 1, got {self.per_group}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BuildConfig:
        return cls(
            quality=QualityConfig(**data.get("quality", {})),
            grouping=GroupingConfig(**data.get("grouping", {})),
            per_group=int(data.get("per_group", 2)),
            representative_lambda=float(data.get("representative_lambda", 0.7)),
            rotate=bool(data.get("rotate", False)),
            dynamic=DynamicConfig(**data.get("dynamic", {})),
        )


@dataclass(frozen=True)
class LibraryEntry:
    """One input example and the library's decision about it."""

    example: Example
    status: ExampleStatus
    group_id: str | None
    rank: int | None
    reason: str
    detail: str


@dataclass(frozen=True)
class FewShotPrompt:
    """A rendered prompt, the examples in it, why each was chosen, and the library version."""

    text: str
    query: str
    examples: list[Example]
    reasons: list[str]
    scores: list[float]
    intent: str | None
    intent_name: str | None
    mode: str
    k: int
    template: str
    library: str | None
    use_id: str | None = None


@dataclass
class FewShotLibrary:
    """A built (and, once saved, versioned) library. ``groups`` hold member counts only."""

    name: str
    entries: list[LibraryEntry]
    groups: list[dict[str, Any]]
    summary: dict[str, Any]
    config: BuildConfig
    embedder_model: str
    embedder_id: str
    version: int | None = None
    parent_version: int | None = None
    created_at: datetime | None = None
    _embeddings: np.ndarray | None = field(default=None, repr=False)

    # --- views ---------------------------------------------------------------------------------
    @property
    def library_id(self) -> str | None:
        return None if self.version is None else rows.library_id(self.name, self.version)

    @property
    def pool(self) -> list[LibraryEntry]:
        """Entries a prompt may use: representatives and candidates."""
        return [e for e in self.entries if e.status is not ExampleStatus.EXCLUDED]

    @property
    def exclusions(self) -> list[LibraryEntry]:
        return [e for e in self.entries if e.status is ExampleStatus.EXCLUDED]

    def representatives(self) -> dict[str, list[LibraryEntry]]:
        """Group id -> its representatives, best first, in the groups' order (largest first)."""
        out: dict[str, list[LibraryEntry]] = {g["group_id"]: [] for g in self.groups}
        for entry in self.entries:
            if entry.status is ExampleStatus.REPRESENTATIVE and entry.group_id is not None:
                out.setdefault(entry.group_id, []).append(entry)
        return {g: sorted(es, key=lambda e: e.rank or 0) for g, es in out.items()}

    def group_names(self) -> dict[str, str]:
        return {g["group_id"]: g["name"] for g in self.groups}

    # --- selection -----------------------------------------------------------------------------
    def embedder(self) -> Embedder:
        return Embedder(self.embedder_model)

    def _pool(self, embedder: Embedder | None) -> tuple[ExamplePool, Embedder]:
        embedder = embedder or self.embedder()
        if embedder.model_id != self.embedder_id:
            raise ConfigError(
                f"library {self.library_id or self.name} was built with {self.embedder_id}, "
                f"not {embedder.model_id}; use the same model or rebuild the library"
            )
        pool = self.pool
        if self._embeddings is None or self._embeddings.shape[0] != len(pool):
            self._embeddings = embedder.encode_documents(
                [e.example.qid for e in pool], [e.example.question for e in pool]
            )
        groups = [e.group_id or "" for e in pool]
        return ExamplePool([e.example for e in pool], self._embeddings, groups), embedder

    def selector(
        self, embedder: Embedder | None = None, *, config: DynamicConfig | None = None
    ) -> LibrarySelector:
        """The per-query selector over this library's pool."""
        pool, _ = self._pool(embedder)
        position = {e.example.qid: i for i, e in enumerate(self.pool)}
        reps = {
            g: [position[e.example.qid] for e in es] for g, es in self.representatives().items()
        }
        return LibrarySelector(
            pool, reps, config or self.config.dynamic, group_names=self.group_names()
        )

    def static_selector(self, embedder: Embedder | None = None) -> StaticSelector:
        """One fixed sequence: each group's first representative (largest groups first), then
        each group's second, and so on."""
        pool, _ = self._pool(embedder)
        position = {e.example.qid: i for i, e in enumerate(self.pool)}
        reps = self.representatives()
        sizes = {g["group_id"]: g["size"] for g in self.groups}
        names = self.group_names()
        order: list[int] = []
        reasons: list[str] = []
        depth = max((len(es) for es in reps.values()), default=0)
        for rank in range(depth):
            for group_id, entries in reps.items():
                if rank < len(entries):
                    order.append(position[entries[rank].example.qid])
                    reasons.append(
                        f"representative {rank + 1} of '{names.get(group_id, group_id)}' "
                        f"({sizes.get(group_id, 0)} examples)"
                    )
        return StaticSelector(pool, order, reasons)

    def prompts(
        self,
        queries: list[str],
        *,
        k: int = 4,
        static: bool = False,
        mode: str = PromptMode.DYNAMIC.value,
        template: str | Path = DEFAULT_TEMPLATE,
        embedder: Embedder | None = None,
        dynamic: DynamicConfig | None = None,
        store: Any = None,
        context: str = "api",
        seed: int = 0,
    ) -> list[FewShotPrompt]:
        """Prompts for many queries (encoded in one batch); logged to ``store`` when given.

        ``static=True`` is ``mode="static"``; ``k=0`` gives a prompt with no examples."""
        if k < 0:
            raise ConfigError(f"k must be >= 0, got {k}")
        if store is not None and self.version is None:
            raise ConfigError("save the library (library.save(store)) before logging its prompts")
        chosen = parse_choice(PromptMode, "static" if static else mode, "prompt mode")
        pool, embedder = self._pool(embedder)
        selector: Any
        if chosen is PromptMode.STATIC:
            selector = self.static_selector(embedder)
        elif chosen is PromptMode.NEAREST:
            selector = NearestNeighbourSelector(pool)
        elif chosen is PromptMode.RANDOM:
            selector = RandomSelector(pool, seed=seed)
        else:
            selector = self.selector(embedder, config=dynamic)
        vectors = embedder.encode_queries(list(queries))
        names = self.group_names()
        out = []
        for query, vector in zip(queries, vectors, strict=True):
            selection: Selection = selector.select(query, vector, k) if k else Selection([])
            examples = [selector.pool.examples[i] for i in selection.indices]
            rendered = render_prompt(
                query, examples, template=template, intent=names.get(selection.intent or "")
            )
            out.append(
                FewShotPrompt(
                    text=rendered.text,
                    query=query,
                    examples=examples,
                    reasons=[item.why for item in selection.items],
                    scores=[item.score for item in selection.items],
                    intent=selection.intent,
                    intent_name=names.get(selection.intent or ""),
                    mode=chosen.value,
                    k=k,
                    template=rendered.template,
                    library=self.library_id,
                )
            )
        if store is not None:
            out = log_uses(store, out, context=context)
        return out

    def prompt(self, query: str, **options: Any) -> FewShotPrompt:
        """One prompt for a live query; options as :meth:`prompts`."""
        return self.prompts([query], **options)[0]

    # --- persistence ---------------------------------------------------------------------------
    def save(self, store: Any) -> FewShotLibrary:
        """Store as the next version of ``name``; returns the library with its version set."""
        examples = [
            {
                "qid": e.example.qid,
                "status": e.status.value,
                "group_id": e.group_id,
                "rank": e.rank,
                "reason": e.reason,
                "detail": e.detail,
                "question": e.example.question,
                "answer": e.example.answer,
                "reasoning": e.example.reasoning,
                "intent": e.example.intent,
            }
            for e in self.entries
        ]
        summary = {**self.summary, "groups": self.groups, "embedder_id": self.embedder_id}
        with store.engine.begin() as conn:
            version, created = rows.save_library(
                conn,
                name=self.name,
                embedder=self.embedder_model,
                config=self.config.to_dict(),
                summary=summary,
                examples=examples,
                parent_version=self.parent_version,
            )
        return replace(self, version=version, created_at=created)

    @classmethod
    def load(cls, store: Any, name: str = "default", version: int | None = None) -> FewShotLibrary:
        with store.engine.connect() as conn:
            row, example_rows = rows.load_library(conn, name, version)
        summary = dict(row["summary"])
        entries = [
            LibraryEntry(
                example=Example(
                    qid=r["qid"],
                    question=r["question"],
                    answer=r["answer"],
                    reasoning=r["reasoning"],
                    intent=r["intent"],
                ),
                status=ExampleStatus(r["status"]),
                group_id=r["group_id"],
                rank=r["rank"],
                reason=r["reason"],
                detail=r["detail"],
            )
            for r in example_rows
        ]
        return cls(
            name=row["name"],
            entries=entries,
            groups=list(summary.pop("groups", [])),
            summary=summary,
            config=BuildConfig.from_dict(row["config"]),
            embedder_model=row["embedder"],
            embedder_id=str(summary.pop("embedder_id", row["embedder"])),
            version=row["version"],
            parent_version=row["parent_version"],
            created_at=row["created_at"],
        )


def log_uses(
    store: Any, prompts: list[FewShotPrompt], *, context: str = "api"
) -> list[FewShotPrompt]:
    """Record which library version (and examples) each prompt used; returns them with ids."""
    if any(p.library is None for p in prompts):
        raise ConfigError("only prompts of a saved library can be logged; save it first")
    with store.engine.begin() as conn:
        ids = rows.save_uses(
            conn,
            (
                {
                    "library_id": p.library,
                    "query": p.query,
                    "mode": p.mode,
                    "k": p.k,
                    "template": p.template,
                    "intent": p.intent,
                    "example_qids": [e.qid for e in p.examples],
                    "context": context,
                }
                for p in prompts
            ),
        )
    return [replace(p, use_id=use_id) for p, use_id in zip(prompts, ids, strict=True)]


def list_libraries(store: Any, name: str | None = None) -> list[dict[str, Any]]:
    """Stored versions, oldest first, with their number of logged uses."""
    with store.engine.connect() as conn:
        return rows.list_libraries(conn, name)
