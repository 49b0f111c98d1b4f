"""``flywheel run`` without training queries plans a synthetic cold start and says so."""

from __future__ import annotations

from flywheel.data.types import Document, RetrievalDataset
from flywheel.pipeline.cold_start import plan_cold_start
from flywheel.pipeline.config import LoopConfig
from flywheel.testing import FakeEmbedder

TEXTS = [
    "Aspirin lowers the risk of a second heart attack. It blocks platelets in arteries. "
    "Doctors weigh stomach bleeding against the benefit.",
    "Volcanoes erupt molten rock called lava. Lava cools into basalt over many years. "
    "Whole islands were built by eruptions of this kind.",
    "Bread rises because yeast makes carbon dioxide. Warm kitchens speed the rise of dough. "
    "Salt slows the yeast down a little.",
]


def test_a_dataset_without_train_queries_gets_synthetic_ones_in_train_only(tmp_path):
    corpus = {f"d{i}": Document(f"d{i}", t) for i, t in enumerate(TEXTS)}
    dataset = RetrievalDataset(
        "tiny", corpus, {"t1": "what is lava made of"}, {"test": {"t1": {"d1": 1}}}
    )
    config = LoopConfig(dataset="tiny", out_dir=tmp_path / "out")
    said: list[str] = []
    embedder = FakeEmbedder(cache_dir=tmp_path / "emb")
    cold = plan_cold_start(dataset, config, say=said.append, embedder=embedder)
    assert cold is not None and said
    train = cold.dataset.qrels["train"]
    assert train and all(q.startswith("syn-ict-") for q in train)
    assert cold.dataset.qrels["test"] == {"t1": {"d1": 1}}  # evaluation split untouched
    assert cold.config.embedder.learning_rate == 1e-5 and cold.config.embedder.epochs == 1
    assert "synthetic pseudo-questions" in cold.note
    assert "round-trip" not in cold.result.report.rejected  # pointless for ICT
    positives = cold.dataset.positive_texts
    assert set(positives) == set(train)  # every synthetic question has its masked passage
    for qid, by_doc in positives.items():
        [(doc_id, passage)] = by_doc.items()
        assert train[qid] == {doc_id: 1}
        question = cold.dataset.queries[qid]
        assert question not in passage and question in corpus[doc_id].text
    with_train = RetrievalDataset(
        "t", corpus, {"t1": "q", "r1": "r"}, {"test": {"t1": {"d1": 1}}, "train": {"r1": {"d0": 1}}}
    )
    assert plan_cold_start(with_train, config, say=said.append, embedder=embedder) is None


def test_the_loop_trains_synthetic_questions_against_their_masked_passage(tmp_path):
    """``embedder_rows`` (what ``flywheel run`` trains on) takes the cold start's positives."""
    from flywheel.datasets._selection import MinedExample, MiningStats
    from flywheel.datasets.hard_negatives import HardNegativeConfig, MinedNegatives
    from flywheel.pipeline.mining import embedder_rows
    from flywheel.pipeline.splits import LoopSplits

    corpus = {f"d{i}": Document(f"d{i}", t) for i, t in enumerate(TEXTS)}
    dataset = RetrievalDataset("tiny", corpus, {"t1": "lava"}, {"test": {"t1": {"d1": 1}}})
    config = LoopConfig(dataset="tiny", out_dir=tmp_path / "out")
    embedder = FakeEmbedder(cache_dir=tmp_path / "emb")
    cold = plan_cold_start(dataset, config, say=lambda _: None, embedder=embedder)
    train = cold.dataset.qrels["train"]
    queries = {q: cold.dataset.queries[q] for q in train}
    splits = LoopSplits(queries, train, {}, {}, {"t1": "lava"}, {"t1": {"d1": 1}}, "none")
    examples = []
    for qid, grades in train.items():
        [doc_id] = grades
        other = next(d for d in corpus if d != doc_id)
        examples.append(MinedExample(qid, doc_id, 0.9, (other,), (0.5,), (3,)))
    mined = MinedNegatives(examples, HardNegativeConfig(), MiningStats())
    rows = embedder_rows(
        cold.config,
        splits,
        mined,
        cold.dataset.texts(),
        lambda _: None,
        positive_texts=cold.dataset.positive_texts,
    )
    assert len(rows) == len(train)
    for row, example in zip(rows, examples, strict=True):
        masked = cold.dataset.positive_texts[example.qid][example.positive_id]
        assert row["positive"] == masked and row["anchor"] not in row["positive"]
        assert row["negative"] == cold.dataset.texts()[example.negative_ids[0]]


def test_a_local_language_model_writes_the_cold_start_questions(tmp_path, monkeypatch):
    """``cold_start_generator="llm"`` with ``local:``: no key, every passage asked once, the
    reply cut at the line end, usage in seconds in the note; the test split untouched."""
    import pytest
    from pydantic import ValidationError

    from flywheel.testing import build_tiny_causal_lm

    monkeypatch.setenv("FLYWHEEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = f"local:{build_tiny_causal_lm(tmp_path / 'tiny-lm')}"
    corpus = {f"d{i}": Document(f"d{i}", t) for i, t in enumerate(TEXTS)}
    dataset = RetrievalDataset(
        "tiny",
        corpus,
        {"t1": "what is lava made of", "live1": "does salt slow yeast"},
        {"test": {"t1": {"d1": 1}}},
    )
    config = LoopConfig(
        dataset="tiny",
        out_dir=tmp_path / "out",
        cold_start_generator="llm",
        cold_start_model=model,
    )
    from flywheel.hosted.local_model import LocalTransport

    seen: list[dict] = []
    real = LocalTransport.call_batch

    def spy(self, kind, name, payloads):
        seen.extend(payloads)
        return real(self, kind, name, payloads)

    monkeypatch.setattr(LocalTransport, "call_batch", spy)
    said: list[str] = []
    cold = plan_cold_start(
        dataset, config, say=said.append, embedder=FakeEmbedder(cache_dir=tmp_path / "emb")
    )
    assert cold is not None and cold.config.cold_start_generator == "llm"
    assert len(seen) == len(TEXTS) and all(p["stop"] == ["\n"] for p in seen)
    prompt = seen[0]["messages"][-1]["content"]
    assert "- does salt slow yeast" in prompt  # unjudged real queries show the style
    assert "what is lava made of" not in prompt  # never an evaluation query
    usage = cold.result.usage
    assert usage["in_process"] and usage["calls"] == cold.result.sampled == len(TEXTS)
    assert cold.result.report.candidates == len(TEXTS)
    assert "round-trip" in cold.result.report.rejected  # BM25 must find a model's passage
    assert f"questions written by {model}" in cold.note and "s here" in cold.note
    train = cold.dataset.qrels["train"]
    assert all(cold.dataset.queries[q] and q not in ("t1", "live1") for q in train)
    assert all(p.generator == "llm" for p in cold.result.kept)
    assert cold.dataset.qrels["test"] == {"t1": {"d1": 1}}
    with pytest.raises(ValidationError, match="needs cold_start_model"):
        LoopConfig(cold_start_generator="llm")
