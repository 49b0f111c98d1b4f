"""Features of (query, candidate document) pairs, for a learned re-ranker over first-stage runs.

A learned re-ranker (:mod:`flywheel.training.ltr`) needs no pretrained cross-encoder: it learns
how far to trust each first-stage retriever, per query, from signals the loop already has. The
candidates of a query are the union of each named first-stage run's top ``depth`` documents;
every candidate gets one row of:

- per run (``"<run>:score"``, ``":rank"``, ``":present"``, ``":z"``, ``":minmax"``): the raw score
  and 1-based rank in that run, whether the run retrieved it, and the score normalised within the
  query's candidates (z-score, max-min). A document a run missed gets the query's lowest score for
  that run, rank ``max(len(list), depth) + 1``, z = the lowest z, max-min 0: "no better than its
  worst hit";
- ``"rrf"`` (reciprocal rank fusion of the first-stage runs) and ``"runs:present"`` (how many
  retrieved it);
- lexical matches with the BM25 index's own terms (bm25s tokens, English stop words, Snowball
  stems): ``"query:terms"``, ``"title:overlap"`` / ``"body:overlap"`` (share of the query's terms
  found), ``"title:all_terms"``, ``"body:tf"`` (sum of ``log(1 + tf)``), ``"doc:length"`` and
  ``"title:length"`` in tokens, bucketed in half-octaves;
- optional columns: ``extra_runs`` (e.g. a cross-encoder's scores; the same per-run block, but
  they add no candidates and no RRF votes), behaviour per (query, document) ``pair_signals``
  (``"pair:<name>"``) and per document ``doc_signals`` (``"doc:<name>"``), each with a
  ``":present"`` flag and 0 where absent. The caller guarantees these hold no leakage: for an
  evaluation query, only logs from outside the evaluation queries.

Everything is computed for all rows at once with numpy and scipy.sparse; the column names are
kept with the matrix (:class:`CandidateFeatures`) so a saved model can check it reads the same
columns it was trained on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from flywheel.data.types import Corpus, Queries, Run
from flywheel.errors import ConfigError
from flywheel.retrieval.base import ranked_ids
from flywheel.retrieval.bm25 import tokenize

RUN_FEATURES = ("score", "rank", "present", "z", "minmax")
LEXICAL_FEATURES = (
    "query:terms",
    "title:overlap",
    "title:all_terms",
    "body:overlap",
    "body:tf",
    "doc:length",
    "title:length",
)
Signals = Mapping[str, Mapping[str, Mapping[str, float]]]  # name -> qid -> doc_id -> value


@dataclass(frozen=True)
class CandidateFeatures:
    """One row per (query, candidate), grouped by query: rows ``offsets[i]:offsets[i+1]`` belong
    to ``qids[i]``. ``matrix[:, j]`` is the feature ``names[j]``. Groups are never empty."""

    names: tuple[str, ...]
    qids: tuple[str, ...]
    offsets: np.ndarray
    doc_ids: tuple[str, ...]
    matrix: np.ndarray

    def __post_init__(self) -> None:
        rows = len(self.doc_ids)
        if self.matrix.shape != (rows, len(self.names)):
            raise ConfigError(
                f"feature matrix has shape {self.matrix.shape}; expected ({rows}, "
                f"{len(self.names)}): one row per candidate, one column per name"
            )
        if len(self.offsets) != len(self.qids) + 1 or int(self.offsets[-1]) != rows:
            raise ConfigError("offsets must have one entry per query plus one, ending at the rows")

    @property
    def n_rows(self) -> int:
        return len(self.doc_ids)

    def group_sizes(self) -> np.ndarray:
        """Candidates per query, in ``qids`` order (LightGBM's ``group``)."""
        return np.diff(self.offsets)

    def row_qids(self) -> np.ndarray:
        """The qid of every row."""
        return np.repeat(np.asarray(self.qids, dtype=object), self.group_sizes())

    def column(self, name: str) -> np.ndarray:
        try:
            return self.matrix[:, self.names.index(name)]
        except ValueError:
            raise ConfigError(f"no feature '{name}'; features: {', '.join(self.names)}") from None

    def aligned(self, names: Sequence[str]) -> np.ndarray:
        """The matrix with its columns in the order ``names`` (a saved model's order)."""
        index = {name: j for j, name in enumerate(self.names)}
        missing = [name for name in names if name not in index]
        if missing:
            raise ConfigError(
                f"the features lack {', '.join(missing)}; build them from the same runs and "
                "signals the re-ranker was trained with"
            )
        return self.matrix[:, [index[name] for name in names]]

    def without(self, names: Iterable[str]) -> CandidateFeatures:
        """The same rows without the columns ``names`` (an ablation, or a feature to leave out)."""
        drop = set(names)
        unknown = drop - set(self.names)
        if unknown:
            raise ConfigError(f"no feature {', '.join(sorted(unknown))}; features: {self.names}")
        keep = [j for j, name in enumerate(self.names) if name not in drop]
        return CandidateFeatures(
            names=tuple(self.names[j] for j in keep),
            qids=self.qids,
            offsets=self.offsets,
            doc_ids=self.doc_ids,
            matrix=self.matrix[:, keep],
        )

    def select(self, qids: Iterable[str]) -> CandidateFeatures:
        """The rows of ``qids`` (in that order); qids without candidates here are absent."""
        position = {qid: i for i, qid in enumerate(self.qids)}
        keep = [position[qid] for qid in dict.fromkeys(qids) if qid in position]
        sizes = self.group_sizes()
        rows = (
            np.concatenate([np.arange(self.offsets[i], self.offsets[i + 1]) for i in keep])
            if keep
            else np.zeros(0, dtype=np.int64)
        )
        return CandidateFeatures(
            names=self.names,
            qids=tuple(self.qids[i] for i in keep),
            offsets=np.concatenate([[0], np.cumsum(sizes[keep])]).astype(np.int64),
            doc_ids=tuple(self.doc_ids[r] for r in rows),
            matrix=self.matrix[rows],
        )

    def labels(self, qrels: Mapping[str, Mapping[str, int]]) -> np.ndarray:
        """The judged grade of every row; unjudged candidates (and negative grades) are 0."""
        qids = self.row_qids()
        return np.fromiter(
            (
                max(0, int(qrels.get(qid, {}).get(doc_id, 0)))
                for qid, doc_id in zip(qids, self.doc_ids, strict=True)
            ),
            dtype=np.int32,
            count=self.n_rows,
        )

    def to_run(self, scores: np.ndarray) -> Run:
        """``{qid: {doc_id: score}}`` from one score per row, best first.

        Equal scores keep the rows' order (the first stages' fused order): a model with few trees
        gives many documents the same score, and a tie broken by doc_id would shuffle them. Each
        tie is split by a nudge of at most 1e-9 of the query's largest score magnitude.
        """
        values = np.asarray(scores, dtype=np.float64)
        if values.shape != (self.n_rows,):
            raise ConfigError(f"got {values.shape} scores for {self.n_rows} candidate rows")
        run: Run = {}
        for i, qid in enumerate(self.qids):
            start, end = int(self.offsets[i]), int(self.offsets[i + 1])
            part = values[start:end]
            scale = 1e-9 * max(1.0, float(np.abs(part).max()))
            nudged = part + scale * np.linspace(1.0, 0.0, part.size, endpoint=False)
            order = np.lexsort((np.arange(part.size), -part))
            ids = self.doc_ids[start:end]
            run[qid] = {ids[j]: float(nudged[j]) for j in order}
        return run


def _length_bucket(tokens: np.ndarray) -> np.ndarray:
    """Lengths in half-octaves (``floor(2 * log2(1 + n))``), not exact counts: an exact length
    nearly names a document, and a model could then learn which documents were relevant to
    other queries instead of what makes a document relevant."""
    return np.floor(2.0 * np.log2(1.0 + tokens))


def _binary(rows: list[list[int]], width: int, *, counts: bool = False) -> sp.csr_matrix:
    """CSR matrix with one row per token-id list: term counts, or 1 where a term occurs."""
    indptr = np.cumsum([0, *(len(r) for r in rows)])
    indices = np.fromiter((t for r in rows for t in r), dtype=np.int64, count=int(indptr[-1]))
    data = np.ones(indices.size, dtype=np.float64)
    matrix = sp.csr_matrix((data, indices, indptr), shape=(len(rows), width))
    matrix.sum_duplicates()
    if not counts:
        matrix.data[:] = 1.0
    return matrix


def _group_stats(values: np.ndarray, present: np.ndarray, starts: np.ndarray, sizes: np.ndarray):
    """Per-query min, max, mean and std of the present values, broadcast back to every row."""
    count = np.add.reduceat(present.astype(np.float64), starts)
    filled = np.where(present, values, 0.0)
    mean = np.add.reduceat(filled, starts) / np.maximum(count, 1)
    mean_rows = np.repeat(mean, sizes)
    var = np.add.reduceat(np.where(present, (values - mean_rows) ** 2, 0.0), starts)
    std = np.repeat(np.sqrt(var / np.maximum(count, 1)), sizes)
    low = np.repeat(np.fmin.reduceat(np.where(present, values, np.nan), starts), sizes)
    high = np.repeat(np.fmax.reduceat(np.where(present, values, np.nan), starts), sizes)
    return low, high, mean_rows, std


class CandidateFeaturizer:
    """Turns named first-stage runs into :class:`CandidateFeatures` over one corpus.

    The corpus is tokenised once here (title and body apart, with the BM25 index's tokeniser),
    so building features for train, dev and test queries re-uses it. ``depth`` candidates are
    taken from each run in ``runs``; ``rrf_k`` is RRF's constant.
    """

    def __init__(
        self,
        corpus: Corpus,
        *,
        depth: int = 100,
        rrf_k: int = 60,
        stemmer: str | None = "english",
        stopwords: str | None = "en",
    ) -> None:
        if depth < 1:
            raise ConfigError(f"depth must be >= 1, got {depth}; 100 is the usual value")
        self.depth, self.rrf_k = depth, rrf_k
        self.stemmer, self.stopwords = stemmer, stopwords
        self.doc_row = {doc_id: i for i, doc_id in enumerate(corpus)}
        docs = list(corpus.values())
        titles = self._tokens([d.title for d in docs])
        bodies = self._tokens([d.text for d in docs])
        self.vocab: dict[str, int] = {}
        title_ids = [self._ids(t, grow=True) for t in titles]
        body_ids = [self._ids(t, grow=True) for t in bodies]
        width = max(1, len(self.vocab))
        self._title = _binary(title_ids, width)
        self._body = _binary(body_ids, width, counts=True)
        self._body_seen = self._body.copy()
        self._body_seen.data[:] = 1.0
        self._body_logtf = self._body.copy()
        self._body_logtf.data = np.log1p(self._body_logtf.data)
        self._title_len = np.array([len(t) for t in titles], dtype=np.float64)
        self._doc_len = self._title_len + np.array([len(t) for t in bodies], dtype=np.float64)

    def _tokens(self, texts: Sequence[str]) -> list[list[str]]:
        return tokenize(texts, stemmer=self.stemmer, stopwords=self.stopwords, return_ids=False)

    def _ids(self, tokens: Sequence[str], *, grow: bool) -> list[int]:
        if grow:
            return [self.vocab.setdefault(t, len(self.vocab)) for t in tokens]
        return [self.vocab[t] for t in tokens if t in self.vocab]

    # -- candidates ----------------------------------------------------------------------
    def _candidates(self, qid: str, runs: Mapping[str, Run]) -> list[str]:
        pool: dict[str, float] = {}
        for run in runs.values():
            for rank, doc_id in enumerate(ranked_ids(run.get(qid, {}))[: self.depth], start=1):
                pool[doc_id] = pool.get(doc_id, 0.0) + 1.0 / (self.rrf_k + rank)
        return ranked_ids(pool)

    def _run_block(
        self, run: Run, qids: np.ndarray, docs: Sequence[str], starts: np.ndarray, sizes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Columns score, rank, present, z, minmax for one run, and the raw ranks (for RRF)."""
        rows = len(docs)
        score = np.full(rows, np.nan)
        rank = np.zeros(rows)
        cache: dict[str, tuple[dict[str, int], int]] = {}
        for r, (qid, doc_id) in enumerate(zip(qids, docs, strict=True)):
            if qid not in cache:
                ranked = ranked_ids(run.get(qid, {}))
                missing = max(len(ranked), self.depth) + 1
                cache[qid] = ({d: i for i, d in enumerate(ranked, start=1)}, missing)
            positions, missing_rank = cache[qid]
            position = positions.get(doc_id)
            if position is None:
                rank[r] = missing_rank
            else:
                rank[r] = position
                score[r] = run[qid][doc_id]
        present = ~np.isnan(score)
        low, high, mean, std = _group_stats(score, present, starts, sizes)
        low = np.nan_to_num(low, nan=0.0)
        spread = np.nan_to_num(high, nan=0.0) - low
        safe_std = np.where(std > 0, std, 1.0)
        z = np.where(std > 0, (score - mean) / safe_std, 0.0)
        z_floor = np.repeat(
            np.nan_to_num(np.fmin.reduceat(np.where(present, z, np.nan), starts), nan=0.0), sizes
        )
        minmax = np.where(spread > 0, (score - low) / np.where(spread > 0, spread, 1.0), 1.0)
        block = np.column_stack(
            [
                np.where(present, score, low),
                rank,
                present.astype(np.float64),
                np.where(present, z, z_floor),
                np.where(present, minmax, 0.0),
            ]
        )
        return block, np.where(present, rank, np.inf)

    def _lexical(
        self, queries: Queries, qids: Sequence[str], row_q: np.ndarray, row_d: np.ndarray
    ) -> np.ndarray:
        tokens = self._tokens([queries[qid] for qid in qids])
        q_terms = np.array([len(set(t)) for t in tokens], dtype=np.float64)
        q_matrix = _binary([sorted(set(self._ids(t, grow=False))) for t in tokens], self._width)
        q_rows = q_matrix[row_q]
        in_title = np.asarray(q_rows.multiply(self._title[row_d]).sum(axis=1)).ravel()
        in_body = np.asarray(q_rows.multiply(self._body_seen[row_d]).sum(axis=1)).ravel()
        tf = np.asarray(q_rows.multiply(self._body_logtf[row_d]).sum(axis=1)).ravel()
        terms = q_terms[row_q]
        share = np.maximum(terms, 1.0)
        return np.column_stack(
            [
                terms,
                in_title / share,
                ((in_title == terms) & (terms > 0)).astype(np.float64),
                in_body / share,
                tf,
                _length_bucket(self._doc_len[row_d]),
                _length_bucket(self._title_len[row_d]),
            ]
        )

    @property
    def _width(self) -> int:
        return self._title.shape[1]

    # -- the matrix ----------------------------------------------------------------------
    def build(
        self,
        queries: Queries,
        runs: Mapping[str, Run],
        *,
        extra_runs: Mapping[str, Run] | None = None,
        pair_signals: Signals | None = None,
        doc_signals: Mapping[str, Mapping[str, float]] | None = None,
    ) -> CandidateFeatures:
        """Features of every query in ``queries`` that some run retrieved anything for.

        ``runs``: the first stages, ``{name: Run}`` (candidates and RRF come from these).
        ``extra_runs``: more scored columns over the same candidates (a cross-encoder).
        ``pair_signals``: ``{name: {qid: {doc_id: value}}}``; ``doc_signals``:
        ``{name: {doc_id: value}}`` (behaviour, e.g. debiased click-through, dwell, thumbs,
        citations). Nothing is modified.
        """
        if not runs:
            raise ConfigError("features need at least one first-stage run, e.g. {'bm25': run}")
        extra_runs = dict(extra_runs or {})
        clash = set(runs) & set(extra_runs)
        if clash:
            raise ConfigError(f"run names used twice: {', '.join(sorted(clash))}; rename one")
        qids, docs, sizes = [], [], []
        for qid in queries:
            found = self._candidates(qid, runs)
            if found:
                qids.append(qid)
                docs.extend(found)
                sizes.append(len(found))
        unknown = [d for d in dict.fromkeys(docs) if d not in self.doc_row]
        if unknown:
            raise ConfigError(
                f"{len(unknown)} candidate documents are not in the corpus (e.g. "
                f"{', '.join(unknown[:3])}); build the featurizer over the corpus the runs searched"
            )
        size_arr = np.asarray(sizes, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(size_arr)]).astype(np.int64)
        starts = offsets[:-1]
        row_qids = np.repeat(np.asarray(qids, dtype=object), size_arr)
        row_q = np.repeat(np.arange(len(qids)), size_arr)
        row_d = np.fromiter((self.doc_row[d] for d in docs), dtype=np.int64, count=len(docs))

        names: list[str] = []
        columns: list[np.ndarray] = []
        rrf = np.zeros(len(docs))
        hits = np.zeros(len(docs))
        for name, run in {**runs, **extra_runs}.items():
            block, ranks = self._run_block(run, row_qids, docs, starts, size_arr)
            names += [f"{name}:{part}" for part in RUN_FEATURES]
            columns.append(block)
            if name in runs:
                rrf += np.where(np.isfinite(ranks), 1.0 / (self.rrf_k + ranks), 0.0)
                hits += np.isfinite(ranks)
        names += ["rrf", "runs:present"]
        columns.append(np.column_stack([rrf, hits]))
        names += list(LEXICAL_FEATURES)
        columns.append(self._lexical(queries, qids, row_q, row_d))
        for name, values in (pair_signals or {}).items():
            names += [f"pair:{name}", f"pair:{name}:present"]
            columns.append(_lookup([values.get(q, {}) for q in row_qids], docs))
        for name, values in (doc_signals or {}).items():
            names += [f"doc:{name}", f"doc:{name}:present"]
            columns.append(_lookup([values] * len(docs), docs))
        if len(set(names)) != len(names):
            raise ConfigError("two features share a name; give runs and signals distinct names")
        return CandidateFeatures(
            names=tuple(names),
            qids=tuple(qids),
            offsets=offsets,
            doc_ids=tuple(docs),
            matrix=np.column_stack(columns).astype(np.float64),
        )


def _lookup(tables: Sequence[Mapping[str, float]], docs: Sequence[str]) -> np.ndarray:
    """Value and present flag per row from one ``{doc_id: value}`` table per row (0 if absent)."""
    raw = np.fromiter(
        (float(t.get(d, np.nan)) for t, d in zip(tables, docs, strict=True)),
        dtype=np.float64,
        count=len(docs),
    )
    present = ~np.isnan(raw)
    return np.column_stack([np.where(present, raw, 0.0), present.astype(np.float64)])


def build_features(
    queries: Queries,
    corpus: Corpus,
    runs: Mapping[str, Run],
    *,
    depth: int = 100,
    rrf_k: int = 60,
    extra_runs: Mapping[str, Run] | None = None,
    pair_signals: Signals | None = None,
    doc_signals: Mapping[str, Mapping[str, float]] | None = None,
) -> CandidateFeatures:
    """One-shot :meth:`CandidateFeaturizer.build` (keep a featurizer to tokenise a corpus once)."""
    featurizer = CandidateFeaturizer(corpus, depth=depth, rrf_k=rrf_k)
    return featurizer.build(
        queries, runs, extra_runs=extra_runs, pair_signals=pair_signals, doc_signals=doc_signals
    )
