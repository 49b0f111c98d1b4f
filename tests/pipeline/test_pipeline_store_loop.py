"""``flywheel run --db``: the loop on a store holding logs and no training judgment at all."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from flywheel.data import load_beir
from flywheel.datasets.hard_negatives import HardNegativeConfig
from flywheel.demo import generate_medications
from flywheel.pipeline import LoopConfig, run_flywheel
from flywheel.sdk import Logger
from flywheel.store import Store
from flywheel.testing import build_tiny_sentence_transformer
from flywheel.training.config import EmbedderTrainConfig


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_tiny_sentence_transformer(tmp_path_factory.mktemp("tiny") / "st")


def _logged_store(tmp_path: Path) -> tuple[str, dict[str, dict[str, int]]]:
    """The demo corpus and queries, test judgments only, and sessions over the training queries:
    the relevant passage shown at a random rank, clicked and read; one other clicked and left
    at once; the rest shown and skipped."""
    folder = generate_medications(tmp_path / "med", n_drugs=10, seed=1)
    data = load_beir(folder)
    url = f"sqlite:///{tmp_path / 'logs.db'}"
    rng = random.Random(0)
    docs = sorted(data.corpus)
    with Store(url) as store:
        store.add_documents(data.corpus.values())
        store.add_queries(data.queries)
        store.add_judgments(data.qrels["test"], source="benchmark", split="test")
        training = {**data.qrels["train"], **data.qrels.get("dev", {})}
        with Logger(store, batch_size=500) as log:
            for qid, rel in training.items():
                [positive] = [d for d, g in rel.items() if g > 0]
                for session in range(3):
                    shown = rng.sample([d for d in docs if d != positive], 9)
                    shown.insert(rng.randrange(10), positive)
                    sid = f"{qid}-{session}"
                    log.log_retrieval(
                        sid, qid, [(d, 10.0 - i) for i, d in enumerate(shown)], "bm25"
                    )
                    bounce = shown[0] if shown[0] != positive else shown[1]
                    log.log_click(sid, qid, bounce, shown.index(bounce) + 1)
                    log.log_dwell(sid, qid, bounce, 1_500)
                    log.log_click(sid, qid, positive, shown.index(positive) + 1)
                    log.log_dwell(sid, qid, positive, 60_000)
        assert not store.qrels("train")  # no training judgment anywhere
    return url, training


def test_run_on_a_store_with_logs_and_no_training_judgments(
    tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLYWHEEL_CACHE", str(tmp_path / "cache"))
    url, truth = _logged_store(tmp_path)
    config = LoopConfig(
        db=url,
        out_dir=tmp_path / "out",
        base_model=tiny_model,
        dev_fraction=0.2,
        encode_batch_size=16,
        mining=HardNegativeConfig(relative_margin=None),
        near_duplicate_threshold=0.9999,  # a random tiny model finds all queries alike
        embedder=EmbedderTrainConfig(
            epochs=1, batch_size=8, max_seq_length=32, eval_each_epoch=False
        ),
        latency_queries=0,
        search_budget_minutes=0.5,  # the default recipe, and candidates as far as time allows
    )
    result = run_flywheel(config)

    # every training label came from the logs, and the report says so
    assert set(result.labels["positives"]) == {"events"}
    assert result.labels["positives"]["events"] >= 0.9 * sum(len(r) for r in truth.values())
    assert result.split_sizes["train"] > 0 and result.split_sizes["dev"] > 0
    assert result.split_sizes["test"] == len(load_beir(tmp_path / "med").qrels["test"])
    # behavioural negatives reached the triplets beside mined ones
    by_source = result.labels["negatives_by_source"]
    assert any(source.startswith("events:") for source in by_source), by_source
    # the split ran the cosine near-duplicate check with the base model
    assert result.splits["near_duplicate_check"] == "embeddings"
    # systems are typed; the selection is one of the loop's own, chosen on dev
    assert result.systems[result.selected]["role"] == "loop"
    assert result.summary_path.exists() and result.report_path.exists()
    # the recipe search starts from the default, and the kept model is one it trained
    assert result.recipe_search[0]["recipe"] == "default"
    assert result.embedder["model_path"] in {t["model_path"] for t in result.recipe_search}
    # the log labels are checked against the people's judgments (the test queries' pairs that
    # were logged: none here, so no agreement table) and the position-bias curve is drawn
    assert result.labels["propensity_curve"]["rank"][0] == 1
    html = result.report_path.read_text()
    assert "Training labels by source" in html and "Position bias estimated" in html
    # the learned re-ranker reads what users did with each document for training queries
    # (21 dev queries here, above the ten the gate needs)
    features = (result.learned_reranker or {}).get("features", [])
    assert {"doc:log_relevance", "doc:log_ctr", "doc:log_negative"} <= set(features), features
    # dev queries labelled from logs are scored on condensed lists (the never-shown are unjudged),
    # in the loop's dev table and in training's own gate
    assert result.splits["dev_condensed_queries"] == result.split_sizes["dev"]
    manifest = (Path(result.embedder["model_path"]).parent / "manifest.json").read_text()
    assert '"condensed_queries": ' in manifest
    # the report's timing table shows the peak memory after each stage, as the summary does
    baseline = result.timings["baseline"]
    peak = result.peak_memory_by_stage["baseline"]
    assert f"<td>baseline</td><td>{baseline:.1f}</td><td>{peak:.0f}</td>" in html
