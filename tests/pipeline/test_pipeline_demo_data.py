"""The generated demo dataset: deterministic, BEIR layout, split by drug, aspect-discriminating."""

from __future__ import annotations

from pathlib import Path

from flywheel.data import load_beir
from flywheel.demo import generate_medications
from flywheel.demo.medications import ASPECTS


def test_demo_dataset_is_split_by_drug_and_deterministic(tmp_path: Path) -> None:
    a = load_beir(generate_medications(tmp_path / "a", n_drugs=20, seed=3))
    b = load_beir(generate_medications(tmp_path / "b", n_drugs=20, seed=3))
    assert a.queries == b.queries and a.qrels == b.qrels
    assert len(a.corpus) == 20 * len(ASPECTS)
    assert len(a.queries) == 20 * len(ASPECTS) * 3
    drugs = {
        split: {d.split("-")[0] for rel in qr.values() for d in rel}
        for split, qr in a.qrels.items()
    }
    assert drugs["train"] and drugs["dev"] and drugs["test"]
    assert not drugs["train"] & drugs["test"] and not drugs["train"] & drugs["dev"]
    assert not drugs["dev"] & drugs["test"]
    assert (len(drugs["test"]), len(drugs["dev"])) == (6, 3)  # 30% and 15% of 20 drugs


def test_each_question_has_exactly_its_aspect_passage(tmp_path: Path) -> None:
    data = load_beir(generate_medications(tmp_path / "m", n_drugs=5))
    for split in ("train", "dev", "test"):
        for qid, rel in data.qrels[split].items():
            (doc_id,) = rel
            assert qid.startswith(doc_id + "-q")
            drug = data.corpus[doc_id].title
            assert drug in data.queries[qid]
            # the question never repeats the passage's aspect wording verbatim
            passage_words = set(data.corpus[doc_id].text.lower().split())
            assert "adverse" not in data.queries[qid].lower()
            assert len(passage_words) > 5


def _template_index(text: str) -> int:
    """Which passage template wrote ``text`` (each placeholder matches any words)."""
    import re

    from flywheel.demo.medications import _PASSAGES

    for templates in _PASSAGES.values():
        for index, template in enumerate(templates):
            pattern = "".join(
                ".+?" if part.startswith("{") else re.escape(part)
                for part in re.split(r"(\{\w+\})", template)
            )
            if re.fullmatch(pattern, text):
                return index
    raise AssertionError(f"no template wrote {text!r}")


def test_test_drugs_are_asked_and_described_in_wordings_training_never_saw(tmp_path: Path) -> None:
    from flywheel.demo.medications import TRAIN_PASSAGES

    data = load_beir(generate_medications(tmp_path / "m", n_drugs=20, seed=2))

    def wordings(split: str) -> tuple[set[str], set[int]]:
        questions, templates = set(), set()
        for qid, rel in data.qrels[split].items():
            (doc_id,) = rel
            drug = data.corpus[doc_id].title
            questions.add(data.queries[qid].replace(drug, "X"))
            templates.add(_template_index(data.corpus[doc_id].text))
        return questions, templates

    train_q, train_t = wordings("train")
    test_q, test_t = wordings("test")
    assert len(test_q - train_q) == 2 * len(ASPECTS)  # two held-out phrasings per aspect
    assert test_q & train_q  # and one seen phrasing per passage, for contrast
    assert max(train_t) < TRAIN_PASSAGES <= min(test_t)  # held-out passage wording
