"""Condensed lists: score a ranking only over the documents someone judged.

Labels from logs exist only for what the production ranker showed. Scored the usual way, every
document it never showed counts as non-relevant, so a new model that finds other relevant
documents looks worse than the ranker that made the logs: in a simulation over SciFact the
dev gate kept the base model (dev 0.744 vs 0.736) while the fine-tuned one was +0.040 nDCG@10
better on the human-judged test queries. The standard remedy for such incomplete judgments is to
drop unjudged documents from each ranking before scoring (Sakai, "Alternatives to Bpref",
SIGIR 2007): systems are then compared on what the judgments can tell apart. It needs judged
*negatives*, which logs have (shown and passed over) and positive-only benchmark qrels do not,
so it is applied per query, only where a judged set is given.
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
