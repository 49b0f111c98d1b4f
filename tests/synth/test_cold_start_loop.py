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
    question = next(iter(cold.positives))
    [row] = cold.mask([{"anchor": question, "positive": "full passage", "negative": "x"}])
    assert question not in row["positive"] and row["negative"] == "x"
    with_train = RetrievalDataset(
        "t", corpus, {"t1": "q", "r1": "r"}, {"test": {"t1": {"d1": 1}}, "train": {"r1": {"d0": 1}}}
    )
    assert plan_cold_start(with_train, config, say=said.append, embedder=embedder) is None
