"""Building a library: quality filters, then groups, then each group's representatives.

The steps are in their own modules (:mod:`~flywheel.fewshot.quality`,
:mod:`~flywheel.fewshot.grouping`, :mod:`~flywheel.fewshot.selectors`); this one runs them in
order and records, for every input example, the decision and the reason that
``flywheel fewshot show`` explains.
"""

from __future__ import annotations

import numpy as np

from flywheel.errors import ConfigError
from flywheel.fewshot.examples import Example
from flywheel.fewshot.grouping import Group, group_examples
from flywheel.fewshot.library import (
    BuildConfig,
    ExampleStatus,
    FewShotLibrary,
    LibraryEntry,
)
from flywheel.fewshot.quality import filter_examples
from flywheel.fewshot.selectors import centroid, representatives
from flywheel.retrieval.embedders import Embedder


def build_library(
    examples: list[Example],
    *,
    embedder: Embedder | None = None,
    config: BuildConfig | None = None,
    name: str = "default",
    previous: FewShotLibrary | None = None,
) -> FewShotLibrary:
    """Filter, group and choose representatives; nothing is stored until :meth:`save`."""
    config = config or BuildConfig()
    embedder = embedder or Embedder()
    if not examples:
        raise ConfigError("no examples to build a library from; ingest queries with answers first")
    embeddings = embedder.encode_documents(
        [e.qid for e in examples], [e.question for e in examples]
    )
    quality = filter_examples(examples, embeddings, config.quality)
    if not quality.kept:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(quality.counts().items()))
        raise ConfigError(
            f"all {len(examples)} examples were excluded ({counts}); relax the filters "
            "(e.g. --no-require-reasoning) or add answers, reasoning and feedback"
        )
    kept = [examples[i] for i in quality.kept]
    vectors = embeddings[quality.kept]
    grouping = group_examples(
        [e.question for e in kept], [e.intent for e in kept], vectors, config.grouping
    )
    rotated_out: set[str] = set()
    if config.rotate and previous is not None:
        rotated_out = {
            e.example.qid for e in previous.entries if e.status is ExampleStatus.REPRESENTATIVE
        }
    decided = _choose(kept, vectors, grouping.groups, config, rotated_out, previous)
    excluded = {x.qid: x for x in quality.exclusions}
    entries = []
    for example in examples:
        if example.qid in excluded:
            exclusion = excluded[example.qid]
            entries.append(
                LibraryEntry(
                    example,
                    ExampleStatus.EXCLUDED,
                    None,
                    None,
                    exclusion.reason.value,
                    exclusion.detail,
                )
            )
        else:
            entries.append(decided[example.qid])
    summary = {
        "examples": len(examples),
        "kept": len(kept),
        "excluded": quality.counts(),
        "representatives": sum(e.status is ExampleStatus.REPRESENTATIVE for e in entries),
        "outlier_threshold": quality.outlier_threshold,
        "grouping": {k: v for k, v in grouping.to_dict().items() if k != "groups"},
        "rotated_out": sorted(rotated_out & {e.example.qid for e in entries}),
    }
    return FewShotLibrary(
        name=name,
        entries=entries,
        groups=[g.to_dict() for g in grouping.groups],
        summary=summary,
        config=config,
        embedder_model=embedder.model_name,
        embedder_id=embedder.model_id,
        parent_version=previous.version if previous is not None else None,
    )


def _choose(
    kept: list[Example],
    vectors: np.ndarray,
    groups: list[Group],
    config: BuildConfig,
    rotated_out: set[str],
    previous: FewShotLibrary | None,
) -> dict[str, LibraryEntry]:
    """Each kept example's entry: representative (rank) or candidate, with the reason."""
    out: dict[str, LibraryEntry] = {}
    for group in groups:
        members = group.members
        fresh = [m for m in members if kept[m].qid not in rotated_out]
        eligible = fresh if len(fresh) >= min(config.per_group, len(members)) else members
        closeness = vectors[members] @ centroid(vectors[members])
        close = dict(zip(members, closeness.tolist(), strict=True))
        chosen = representatives(
            vectors[eligible], config.per_group, lambda_=config.representative_lambda
        )
        ranks = {eligible[row]: rank for rank, (row, _) in enumerate(chosen, start=1)}
        for member in members:
            example = kept[member]
            where = f"'{group.name}' ({len(members)} examples)"
            if member in ranks:
                out[example.qid] = LibraryEntry(
                    example,
                    ExampleStatus.REPRESENTATIVE,
                    group.group_id,
                    ranks[member],
                    "representative",
                    f"rank {ranks[member]} in {where}: cosine {close[member]:.3f} to the "
                    f"group centre, chosen by MMR (lambda {config.representative_lambda})",
                )
            elif example.qid in rotated_out and eligible is fresh:
                out[example.qid] = LibraryEntry(
                    example,
                    ExampleStatus.CANDIDATE,
                    group.group_id,
                    None,
                    "rotated_out",
                    f"representative in version {previous.version if previous else '?'}; "
                    f"rotated out so {where} shows fresh examples",
                )
            else:
                out[example.qid] = LibraryEntry(
                    example,
                    ExampleStatus.CANDIDATE,
                    group.group_id,
                    None,
                    "candidate",
                    f"passed every filter; in {where}, cosine {close[member]:.3f} to its "
                    f"centre, not among its {config.per_group} representatives",
                )
    return out
