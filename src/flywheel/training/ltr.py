"""A learned re-ranker needing no pretrained cross-encoder: LightGBM LambdaMART over candidates.

:func:`train_ltr_reranker` fits ``lightgbm.LGBMRanker(objective="lambdarank")`` on the rows of
:class:`~flywheel.retrieval.features.CandidateFeatures` (one group per query), with graded labels
0-5 from the judgments (unjudged candidates are 0) and a label gain of ``2**g - 1`` by default, so
a grade-5 document counts 31 times a grade-1 one rather than 5 times. With a dev set it stops
early on the dev set's nDCG@``eval_at``. It trains in seconds on two cores.

**Which queries it may learn from.** A fine-tuned embedder scores the queries it was trained on
far better than new ones; a re-ranker fitted on those scores learns to trust the embedder blindly
and loses on every query that matters. So the re-ranker learns only from queries whose
first-stage scores come from models that never saw them:

- a split held apart from the embedder's training (the loop's dev queries), or
- cross-fitting: split the embedder's training queries with :func:`cross_fit_folds`, fine-tune
  one embedder per fold on the other folds, and score each fold with the embedder that left it
  out; the concatenated runs are then honest for every query.

Pass the first stage's training queries as ``exclude_qids`` and training on any of them raises
:class:`~flywheel.errors.LeakageError`. Whether the result replaces the first stage is decided by
:func:`flywheel.training.ltr_gate.gate_ltr_reranker`, on queries the re-ranker never trained on.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field, field_validator
from scipy.sparse.csgraph import connected_components

from flywheel._internal.hashing import file_hash
from flywheel.data.types import Run
from flywheel.errors import ConfigError, LeakageError, NotFoundError
from flywheel.retrieval.features import CandidateFeatures
from flywheel.training.artifacts import (
    MANIFEST_NAME,
    git_commit,
    library_versions,
    write_manifest,
)

logger = logging.getLogger(__name__)

KIND = "ltr-reranker"
MODEL_FILE = "model.txt"

__all__ = [
    "LTRConfig",
    "LTRReranker",
    "cross_fit_folds",
    "shared_document_groups",
    "train_ltr_reranker",
]


def exponential_gain(max_grade: int = 5) -> list[float]:
    """``2**g - 1`` for g = 0..max_grade: each grade counts about twice the one below."""
    return [float(2**g - 1) for g in range(max_grade + 1)]


class LTRConfig(BaseModel):
    """LambdaMART settings. ``label_gain[g]`` is the gain of grade ``g`` (0-5 by default);
    ``early_stopping_rounds`` applies when a dev set is given; ``depth`` is the candidates taken
    from each first-stage run (recorded so a saved model says what it was trained on).

    The defaults (slow learning, leaves of at least 50 rows) scored best in grouped 5-fold
    cross-validation on SciFact's 809 train queries over BM25 + MiniLM among six settings tried
    (``benchmarks/ltr_probe.py``)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    num_leaves: int = Field(31, ge=2)
    learning_rate: float = Field(0.02, gt=0.0)
    n_estimators: int = Field(500, ge=1)
    min_data_in_leaf: int = Field(50, ge=1)
    feature_fraction: float = Field(0.9, gt=0.0, le=1.0)
    label_gain: list[float] = Field(default_factory=exponential_gain)
    early_stopping_rounds: int = Field(60, ge=1)
    eval_at: int = Field(10, ge=1)
    depth: int = Field(100, ge=1)
    seed: int = 42
    n_jobs: int = Field(1, ge=1)

    @field_validator("label_gain")
    @classmethod
    def _increasing(cls, value: list[float]) -> list[float]:
        if len(value) < 2 or any(b < a for a, b in zip(value, value[1:], strict=False)):
            raise ValueError(
                "label_gain needs one non-decreasing gain per grade from 0, e.g. 2^g-1"
            )
        return value

    @property
    def max_grade(self) -> int:
        return len(self.label_gain) - 1


