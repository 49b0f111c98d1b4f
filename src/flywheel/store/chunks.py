"""Store and read chunks. Chunking itself lives in :mod:`flywheel.chunking`; this module only
keeps the result so that chunks of several strategies sit side by side.

Writing a strategy's chunks is idempotent: chunk ids are ``{doc_id}#{strategy}#{position}``, a
chunk stored with the same text is left alone, changed chunks are rewritten and chunks the new
run no longer produces are removed - refused if someone judged them, since that would silently
drop human labels.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, select

from flywheel._internal.hashing import text_hash
from flywheel.data.types import Corpus, Document
from flywheel.errors import ConfigError
from flywheel.store.importers import batches
from flywheel.store.schema import chunks, documents, judgments


def chunk_id(doc_id: str, strategy: str, position: int) -> str:
    return f"{doc_id}#{strategy}#{position}"


@dataclass
class ChunkReport:
    strategy: str
    documents: int
    added: int
    unchanged: int
    removed: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        return (
            f"chunks '{self.strategy}' over {self.documents} documents: {self.added} added, "
            f"{self.unchanged} unchanged, {self.removed} removed"
        )


def write_chunks(
    conn: Connection, strategy: str, pieces: Iterable[tuple[str, int, str]]
) -> ChunkReport:
    """Make ``(doc_id, position, text)`` pieces the stored chunks of ``strategy``."""
    if not strategy or "#" in strategy:
        raise ConfigError(f"chunk strategy label '{strategy}' must be non-empty and without '#'")
    wanted: dict[str, dict] = {}
    for doc_id, position, text in pieces:
        cid = chunk_id(doc_id, strategy, position)
        wanted[cid] = {
            "chunk_id": cid,
            "doc_id": doc_id,
            "strategy": strategy,
            "position": position,
            "text": text,
            "content_hash": text_hash(text),
        }
    stored = dict(
        conn.execute(
            select(chunks.c.chunk_id, chunks.c.content_hash).where(chunks.c.strategy == strategy)
        ).all()
    )
    stale = [
        cid
        for cid, digest in stored.items()
        if cid not in wanted or wanted[cid]["content_hash"] != digest
    ]
    judged = sorted(
        cid
        for batch in batches(stale)
        for cid in conn.execute(
            select(judgments.c.chunk_id).where(judgments.c.chunk_id.in_(batch)).distinct()
        ).scalars()
    )
    if judged:
        raise ConfigError(
            f"re-chunking '{strategy}' would change {len(stale)} chunks, and judgments point at "
            f"some (e.g. '{judged[0]}'); write the new chunks under another label "
            "(flywheel chunk --label NEW)"
        )
    for batch in batches(stale):
        conn.execute(delete(chunks).where(chunks.c.chunk_id.in_(batch)))
    stale_ids = set(stale)
    new = [row for cid, row in wanted.items() if cid not in stored or cid in stale_ids]
    for batch in batches(new):
        conn.execute(chunks.insert(), batch)
    return ChunkReport(
        strategy=strategy,
        documents=len({row["doc_id"] for row in wanted.values()}),
        added=len(new),
        unchanged=len(wanted) - len(new),
        removed=len([cid for cid in stale if cid not in wanted]),
    )


def read_chunks(conn: Connection, strategy: str) -> Corpus:
    """The chunks of ``strategy`` as a corpus: a chunk inherits its document's title, and its
    metadata says where it came from (``doc_id``, ``position``, ``strategy``)."""
    query = (
        select(
            chunks.c.chunk_id, chunks.c.doc_id, chunks.c.position, chunks.c.text, documents.c.title
        )
        .join(documents, documents.c.doc_id == chunks.c.doc_id)
        .where(chunks.c.strategy == strategy)
    )
    rows = sorted(conn.execute(query), key=lambda row: (row.doc_id, row.position))
    return {
        cid: Document(
            doc_id=cid,
            text=text,
            title=title,
            metadata={"doc_id": doc_id, "position": position, "strategy": strategy},
        )
        for cid, doc_id, position, text, title in rows
    }


def chunk_counts(conn: Connection) -> dict[str, int]:
    """Stored chunks per strategy label."""
    query = select(chunks.c.strategy, func.count()).group_by(chunks.c.strategy)
    return dict(conn.execute(query).all())
