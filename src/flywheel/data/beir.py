"""Read a dataset in BEIR layout: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.

Bad records fail with the file, the line and the fix, never silently.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from flywheel.data.types import Corpus, Document, Qrels, Queries, RetrievalDataset
from flywheel.errors import DataFormatError


def _read_jsonl(path: Path) -> list[tuple[int, dict]]:
    rows: list[tuple[int, dict]] = []
    try:
        handle = path.open(encoding="utf-8")
    except FileNotFoundError:
        raise DataFormatError(path, None, "file not found", "check the dataset folder") from None
    with handle:
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataFormatError(
                        path,
                        number,
                        f"not valid JSON ({exc.msg})",
                        "write one JSON object per line",
                    ) from None
                if not isinstance(obj, dict):
                    raise DataFormatError(path, number, "not a JSON object", "write {...} per line")
                rows.append((number, obj))
        except UnicodeDecodeError:
            raise DataFormatError(
                path, None, "not UTF-8 text", "re-encode the file as UTF-8 (iconv -t utf-8)"
            ) from None
    return rows


def read_corpus(path: Path) -> Corpus:
    corpus: Corpus = {}
    for number, obj in _read_jsonl(path):
        if "_id" not in obj:
            raise DataFormatError(path, number, "missing", "each document needs an '_id'", "_id")
        doc_id = str(obj["_id"])
        corpus[doc_id] = Document(
            doc_id=doc_id,
            text=str(obj.get("text") or ""),
            title=str(obj.get("title") or ""),
            metadata=obj.get("metadata") or {},
        )
    return corpus


def read_queries(path: Path) -> Queries:
    queries: Queries = {}
    for number, obj in _read_jsonl(path):
        if "_id" not in obj or "text" not in obj:
            raise DataFormatError(path, number, "missing '_id' or 'text'", "each query needs both")
        queries[str(obj["_id"])] = str(obj["text"])
    return queries


def read_qrels(path: Path) -> Qrels:
    qrels: Qrels = {}
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        for number, row in enumerate(reader, start=1):
            if not row or (number == 1 and row[0] in {"query-id", "query_id", "qid"}):
                continue
            if len(row) < 3:
                raise DataFormatError(
                    path,
                    number,
                    f"expected 3 tab-separated columns, got {len(row)}",
                    "write query-id<TAB>corpus-id<TAB>score",
                )
            try:
                grade = int(float(row[2]))
            except ValueError:
                raise DataFormatError(
                    path, number, f"score '{row[2]}' is not a number", "use an integer grade 0-5"
                ) from None
            qrels.setdefault(row[0], {})[row[1]] = grade
    return qrels


def load_beir(folder: str | Path, name: str | None = None) -> RetrievalDataset:
    """Load a BEIR-layout folder into memory (SciFact: about a second)."""
    root = Path(folder)
    if not root.is_dir():
        raise DataFormatError(
            root, None, "not a folder", "pass a folder with corpus.jsonl, queries.jsonl and qrels/"
        )
    corpus = read_corpus(root / "corpus.jsonl")
    queries = read_queries(root / "queries.jsonl")
    qrels = {p.stem: read_qrels(p) for p in sorted((root / "qrels").glob("*.tsv"))}
    return RetrievalDataset(name=name or root.name, corpus=corpus, queries=queries, qrels=qrels)
