"""Read judgments back as ``Qrels``, at document or chunk level, resolving several sources.

Several sources may grade the same pair. The grade that counts comes from the most trusted
source, in the order of :data:`~flywheel.store.schema.SOURCE_PRECEDENCE`
(human > benchmark > llm > derived). Within one source a direct judgment beats one carried
over from another level, and among carried-over grades the highest wins.

* ``level="document"``: judgments on documents, plus judgments on chunks counted for the
  chunk's document.
* ``level="chunk"`` (with a ``strategy``): judgments on that strategy's chunks, plus every
  document judgment carried over to each chunk of the document. That is an approximation
  (not every chunk of a relevant document holds the answer); add chunk judgments to refine it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, Select, and_, func, select

from flywheel.data.types import Qrels
from flywheel.errors import ConfigError
from flywheel.store.schema import SOURCE_PRECEDENCE, chunks, judgments

#: The split name that selects judgments stored without a split.
UNSPLIT = "unsplit"

_RANK = {str(source): index for index, source in enumerate(SOURCE_PRECEDENCE)}


class QrelsLevel(StrEnum):
    DOCUMENT = "document"
    CHUNK = "chunk"


@dataclass(frozen=True, slots=True)
class ResolvedGrade:
    """The grade that counts for a pair, who gave it, and the scale it was given on.

    ``scale`` is the top of the grading scale (3 for TREC's 0-3) where the judgment recorded
    one (``flywheel judge`` does), else ``None``: the source's own convention.
    """

    grade: int
    source: str
    scale: int | None = None


def _filtered(query: Select, split: str | None, sources: Iterable[str] | None) -> Select:
    if split == UNSPLIT:
        query = query.where(judgments.c.split.is_(None))
    elif split is not None:
        query = query.where(judgments.c.split == split)
    if sources is not None:
        query = query.where(judgments.c.source.in_([str(s) for s in sources]))
    return query


def _candidates(
    conn: Connection,
    level: QrelsLevel,
    strategy: str | None,
    split: str | None,
    sources: Iterable[str] | None,
) -> Iterable[tuple[str, str, int, str, bool]]:
    """(qid, target, grade, source, scale, direct) for every judgment that speaks to a target."""
    j, c = judgments, chunks
    sources = None if sources is None else list(sources)
    if level is QrelsLevel.DOCUMENT:
        target = func.coalesce(j.c.doc_id, c.c.doc_id)
        query = select(
            j.c.qid, target, j.c.grade, j.c.source, j.c.scale, j.c.doc_id.is_not(None)
        ).select_from(j.outerjoin(c, j.c.chunk_id == c.c.chunk_id))
        yield from conn.execute(_filtered(query, split, sources))
        return
    direct = select(j.c.qid, c.c.chunk_id, j.c.grade, j.c.source, j.c.scale).select_from(
        j.join(c, and_(j.c.chunk_id == c.c.chunk_id, c.c.strategy == strategy))
    )
    for qid, target, grade, source, scale in conn.execute(_filtered(direct, split, sources)):
        yield qid, target, grade, source, scale, True
    carried = select(j.c.qid, c.c.chunk_id, j.c.grade, j.c.source, j.c.scale).select_from(
        j.join(c, and_(j.c.doc_id == c.c.doc_id, c.c.strategy == strategy))
    )
    for qid, target, grade, source, scale in conn.execute(_filtered(carried, split, sources)):
        yield qid, target, grade, source, scale, False


def read_resolved(
    conn: Connection,
    *,
    split: str | None = None,
    sources: Iterable[str] | None = None,
    level: str = QrelsLevel.DOCUMENT,
    strategy: str | None = None,
) -> dict[str, dict[str, ResolvedGrade]]:
    """Like :func:`read_qrels`, keeping who gave each grade and on which scale."""
    try:
        level = QrelsLevel(level)
    except ValueError:
        raise ConfigError(f"unknown qrels level '{level}'; use 'document' or 'chunk'") from None
    if level is QrelsLevel.CHUNK and not strategy:
        raise ConfigError(
            "level='chunk' needs a strategy; see `flywheel status` for the stored "
            "chunk strategies, or run `flywheel chunk` first"
        )
    best: dict[tuple[str, str], tuple[tuple[int, int, int], ResolvedGrade]] = {}
    candidates = _candidates(conn, level, strategy, split, sources)
    for qid, target, grade, source, scale, direct in candidates:
        rank = (_RANK.get(source, len(_RANK)), 0 if direct else 1, -grade)
        pair = (qid, target)
        if pair not in best or rank < best[pair][0]:
            best[pair] = (rank, ResolvedGrade(grade, source, scale))
    resolved: dict[str, dict[str, ResolvedGrade]] = {}
    for (qid, target), (_, label) in sorted(best.items()):
        resolved.setdefault(qid, {})[target] = label
    return resolved


def read_qrels(
    conn: Connection,
    *,
    split: str | None = None,
    sources: Iterable[str] | None = None,
    level: str = QrelsLevel.DOCUMENT,
    strategy: str | None = None,
) -> Qrels:
    """``{qid: {target: grade}}`` after resolving sources (see the module docstring).

    ``split=None`` reads every split; ``split="unsplit"`` the judgments stored without one.
    """
    resolved = read_resolved(conn, split=split, sources=sources, level=level, strategy=strategy)
    return {
        qid: {target: label.grade for target, label in targets.items()}
        for qid, targets in resolved.items()
    }
