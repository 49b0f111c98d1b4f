"""Lexical retrieval with bm25s: sparse precomputed scores, fast enough for a million documents.

Tokenisation follows the bm25s README (lower-case, ``\\w\\w+`` tokens, English stop words,
Snowball stemming via PyStemmer), so :class:`BM25Retriever` gives bm25s's published SciFact
figure. Documents are indexed as ``title + " " + text``. Documents with no query term (score 0)
are left out of the run rather than listed in arbitrary order.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from flywheel._internal.choices import parse_choice
from flywheel._internal.io import write_json
from flywheel._version import __version__
from flywheel.data.types import Corpus, Queries, Run
from flywheel.errors import ConfigError
from flywheel.retrieval.base import MANIFEST, check_k, query_items, read_manifest

logger = logging.getLogger(__name__)

KIND = "bm25"


class BM25Method(StrEnum):
    """BM25 variants bm25s implements (Kamphuis et al., 2020)."""

    LUCENE = "lucene"
    ROBERTSON = "robertson"
    ATIRE = "atire"
    BM25L = "bm25l"
    BM25PLUS = "bm25+"


def _method(value: str) -> BM25Method:
    return parse_choice(BM25Method, value, "BM25 method")


def make_stemmer(language: str | None) -> Any:
    """PyStemmer's Snowball stemmer for ``language`` (``None``: no stemming)."""
    if language is None:
        return None
    import Stemmer

    try:
        return Stemmer.Stemmer(language)
    except KeyError:
        known = ", ".join(sorted(Stemmer.algorithms()))
        raise ConfigError(
            f"unknown stemmer '{language}'; choose one of: {known}, or None"
        ) from None


def tokenize(
    texts: Sequence[str],
    *,
    stemmer: str | None = "english",
    stopwords: str | None = "en",
    return_ids: bool = True,
) -> Any:
    """bm25s's tokeniser as the BM25 index uses it: lower-case ``\\w\\w+`` tokens, stop words
    removed, Snowball-stemmed. ``return_ids=False`` gives one list of token strings per text;
    other modules (re-ranking features) call this so their terms match the index's exactly."""
    import bm25s

    return bm25s.tokenize(
        list(texts),
        stopwords=stopwords or [],
        stemmer=make_stemmer(stemmer),
        return_ids=return_ids,
        show_progress=False,
    )


class BM25Retriever:
    """BM25 over a corpus: ``BM25Retriever(corpus).search(queries, k=100) -> Run``."""

    name = "bm25"

    def __init__(
        self,
        corpus: Corpus,
        *,
        k1: float = 1.5,
        b: float = 0.75,
        method: str = "lucene",
        stemmer: str | None = "english",
        stopwords: str | None = "en",
    ) -> None:
        import bm25s

        if not corpus:
            raise ConfigError("cannot build BM25 over an empty corpus; load documents first")
        self.k1, self.b = k1, b
        self.method = _method(method)
        self.stemmer_language = stemmer
        self.stopwords = stopwords
        self.doc_ids = list(corpus)
        texts = [corpus[doc_id].text_for_encoding for doc_id in self.doc_ids]
        self._index = bm25s.BM25(k1=k1, b=b, method=self.method.value)
        self._index.index(self._tokenize(texts), show_progress=False)
        logger.info("indexed %d documents with BM25 (%s)", len(self.doc_ids), self.method.value)

    def _tokenize(self, texts: Sequence[str]) -> Any:
        return tokenize(texts, stemmer=self.stemmer_language, stopwords=self.stopwords)

    def search(self, queries: Queries, k: int = 100) -> Run:
        """Top ``k`` documents per query by BM25 score; documents matching no term are omitted."""
        check_k(k)
        qids, texts = query_items(queries)
        if not qids:
            return {}
        k = min(k, len(self.doc_ids))
        docs, scores = self._index.retrieve(
            self._tokenize(texts), k=k, show_progress=False, n_threads=1
        )
        run: Run = {}
        for row, qid in enumerate(qids):
            keep = scores[row] > 0
            run[qid] = {
                self.doc_ids[int(d)]: float(s)
                for d, s in zip(docs[row][keep], scores[row][keep], strict=True)
            }
        return run

    # -- persistence ---------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write the bm25s index, doc ids and a ``manifest.json`` with every setting."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self._index.save(str(folder / "index"), show_progress=False)
        write_json(folder / "doc_ids.json", self.doc_ids)
        write_json(
            folder / MANIFEST,
            {
                "kind": KIND,
                "flywheel_version": __version__,
                "count": len(self.doc_ids),
                "k1": self.k1,
                "b": self.b,
                "method": self.method.value,
                "stemmer": self.stemmer_language,
                "stopwords": self.stopwords,
            },
        )
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> BM25Retriever:
        """Load what :meth:`save` wrote; checks the manifest and the doc count."""
        import bm25s

        folder = Path(folder)
        manifest = read_manifest(folder, KIND)
        self = cls.__new__(cls)
        self.k1, self.b = manifest["k1"], manifest["b"]
        self.method = _method(manifest["method"])
        self.stemmer_language = manifest["stemmer"]
        self.stopwords = manifest["stopwords"]
        self.doc_ids = json.loads((folder / "doc_ids.json").read_text(encoding="utf-8"))
        self._index = bm25s.BM25.load(str(folder / "index"), show_progress=False)
        if len(self.doc_ids) != manifest["count"]:
            raise ConfigError(
                f"{folder}: doc_ids.json has {len(self.doc_ids)} ids but the manifest "
                f"says {manifest['count']}; rebuild the index and save it again"
            )
        return self

    def __repr__(self) -> str:
        return f"BM25Retriever({len(self.doc_ids)} docs, k1={self.k1}, b={self.b})"
