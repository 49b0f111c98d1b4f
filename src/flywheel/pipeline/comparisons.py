"""Models the loop did not build, measured beside the ones it did: ``flywheel run --compare``.

"Is my fine-tuned MiniLM better than paying for ``openai:text-embedding-3-small``?" needs both on
the same queries, with the same metrics and the same latency and cost measurement. A comparison
is an embedder (``openai:...``, ``cohere:embed-...``, a local folder or Hub id - anything
``dense:MODEL`` resolves, see :mod:`flywheel.retrieval.registry`) searched as a dense system, or
a re-ranker (``cohere:rerank-v3.5`` or a local cross-encoder) over the selected pipeline's first
stage. Each is evaluated on dev and test as ``"compare: MODEL"`` and measured by
:func:`flywheel.evaluation.cost.measure`, exactly as an experiment variant is.

Comparisons are never selected: the loop ships what it built (and chose on dev), and a
comparison is a yardstick, not a candidate. The verdict names the best comparison *on dev* and
tests the selected pipeline against it on the test split (paired), with what each costs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flywheel.data.types import Corpus, Queries, Run
from flywheel.errors import ConfigError
from flywheel.evaluation import compare
from flywheel.evaluation.cost import CostProfile, measure
from flywheel.evaluation.experiment_spec import check_model
from flywheel.hosted.providers import is_hosted_model, parse_model
from flywheel.pipeline.config import LoopConfig
from flywheel.pipeline.stages import Timings, restrict
from flywheel.retrieval.base import top_k
from flywheel.retrieval.hosted_rerank import HostedReranker
from flywheel.retrieval.registry import build_retriever
from flywheel.retrieval.rerank import CrossEncoderReranker, RerankedRetriever

PREFIX = "compare: "
RERANK_SUFFIX = " + re-rank"


def comparison_name(model: str, first_stage: str | None = None) -> str:
    """``compare: MODEL`` for an embedder, ``compare: FIRST STAGE + MODEL`` for a re-ranker."""
    return f"{PREFIX}{first_stage} + {model}" if first_stage else f"{PREFIX}{model}"


def is_comparison(system: str) -> bool:
    return system.startswith(PREFIX)


def first_stage_of(system: str) -> str:
    """The first stage of a loop system: ``"fine-tuned hybrid + re-rank"`` -> its hybrid."""
    return system.removesuffix(RERANK_SUFFIX)


def check_comparisons(config: LoopConfig) -> None:
    """Fail before any training when a comparison cannot run: a missing key or model, an
    embedder list that holds a re-ranker, or a provider that serves no such model kind."""
    fields = (("compare_models", "embed"), ("compare_rerankers", "rerank"))
    for field, kind in fields:
        for i, name in enumerate(getattr(config, field)):
            where = f"{field}[{i}] '{name}'"
            if is_hosted_model(name):
                _, model = parse_model(name, kind=kind)
                if kind == "embed" and "rerank" in model:
                    raise ConfigError(
                        f"{where} is a re-ranker, not an embedder; pass it with "
                        f"--compare-reranker {name} (compare_rerankers)"
                    )
            try:
                check_model(name)
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from None


def _dense_options(config: LoopConfig, model: str) -> dict[str, Any]:
    """A local comparison runs with the loop's batch size, device and backend; a hosted one
    with its provider's own limits (local-only options are refused for it)."""
    if is_hosted_model(model):
        return {}
    return {
        "batch_size": config.encode_batch_size,
        "device": config.device,
        "backend": config.inference_backend,
    }


def embedder_comparisons(
    config: LoopConfig,
    corpus: Corpus,
    queries: Queries,
    *,
    timings: Timings,
    say: Callable[[str], None],
) -> tuple[dict[str, Run], dict[str, CostProfile]]:
    """One measured dense run per ``compare_models`` entry, over ``queries`` (dev + test)."""
    runs: dict[str, Run] = {}
    costs: dict[str, CostProfile] = {}
    corpus_texts = [doc.text_for_encoding for doc in corpus.values()]
    for model in dict.fromkeys(config.compare_models):
        name = comparison_name(model)
        with timings.stage(f"evaluate {name}"):
            _, runs[name], costs[name] = measure(
                lambda model=model: build_retriever(
                    f"dense:{model}", corpus, **_dense_options(config, model)
                ),
                queries,
                k=config.retrieve_k,
                corpus_texts=corpus_texts,
                latency_queries=config.latency_queries,
            )
        say(f"{name}: dense search over {len(corpus)} documents, {len(queries)} queries")
    return runs, costs