def _primary(judged: Mapping[str, int]) -> str | None:
    """A query's best-graded relevant document (ties by doc_id), or None."""
    relevant = [(-g, d) for d, g in judged.items() if g > 0]
    return min(relevant)[1] if relevant else None


def shared_document_groups(
    qrels: Mapping[str, Mapping[str, int]], *, max_size: int | None = None
) -> dict[str, str]:
    """A group id per query: queries linked by a shared relevant document (directly or through
    others) share a group. SciFact's claims, for one, come in families citing one abstract; with
    such queries on both sides of a fold, a model learns which documents were relevant to their
    siblings rather than what makes one relevant, and cross-validation flatters it.

    In a densely judged collection the links chain most queries together (Cranfield: 95 of its
    150 train queries). A group larger than ``max_size`` is split by each query's best-graded
    relevant document, and a part still too large into single queries, so folds stay balanced.
    """
    qids = sorted(qrels)
    docs = sorted({d for q in qids for d, g in qrels[q].items() if g > 0})
    doc_index = {d: i for i, d in enumerate(docs)}
    rows, cols = [], []
    for i, qid in enumerate(qids):
        for doc_id, grade in qrels[qid].items():
            if grade > 0:
                rows.append(i)
                cols.append(len(qids) + doc_index[doc_id])
    size = len(qids) + len(docs)
    graph = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    groups = {qid: f"c{labels[i]}" for i, qid in enumerate(qids)}
    if max_size is None:
        return groups
    for _ in range(2):  # components -> primary documents -> single queries
        counts = Counter(groups.values())
        for qid in qids:
            if counts[groups[qid]] > max_size:
                primary = _primary(qrels[qid])
                groups[qid] = f"d:{primary}" if groups[qid].startswith("c") and primary else qid
    return groups


def cross_fit_folds(
    qids: Sequence[str],
    k: int = 5,
    *,
    seed: int = 42,
    groups: Mapping[str, int | str] | None = None,
) -> list[tuple[list[str], list[str]]]:
    """``k`` ``(train_qids, held_out_qids)`` splits by query; each query is held out once.

    Use them to keep a model's scores honest on the queries another model learns from: a model
    trained on ``train_qids`` scores only ``held_out_qids`` (see the module docstring).
    ``groups`` (qid -> group id, e.g. :func:`shared_document_groups`) keeps each group in one
    fold; groups go, in a seeded random order, to the fold with the fewest queries so far. The
    same inputs give the same folds.
    """
    unique = sorted(set(qids))
    if not 2 <= k <= len(unique):
        raise ConfigError(f"cross-fitting needs 2 <= k <= {len(unique)} queries, got k={k}")
    members: dict[object, list[str]] = {}
    for qid in unique:
        members.setdefault(groups.get(qid, qid) if groups else qid, []).append(qid)
    order = np.random.default_rng(seed).permutation(len(members))
    bundles = list(members.values())
    parts: list[list[str]] = [[] for _ in range(k)]
    for i in order:
        smallest = min(range(k), key=lambda j: (len(parts[j]), j))
        parts[smallest].extend(bundles[i])
    if any(not part for part in parts):
        raise ConfigError(f"only {len(members)} query groups; they cannot fill {k} folds")
    parts = [sorted(part) for part in parts]
    return [
        ([q for j, part in enumerate(parts) if j != i for q in part], held)
        for i, held in enumerate(parts)
    ]


def _check_leakage(features: CandidateFeatures, exclude: Collection[str], what: str) -> None:
    leaked = sorted(set(features.qids) & set(exclude))
    if leaked:
        raise LeakageError(
            f"{len(leaked)} {what} queries (e.g. {', '.join(leaked[:3])}) were used to train "
            "the first stage, whose scores on them are inflated; train the re-ranker on "
            "queries the first stage never saw (a held-apart split, or cross_fit_folds)"
        )


