"""Experiments on a tiny BEIR folder: validation before work, verdicts, storage."""

from __future__ import annotations

from pathlib import Path

import pytest

from flywheel.errors import ConfigError
from flywheel.evaluation import Verdict, load_spec, run_experiment
from flywheel.evaluation.compare import Comparison, PairedOutcome
from flywheel.evaluation.experiment import ExperimentResult, judge
from flywheel.evaluation.experiment_spec import SuccessCriterion


def write_spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def test_run_stores_and_judges(tiny_beir: Path, tiny_spec: str, tmp_path: Path) -> None:
    from flywheel.store import Store

    spec = load_spec(write_spec(tmp_path, tiny_spec.format(dataset=tiny_beir)))
    store = Store(f"sqlite:///{tmp_path / 'fw.db'}")
    result = run_experiment(spec, store=store)
    assert result.comparison.mean("bm25", "recall@1") == 1.0  # every query is unambiguous
    assert result.comparison.outcomes["bm25"]["ndcg@10"].wins == 6
    assert result.verdicts["bm25"] is Verdict.MET and result.verdict is Verdict.MET
    assert result.recall_curve["bm25"][1] == 1.0
    record = store.get_experiment_run(result.run_id)
    assert record.name == "tiny" and record.spec["baseline"] == "reverse"
    assert "numpy" in record.versions and record.results["verdict"] == "criterion met"
    again = ExperimentResult.from_stored(record.spec, record.results, run_id=record.run_id)
    assert again.comparison.per_query("bm25", "mrr@10") == result.comparison.per_query(
        "bm25", "mrr@10"
    )
    assert again.recall_curve == result.recall_curve
    assert "verdict: criterion met" in again.summary()


def test_failed_hypothesis_is_kept(tiny_beir: Path, tiny_spec: str, tmp_path: Path) -> None:
    from flywheel.store import Store

    text = tiny_spec.format(dataset=tiny_beir).replace('baseline = "reverse"', 'baseline = "bm25"')
    store = Store(f"sqlite:///{tmp_path / 'fw.db'}")
    result = run_experiment(load_spec(write_spec(tmp_path, text)), store=store)
    assert result.verdicts["reverse"] is Verdict.NOT_MET
    assert store.list_experiment_runs()[0].results["verdict"] == "not met"


def _outcome(delta: float, p: float) -> Comparison:
    o = PairedOutcome(delta, delta / 0.5, p, p, 1, 0, 0, p < 0.05)
    return Comparison(["b", "v"], "b", ["ndcg@10"], {}, {}, {"v": {"ndcg@10": o}})


@pytest.mark.parametrize(
    ("delta", "p", "expected"),
    [
        (0.05, 0.01, Verdict.MET),  # +10% with p=0.01
        (0.05, 0.20, Verdict.INCONCLUSIVE),  # right direction, big enough, p too large
        (0.005, 0.01, Verdict.NOT_MET),  # +1% is below the 5% bar
        (-0.05, 0.01, Verdict.NOT_MET),  # worse
    ],
)
def test_judge(delta: float, p: float, expected: Verdict) -> None:
    criterion = SuccessCriterion(metric="ndcg@10", min_relative_gain=0.05, max_p_value=0.05)
    assert judge(_outcome(delta, p), "v", criterion) is expected
    absolute = SuccessCriterion(metric="ndcg@10", min_absolute_gain=0.02)
    assert judge(_outcome(delta, p), "v", absolute) is expected


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('"ndcg@10", "recall@1"', '"ndcg@10", "recal@1"', "metrics[1]"),
        ('retriever = "bm25"', 'retriever = "bm99"', "variants[1].retriever"),
        (
            'retriever = "bm25"',
            'retriever = "dense"\nmodel = "./no/such/model"',
            "variants[1].model",
        ),
        ('split = "test"', 'split = "dev"', "split"),
        ('baseline = "reverse"', 'baseline = "nobody"', "baseline"),
        ('dataset = "', 'dataset = "/no/such/', "dataset"),
        ("min_relative_gain = 0.05", "", "success"),
        ('primary_metric = "ndcg@10"', 'primary_metric = "ndcg@x"', "primary_metric"),
        ('hypothesis = "BM25 beats a reversed list"', "", "hypothesis"),
    ],
)
def test_validation_names_file_and_field(
    tiny_beir: Path, tiny_spec: str, tmp_path: Path, old, new, field
) -> None:
    text = tiny_spec.format(dataset=tiny_beir)
    assert old in text
    path = write_spec(tmp_path, text.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    assert str(path) in str(info.value) and f"field '{field}" in str(info.value)


def test_dataset_name_resolves_under_flywheel_datasets(
    tiny_beir: Path, tiny_spec: str, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("FLYWHEEL_DATASETS", str(tiny_beir.parent))
    spec = load_spec(write_spec(tmp_path, tiny_spec.format(dataset="tiny")))
    result = run_experiment(spec, save=False)
    assert result.run_id is None and set(result.verdicts) == {"bm25"}


def test_examples_parse() -> None:
    import tomllib

    from flywheel.evaluation.experiment_spec import parse_spec

    for path in sorted((Path(__file__).parents[2] / "examples").glob("*.toml")):
        data = tomllib.loads(path.read_text())
        if "variants" in data:
            spec = parse_spec(data, source=str(path))
            assert spec.baseline in [v.name for v in spec.variants]