class FixedRun:
    """A finished run served as a retriever, so a re-ranker over it is measured on its own
    (its latency and cost are the re-ranking step's; the first stage has its own row)."""

    def __init__(self, run: Run, name: str) -> None:
        self.run = run
        self.name = name

    def search(self, queries: Queries, k: int = 100) -> Run:
        return {qid: top_k(self.run.get(qid, {}), k) for qid in queries}


def reranker_comparisons(
    config: LoopConfig,
    *,
    first_stage: str,
    first_run: Run,
    queries: Queries,
    texts: Mapping[str, str],
    timings: Timings,
    say: Callable[[str], None],
) -> tuple[dict[str, Run], dict[str, CostProfile]]:
    """Each ``compare_rerankers`` entry over the top ``reranker.depth`` of ``first_run``."""
    runs: dict[str, Run] = {}
    costs: dict[str, CostProfile] = {}
    depth = config.reranker.depth
    for model in dict.fromkeys(config.compare_rerankers):
        name = comparison_name(model, first_stage)
        reranker: CrossEncoderReranker
        if is_hosted_model(model):
            reranker = HostedReranker(model, depth=depth)
        else:
            reranker = CrossEncoderReranker(
                model, depth=depth, device=config.device, backend=config.inference_backend
            )
        retriever = RerankedRetriever(FixedRun(first_run, first_stage), reranker, texts)
        with timings.stage(f"evaluate {name}"):
            _, runs[name], costs[name] = measure(
                lambda retriever=retriever: retriever,
                queries,
                k=config.retrieve_k,
                corpus_texts=[],
                latency_queries=config.latency_queries,
            )
        say(f"{name}: re-ranked the top {depth} of {len(queries)} queries")
    return runs, costs


def _money(value: float | None) -> str:
    return "an unknown price" if value is None else f"${value:.4f}"


def _cost_phrase(cost: Mapping[str, Any] | None) -> str:
    """What running a system costs, in a few words, for the verdict line."""
    if not cost:  # a loop system the loop does not time on its own (a re-ranked one)
        return "local"
    if cost.get("hosted"):
        per_1k, index = cost.get("cost_per_1k_queries_usd"), cost.get("index_cost_usd")
        phrase = f"{_money(per_1k)} per 1,000 queries"
        return phrase if index == 0.0 else f"{phrase}, {_money(index)} to index"  # re-rankers: 0
    p50 = cost.get("latency_p50_ms")
    return "local" + ("" if p50 is None else f", p50 {p50:.1f} ms per query here")


def versus_best_comparison(
    qrels: Mapping[str, Mapping[str, int]],
    runs: Mapping[str, Run],
    *,
    dev_scores: Mapping[str, Mapping[str, float]],
    costs: Mapping[str, Mapping[str, Any]],
    selected: str,
    queries: Queries,
    metric: str,
) -> dict[str, Any] | None:
    """The selected pipeline against the comparison that scored best on dev, on the test
    queries: means, difference, paired permutation p-value, wins/ties/losses, costs and one
    plain sentence. ``None`` when nothing was compared."""
    names = [n for n in runs if is_comparison(n)]
    if not names:
        return None
    best = max(names, key=lambda n: dev_scores[n][metric])
    pair = {best: restrict(runs[best], queries), selected: restrict(runs[selected], queries)}
    comparison = compare(qrels, pair, metrics=[metric], baseline=best)
    outcome = comparison.outcomes[selected][metric]
    best_mean, sel_mean = comparison.mean(best, metric), comparison.mean(selected, metric)
    diff = sel_mean - best_mean
    direction = "above it" if diff > 0 else "below it" if diff < 0 else "level with it"
    return {
        "systems": names,
        "best": best,
        "selected": selected,
        "metric": metric,
        "best_dev": dev_scores[best][metric],
        "best_mean": best_mean,
        "selected_mean": sel_mean,
        "difference": diff,
        "p_value": outcome.p_value,
        "significant": outcome.significant,
        "outcome": outcome.to_dict(),
        "verdict": (
            f"vs the best comparison on dev ({best}, {_cost_phrase(costs.get(best))}): "
            f"{selected} ({_cost_phrase(costs.get(selected))}) test {metric} {sel_mean:.4f} "
            f"vs {best_mean:.4f}, {diff:+.4f} {direction} (paired "
            f"permutation p={outcome.p_value:.3g}). Comparisons are measured, never selected."
        ),
    }
