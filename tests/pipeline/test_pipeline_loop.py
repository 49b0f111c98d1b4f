"""The whole loop on tiny generated data with tiny models: every stage runs, dev decides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flywheel.data import load_beir
from flywheel.datasets.hard_negatives import HardNegativeConfig
from flywheel.demo import generate_medications
from flywheel.errors import ConfigError
from flywheel.pipeline import LoopConfig, resolve_dataset, run_flywheel
from flywheel.pipeline.config import RerankerSettings
from flywheel.testing import build_tiny_sentence_transformer
from flywheel.training.config import EmbedderTrainConfig, RerankerTrainConfig


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_tiny_sentence_transformer(tmp_path_factory.mktemp("tiny") / "st")


@pytest.fixture()
def med(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FLYWHEEL_CACHE", str(tmp_path / "cache"))
    return generate_medications(tmp_path / "med", n_drugs=10, seed=1)


def _config(dataset: Path, out: Path, model: str, *, reranker: bool) -> LoopConfig:
    # a random tiny model scores everything alike: no margin, or no candidate would survive it
    return LoopConfig(
        mining=HardNegativeConfig(relative_margin=None),
        # a random tiny model finds every pair of queries alike: no cosine leak check
        near_duplicate_threshold=None,
        dataset=str(dataset),
        out_dir=out,
        base_model=model,
        dev_fraction=0.2,
        encode_batch_size=16,
        embedder=EmbedderTrainConfig(
            epochs=1, batch_size=8, max_seq_length=32, eval_each_epoch=False
        ),
        reranker=RerankerSettings(
            enabled=reranker,
            evaluate_rejected=True,
            base_model=model,
            depth=5,
            negatives_per_query=2,
            negative_window=10,
            train=RerankerTrainConfig(epochs=1, batch_size=8, max_length=64),
        ),
    )


def test_loop_runs_every_stage_and_selects_on_dev(
    med: Path, tmp_path: Path, tiny_model: str
) -> None:
    config = _config(med, tmp_path / "out", tiny_model, reranker=True)
    config.reference_recipe = True
    result = run_flywheel(config)

    expected = {
        "bm25",
        "base dense",
        "base hybrid",
        "fine-tuned dense",
        "fine-tuned hybrid",
        "base dense + re-rank",
        "base hybrid + re-rank",
        "fine-tuned dense + re-rank",
        "fine-tuned hybrid + re-rank",
        "plain MNRL (reference)",
    }
    assert set(result.test.systems) == expected
    # the selected pipeline is tested against the plain recipe on the same test queries
    reference = result.reference
    if result.selected != "plain MNRL (reference)":
        test_means = {n: result.test.mean(n, "ndcg@10") for n in result.test.systems}
        assert reference["selected_mean"] == pytest.approx(test_means[result.selected])
        assert reference["reference_mean"] == pytest.approx(test_means["plain MNRL (reference)"])
        assert 0.0 < reference["p_value"] <= 1.0
    assert "plain MNRL" in reference["verdict"] and reference["verdict"] in result.verdicts
    assert result.test.baseline == "base dense"
    # the selected pipeline is the best *dev* score among the systems the gates allow
    metric = "ndcg@10"
    allowed = [
        n
        for n in result.dev_scores
        if (result.embedder_accepted or "fine-tuned" not in n)
        and (result.reranker["accepted"] or "re-rank" not in n)
    ]
    assert result.selected == max(allowed, key=lambda n: result.dev_scores[n][metric])
    # test metrics are over exactly the test queries, none of which were trained on
    _, test_qrels = load_beir(med).split("test")
    assert set(result.test.per_query("base dense", metric)) == set(test_qrels)
    assert result.split_sizes["test"] == len(test_qrels)
    # the dataset's own dev split (other drugs) is used, not carved from train
    data = load_beir(med)
    assert result.split_sizes["dev"] == len(data.qrels["dev"])
    assert result.split_sizes["train"] == len(data.qrels["train"])
    assert result.embedder["steps"] >= 1
    summary = json.loads(result.summary_path.read_text())
    assert summary["selected"] == result.selected
    assert set(summary["timings"]) >= {"load", "baseline", "mine", "train embedder", "re-rank"}
    html = result.report_path.read_text()
    assert "Verdict" in html and "data:image/png;base64" in html and "Ranked candidates" in html
    # one gate: training's own, on the dev queries; the loop reads its decision, never rewrites it
    manifest = json.loads((tmp_path / "out" / "embedder" / "manifest.json").read_text())
    assert manifest["accepted"] == result.embedder_accepted
    assert "loop_gate" not in manifest
    assert manifest["dev"]["queries"] == result.split_sizes["dev"]


def test_resolve_dataset_names_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYWHEEL_DATASETS", str(tmp_path))
    with pytest.raises(ConfigError, match="FLYWHEEL_DATASETS") as info:
        resolve_dataset("no-such-set")
    assert "scifact" in str(info.value)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "corpus.jsonl").write_text("")
    assert resolve_dataset("mine") == tmp_path / "mine"
    demo = resolve_dataset("demo", work_dir=tmp_path / "w")
    assert (demo / "qrels" / "test.tsv").exists()


def test_reranker_is_trained_only_from_a_named_model_unless_forced() -> None:
    assert RerankerSettings().should_train() is False  # auto, nothing to start from
    assert RerankerSettings(base_model="my-cross-encoder").should_train() is True
    assert RerankerSettings(enabled=True).should_train() is True  # grow from the backbone
    assert RerankerSettings(enabled=False, base_model="x").should_train() is False


def test_cli_run_skips_the_reranker_by_default(med: Path, tmp_path: Path, tiny_model: str) -> None:
    from flywheel.cli.app import app

    out = tmp_path / "cli-out"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--dataset",
            str(med),
            "--out",
            str(out),
            "--base",
            tiny_model,
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--db",
            str(tmp_path / "fw.db"),
            "--leak-threshold",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "selected on dev" in result.output
    assert (out / "report.html").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reranker"] is None
    assert any("re-ranker: skipped - no cross-encoder" in v for v in summary["verdicts"])
    assert any("learned re-ranker" in v for v in summary["verdicts"])  # the stage that needs none
    assert "--reranker-base" in result.output
    assert not any("re-rank" in s for s in summary["test"]["systems"])
    from flywheel.store import Store

    with Store(f"sqlite:///{tmp_path / 'fw.db'}") as store:  # --db also ingested the dataset
        assert store.counts()["documents"] == 50


def test_a_cold_start_on_copied_questions_ships_the_hybrid_without_asking_dev(
    med: Path, tmp_path: Path, tiny_model: str
) -> None:
    """ICT dev questions are sentences of the documents: BM25 wins dev by construction, so the
    loop ships the hybrid with the embedder its gate kept, and learns no re-ranker there."""
    (med / "qrels" / "train.tsv").unlink()
    (med / "qrels" / "dev.tsv").unlink()
    config = _config(med, tmp_path / "out", tiny_model, reranker=False)
    result = run_flywheel(config)
    assert any(v.startswith("cold start") for v in result.verdicts)
    assert result.dev_scores["bm25"]["ndcg@10"] >= result.dev_scores["base dense"]["ndcg@10"]
    expected = "fine-tuned hybrid" if result.embedder_accepted else "base hybrid"
    assert result.selected == expected
    assert any(v.startswith(f"selected without dev: {expected}") for v in result.verdicts)
    assert any("learned re-ranker: not trained" in v for v in result.verdicts)
    assert "learned re-rank" not in " ".join(result.test.systems)
