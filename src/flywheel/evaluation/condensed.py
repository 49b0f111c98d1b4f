"""Condensed lists: score a ranking only over the documents someone judged.

Labels from logs exist only for what the production ranker showed. Scored the usual way, every
document it never showed counts as non-relevant, so a new model that finds other relevant
documents is charged for them. The standard remedy for such incomplete judgments is to drop
unjudged documents from each ranking before scoring (Sakai, "Alternatives to Bpref", SIGIR 2007).
It needs judged *negatives*, which logs have (shown and passed over) and positive-only benchmark
qrels do not, so it is applied per query, only where a judged set is given.

It removes one bias of log labels, not all: relevant documents the production ranker placed low
are examined and clicked less, so they are labelled positive less often, and a dev set built
from logs still favours that ranker. In a simulation over SciFact (position bias 0.5) the dev
gate kept the base model with and without condensed lists (dev 0.744 vs 0.736 and 0.734), while
the fine-tuned model was +0.039 nDCG@10 better on the human-judged test queries.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from flywheel.data.types import Run


def condense(run: Run, judged: Mapping[str, Collection[str]]) -> Run:
    """``run`` with, for each query in ``judged``, only its judged documents (order and scores
    kept); other queries unchanged. Nothing is modified."""
    out: Run = {}
    for qid, docs in run.items():
        keep = judged.get(qid)
        out[qid] = dict(docs) if keep is None else {d: s for d, s in docs.items() if d in keep}
    return out
