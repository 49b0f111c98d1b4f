"""Past one machine: batch encoding, hard-negative mining and pair scoring on Ray Data.

Every job takes ``engine="local"`` (this process) or ``engine="ray"`` (a Ray Data pipeline of
actors, locally or on a cluster by address) and writes Parquet shards that the rest of the
toolkit reads. ``import flywheel.scale`` imports neither Ray nor torch. See docs/scaling.md.
"""

from flywheel.scale.encode import EncodeReport, encode_corpus, fill_cache
from flywheel.scale.engine import Engine, RayOptions
from flywheel.scale.mining import mine_negatives, read_negatives
from flywheel.scale.scoring import Pair, ScoreReport, pairs_from_run, score_pairs, scores_to_run
from flywheel.scale.shards import EmbeddingShards, read_embeddings, read_scores

__all__ = [
    "EmbeddingShards",
    "EncodeReport",
    "Engine",
    "Pair",
    "RayOptions",
    "ScoreReport",
    "encode_corpus",
    "fill_cache",
    "mine_negatives",
    "pairs_from_run",
    "read_embeddings",
    "read_negatives",
    "read_scores",
    "score_pairs",
    "scores_to_run",
]