def _labels(
    features: CandidateFeatures, qrels: Mapping[str, Mapping[str, int]], config: LTRConfig
) -> np.ndarray:
    labels = features.labels(qrels)
    if labels.size and int(labels.max()) > config.max_grade:
        raise ConfigError(
            f"a judgment has grade {int(labels.max())} but label_gain covers 0-{config.max_grade}; "
            "give one gain per grade (e.g. LTRConfig(label_gain=exponential_gain(max_grade)))"
        )
    return labels


class LTRReranker:
    """A trained LambdaMART model and the names of the feature columns it reads."""

    def __init__(
        self,
        booster: lightgbm.Booster,
        *,
        feature_names: Sequence[str],
        config: LTRConfig,
        best_iteration: int,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        self.booster = booster
        self.feature_names = tuple(feature_names)
        self.config = config
        self.best_iteration = int(best_iteration)
        self.info = dict(info or {})

    def score(self, features: CandidateFeatures) -> np.ndarray:
        """One score per candidate row (higher = more relevant)."""
        if features.n_rows == 0:
            return np.zeros(0)
        matrix = features.aligned(self.feature_names)
        return np.asarray(self.booster.predict(matrix, num_iteration=self.best_iteration))

    def rerank(self, features: CandidateFeatures) -> Run:
        """The candidates of every query, ordered by this model's score."""
        return features.to_run(self.score(features))

    def importances(self, kind: str = "gain") -> dict[str, float]:
        """Total ``gain`` (or ``split`` count) of each feature, largest first."""
        if kind not in ("gain", "split"):
            raise ConfigError(f"importance kind must be 'gain' or 'split', got '{kind}'")
        values = self.booster.feature_importance(
            importance_type=kind, iteration=self.best_iteration
        )
        pairs = zip(self.feature_names, (float(v) for v in values), strict=True)
        return dict(sorted(pairs, key=lambda item: (-item[1], item[0])))

    # -- the artifact --------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write ``model.txt`` (LightGBM's text format) and ``manifest.json``; return the folder.

        The manifest holds the feature names (in column order), the config, gain importances,
        the training summary and, for a model from the gate, its decision and verdict.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        model_path = folder / MODEL_FILE
        self.booster.save_model(str(model_path), num_iteration=self.best_iteration)
        versions = library_versions()
        versions["lightgbm"] = importlib.metadata.version("lightgbm")
        write_manifest(
            folder,
            {
                "kind": KIND,
                "model_file": MODEL_FILE,
                "model_hash": file_hash(model_path),
                "feature_names": list(self.feature_names),
                "config": self.config.model_dump(),
                "seed": self.config.seed,
                "best_iteration": self.best_iteration,
                "importances": {"gain": self.importances("gain")},
                "training": self.info,
                "accepted": self.info.get("gate", {}).get("accepted"),
                "verdict": self.info.get("gate", {}).get("verdict"),
                "versions": versions,
                "git_commit": git_commit(),
            },
        )
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> LTRReranker:
        """Load what :meth:`save` wrote; checks the manifest's kind and the model's hash."""
        folder = Path(folder)
        path = folder / MANIFEST_NAME
        if not path.is_file():
            raise NotFoundError(f"{path} not found; save a learned re-ranker there first")
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if manifest.get("kind") != KIND:
            raise ConfigError(
                f"{path}: holds a '{manifest.get('kind')}' artifact, not '{KIND}'; "
                "point at the folder LTRReranker.save wrote"
            )
        model_path = folder / manifest["model_file"]
        if not model_path.is_file() or file_hash(model_path) != manifest["model_hash"]:
            raise ConfigError(
                f"{model_path}: missing or changed since the manifest was written; "
                "save the re-ranker again"
            )
        booster = lightgbm.Booster(model_file=str(model_path))
        if booster.num_feature() != len(manifest["feature_names"]):
            raise ConfigError(
                f"{model_path}: the model reads {booster.num_feature()} features but the "
                f"manifest names {len(manifest['feature_names'])}; save the re-ranker again"
            )
        return cls(
            booster,
            feature_names=manifest["feature_names"],
            config=LTRConfig(**manifest["config"]),
            best_iteration=manifest["best_iteration"],
            info=manifest.get("training"),
        )

    def __repr__(self) -> str:
        return f"LTRReranker({len(self.feature_names)} features, {self.best_iteration} trees)"


def train_ltr_reranker(
    features_train: CandidateFeatures,
    qrels_train: Mapping[str, Mapping[str, int]],
    features_dev: CandidateFeatures | None = None,
    qrels_dev: Mapping[str, Mapping[str, int]] | None = None,
    *,
    config: LTRConfig | None = None,
    exclude_qids: Collection[str] = (),
) -> LTRReranker:
    """Fit LambdaMART on ``features_train`` graded by ``qrels_train``.

    With ``features_dev`` and ``qrels_dev`` (other queries), boosting stops once dev
    nDCG@``eval_at`` has not improved for ``early_stopping_rounds`` trees and keeps the best
    tree count; without, it grows ``n_estimators`` trees. ``exclude_qids``: queries the first
    stage was trained on; a train or dev query among them raises ``LeakageError``.
    """
    config = config or LTRConfig()
    if (features_dev is None) != (qrels_dev is None):
        raise ConfigError("pass both features_dev and qrels_dev, or neither")
    _check_leakage(features_train, exclude_qids, "training")
    if features_dev is not None:
        _check_leakage(features_dev, exclude_qids, "dev")
        overlap = sorted(set(features_train.qids) & set(features_dev.qids))
        if overlap:
            raise LeakageError(
                f"{len(overlap)} queries are in both the training and the dev features "
                f"(e.g. {', '.join(overlap[:3])}); split them by query"
            )
    labels = _labels(features_train, qrels_train, config)
    if not labels.any():
        raise ConfigError(
            "no training candidate is judged relevant; check that qrels_train holds the "
            "training queries and that the first-stage runs retrieve some judged documents"
        )
    model = lightgbm.LGBMRanker(
        objective="lambdarank",
        n_estimators=config.n_estimators,
        learning_rate=config.learning_rate,
        num_leaves=config.num_leaves,
        min_child_samples=config.min_data_in_leaf,
        colsample_bytree=config.feature_fraction,
        label_gain=list(config.label_gain),
        random_state=config.seed,
        n_jobs=config.n_jobs,
        deterministic=True,
        force_row_wise=True,
        verbose=-1,
    )
    fit: dict[str, Any] = {"group": features_train.group_sizes()}
    if features_dev is not None and qrels_dev is not None and features_dev.n_rows:
        fit.update(
            eval_X=(features_dev.aligned(features_train.names),),
            eval_y=(_labels(features_dev, qrels_dev, config),),
            eval_group=[features_dev.group_sizes()],
            eval_at=[config.eval_at],
            callbacks=[lightgbm.early_stopping(config.early_stopping_rounds, verbose=False)],
        )
    model.fit(features_train.matrix, labels, **fit)
    best = int(model.best_iteration_ or 0) or model.booster_.current_iteration()
    dev_scores = model.best_score_.get("valid_0", {}) if "eval_X" in fit else {}
    info = {
        "train_queries": len(features_train.qids),
        "train_rows": features_train.n_rows,
        "dev_queries": len(features_dev.qids) if features_dev is not None else 0,
        "dev_ndcg": {name: float(value) for name, value in dev_scores.items()},
        "trees": best,
    }
    logger.info("learned re-ranker: %d trees on %d queries", best, len(features_train.qids))
    return LTRReranker(
        model.booster_,
        feature_names=features_train.names,
        config=config,
        best_iteration=best,
        info=info,
    )
