"""LLM judgments: messy replies parsed or rejected with a reason; grades stored as 'llm'."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from flywheel.cli.app import app
from flywheel.errors import ConfigError
from flywheel.evaluation import evaluate, ranking_agreement
from flywheel.hosted import HostedClient
from flywheel.judging import (
    Pair,
    fill_unjudged,
    judge_pairs,
    label_agreement,
    parse_grade,
    store_judgments,
)
from flywheel.judging.labels import LLMGrade, LLMLabels
from flywheel.store import Store


@pytest.mark.parametrize(
    ("reply", "grade"),
    [
        ("##final score: 2", 2),
        ("Sure! After reading it, Grade: 3. It matches.", 3),
        ("M: 2, T: 1\n##final score: 1", 1),
        ("**Score:** 0", 0),
        ("2", 2),
        ("I would give this a 3 on the 0-3 scale", 3),
    ],
)
def test_grades_are_read_from_messy_replies(reply, grade):
    assert parse_grade(reply, scale=3).grade == grade


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("Grade: 7", "outside 0-3"),
        ("Grade: 2.5", "not a whole number"),
        ("It is 2 or maybe 3", "ambiguous"),
        ("No idea.", "no grade"),
        ("", "empty reply"),
        (None, "empty reply"),
    ],
)
def test_unusable_replies_are_rejected_with_a_reason(reply, reason):
    parsed = parse_grade(reply, scale=3)
    assert parsed.grade is None and reason in parsed.reason


def test_refusal_and_the_five_point_scale():
    assert "refused" in parse_grade(None, refusal="I can't help").reason
    assert parse_grade("Grade: 5", scale=5).grade == 5
    assert parse_grade("Grade: 5", scale=3).grade is None


PAIRS = [
    Pair("q1", "heart attack risk", "d1", "Heart attack risk rises with age."),
    Pair("q1", "heart attack risk", "d2", "Bread rises with yeast."),
    Pair("q2", "lava rock", "d3", "Volcanoes erupt lava rock."),
]


def test_judging_through_the_fake_provider(server, tmp_path):
    client = HostedClient("openai:fake-chat", kind="chat", concurrency=1)  # refusal hits pair 1
    server.inject("refusal", path="/v1/chat/completions")
    result = judge_pairs(PAIRS, client)
    assert len(result.rejected) == 1 and "refused" in result.rejected[0][1]
    assert sorted(g for _, g in result.grades) == [0, 3]
    store = Store(str(tmp_path / "j.db"))
    store.add_documents([{"doc_id": p.target, "text": p.passage} for p in PAIRS])
    store.add_queries({"q1": "heart attack risk", "q2": "lava rock"})
    store.add_judgments({"q1": {"d2": 1}}, source="human", split="test")
    assert store_judgments(store, result) == 2
    assert store.qrels(sources=["llm"]) == result.qrels()
    assert store.qrels()["q1"]["d2"] == 1  # the person's grade outranks the LLM's 0


def test_agreement_kappa_confusion_and_kendall_tau():
    human = {"q1": {"a": 3, "b": 0, "c": 1}, "q2": {"a": 2, "b": 0}}
    llm = {"q1": {"a": 3, "b": 0, "c": 2}, "q2": {"a": 2, "b": 1}}
    result = label_agreement(human, llm, weights="quadratic")
    from sklearn.metrics import cohen_kappa_score

    expected = cohen_kappa_score(
        [3, 0, 1, 2, 0], [3, 0, 2, 2, 1], labels=[0, 1, 2, 3], weights="quadratic"
    )
    assert result.kappa == pytest.approx(expected) and result.pairs == 5
    assert result.confusion[1][2] == 1 and result.exact == pytest.approx(3 / 5)
    runs = {
        "good": {"q1": {"a": 3, "c": 2, "b": 1}, "q2": {"a": 2, "b": 1}},
        "mid": {"q1": {"c": 3, "a": 2, "b": 1}, "q2": {"b": 2, "a": 1}},
        "bad": {"q1": {"b": 3, "c": 2, "a": 1}, "q2": {"b": 2, "a": 1}},
    }
    ranking = ranking_agreement(runs, human, llm)
    assert ranking.tau == pytest.approx(1.0)


LLM_0_3 = {"q1": {"a": 0, "b": 2, "c": 1, "d": 3, "e": 0}, "q9": {"x": 3}}


def test_filling_unjudged_holes_is_marked():
    # Binary qrels: an LLM 2 or 3 fills as 1; its 1 ("related") and 0 fill as 0 (judged, not
    # relevant); a's human 1 stays; q9 is no evaluation query.
    filled = fill_unjudged({"q1": {"a": 1}}, LLM_0_3)
    assert filled.qrels == {"q1": {"a": 1, "b": 1, "c": 0, "d": 1, "e": 0}}
    assert filled.filled == {("q1", "b"), ("q1", "c"), ("q1", "d"), ("q1", "e")}
    assert (filled.min_relevant, filled.max_grade, filled.below_threshold) == (2, 1, 1)
    assert filled.note() == (
        "4 retrieved pairs no person judged were graded by an LLM (label source llm) and count "
        "in these metrics; LLM grades >= 2 count as relevant (filled on the qrels' 0-1 scale); "
        "1 filled pair graded 1 counts as not relevant"
    )
    assert fill_unjudged({"q1": {"a": 1}}, {}).note() == ""


def test_filled_grade_one_does_not_raise_recall():
    # The run misses a (the only relevant document) and ranks c, which the LLM graded 1, first.
    # Read as relevant, c would give recall@2 1/2 and MRR 1; as "related" it gives 0 and 0.
    run = {"q1": {"c": 2.0, "b": 1.0}}
    filled = fill_unjudged({"q1": {"a": 1}}, {"q1": {"c": 1}}, {"r": run})
    assert filled.qrels == {"q1": {"a": 1, "c": 0}}
    scores = evaluate(filled.qrels, run, ["recall@2", "mrr@2"]).mean
    assert scores == {"recall@2": 0.0, "mrr@2": 0.0}


def test_filling_graded_qrels_keeps_their_scale_else_maps_and_clips():
    # Top grade 2 (0-2 qrels): 0-3 grades map 2 -> 3 and 3 -> 5, both clipped to 2.
    filled = fill_unjudged({"q1": {"a": 2}, "q2": {"z": 1}}, LLM_0_3)
    assert filled.qrels == {"q1": {"a": 2, "b": 2, "c": 0, "d": 2, "e": 0}, "q2": {"z": 1}}
    assert filled.max_grade == 2
    # Top grade 3 (TREC-style 0-3, the LLM's own scale): 0-3 grades as given; a 0-5 grade keeps
    # its value up to 3.
    labels = LLMLabels(
        {"q1": {"b": LLMGrade(2, 3), "d": LLMGrade(3, 3), "f": LLMGrade(4, 5), "g": LLMGrade(2, 5)}}
    )
    filled = fill_unjudged({"q1": {"a": 3}}, labels)
    assert filled.qrels == {"q1": {"a": 3, "b": 2, "d": 3, "f": 3, "g": 2}}
    assert "filled on the qrels' 0-3 scale" in filled.note()


def test_filling_threshold_and_runs():
    # At >= 3 an LLM 2 is not relevant either: b joins c below the threshold.
    filled = fill_unjudged({"q1": {"a": 1}}, LLM_0_3, min_relevant=3)
    assert filled.qrels == {"q1": {"a": 1, "b": 0, "c": 0, "d": 1, "e": 0}}
    assert (filled.min_relevant, filled.below_threshold) == (3, 2)
    assert filled.note().endswith(
        "LLM grades >= 3 count as relevant (filled on the qrels' 0-1 scale); "
        "2 filled pairs graded 1-2 count as not relevant"
    )
    # LLMLabels carry their own threshold; min_relevant overrides it without changing them.
    labels = LLMLabels({"q1": {"b": LLMGrade(2, 3)}}, min_relevant=3)
    assert fill_unjudged({"q1": {"a": 1}}, labels).qrels == {"q1": {"a": 1, "b": 0}}
    assert fill_unjudged({"q1": {"a": 1}}, labels, min_relevant=2).qrels == {"q1": {"a": 1, "b": 1}}
    assert labels.min_relevant == 3
    # Only retrieved pairs are filled.
    runs = {"r": {"q1": {"d": 1.0, "c": 0.5}}}
    filled = fill_unjudged({"q1": {"a": 1}}, LLM_0_3, runs)
    assert filled.qrels == {"q1": {"a": 1, "c": 0, "d": 1}} and filled.below_threshold == 1


def test_filling_rejects_bad_grades_and_thresholds():
    with pytest.raises(ConfigError, match="LLM grade 4 is outside its scale 0-3"):
        fill_unjudged({"q1": {"a": 1}}, {"q1": {"b": 4}})
    assert fill_unjudged({"q1": {"a": 1}}, {"q1": {"b": 4}}, scale=5).qrels["q1"]["b"] == 1
    with pytest.raises(ConfigError, match="must be 1-5, got 0"):
        fill_unjudged({"q1": {"a": 1}}, {"q1": {"b": 1}}, min_relevant=0)


def test_judge_cli_dry_run_then_run_and_status(server, tmp_path, prices, monkeypatch):
    monkeypatch.setenv("FLYWHEEL_PRICES", str(prices))
    db = str(tmp_path / "cli.db")
    store = Store(db)
    store.add_documents([{"doc_id": p.target, "text": p.passage} for p in PAIRS])
    store.add_queries({"q1": "heart attack risk", "q2": "lava rock"})
    store.add_judgments({"q1": {"d1": 2, "d2": 0}, "q2": {"d3": 3}}, source="human", split="test")
    runner = CliRunner()
    args = ["judge", "run", "--from", "topk", "--k", "3", "--model", "openai:fake-chat", "--db", db]
    dry = runner.invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "calls to send" in dry.output and server.count() == 0
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "stored as source 'llm'" in done.output
    agree = runner.invoke(app, ["judge", "agreement", "--db", db])
    assert agree.exit_code == 0, agree.output and "weighted kappa" in agree.output
    status = runner.invoke(app, ["status", "--db", db, "--json"])
    [usage] = json.loads(status.output)["hosted"]
    assert usage["model"] == "openai:fake-chat" and usage["calls"] == 2
    assert usage["cost_usd"] == pytest.approx(
        (usage["input_tokens"] * 1.0 + usage["output_tokens"] * 2.0) / 1e6
    )


def test_judge_cli_names_the_missing_key(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = CliRunner().invoke(
        app, ["judge", "run", "--model", "openai:gpt-4o-mini", "--db", str(tmp_path / "x.db")]
    )
    assert result.exit_code != 0 and "OPENAI_API_KEY" in str(result.exception)


def test_pairs_from_logs_topk_and_negatives(tmp_path):
    from flywheel.judging import pairs_from_store

    store = Store(str(tmp_path / "p.db"))
    docs = {
        "d1": "lava rock basalt lava",
        "d2": "lava flows from volcanoes",
        "d3": "basalt lava cools",
        "d4": "lava lava lava everywhere",
        "d5": "bread and yeast",
    }
    store.add_documents([{"doc_id": d, "text": t} for d, t in docs.items()])
    store.add_queries({"q1": "lava basalt"})
    store.add_judgments({"q1": {"d1": 1}}, split="test")
    top = pairs_from_store(store, "topk", k=3)
    assert "d1" in {p.target for p in top} and len(top) == 3
    negatives = pairs_from_store(store, "negatives", k=3)
    assert "d1" not in {p.target for p in negatives}  # judged relevant: never a negative
    assert {p.target for p in negatives} <= set(docs) - {"d1"}
    store.log_retrieval("s1", "q1", {"d2": 0.9, "d5": 0.1})
    logged = pairs_from_store(store, "logs")
    assert [(p.qid, p.target) for p in logged] == [("q1", "d2"), ("q1", "d5")]
    with pytest.raises(Exception, match="unknown pair source"):
        pairs_from_store(store, "dreams")


def _judge_store(db: str) -> None:
    store = Store(db)
    store.add_documents([{"doc_id": p.target, "text": p.passage} for p in PAIRS])
    store.add_queries({"q1": "heart attack risk", "q2": "lava rock"})
    store.add_judgments({"q1": {"d1": 2, "d2": 0}, "q2": {"d3": 3}}, source="human", split="test")


def test_judge_cli_unreachable_provider_fails_with_the_reason(tmp_path, monkeypatch):
    import functools

    import flywheel.hosted.client as client_module
    from flywheel.errors import ProviderError

    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    monkeypatch.setenv("FLYWHEEL_CACHE", str(tmp_path / "cache"))
    retry = functools.partial(client_module.RetryPolicy, max_retries=1, base_delay=0.0)
    monkeypatch.setattr(client_module, "RetryPolicy", retry)
    db = str(tmp_path / "down.db")
    _judge_store(db)
    args = ["judge", "run", "--k", "2", "--model", "openai:fake-chat", "--db", db]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert isinstance(result.exception, ProviderError)
    assert "were not graded" in str(result.exception) and "retries" in str(result.exception)
    assert "next:" not in result.output


def test_judge_cli_dry_run_prices_without_a_key(tmp_path, monkeypatch, prices):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("FLYWHEEL_PRICES", str(prices))
    monkeypatch.setenv("FLYWHEEL_CACHE", str(tmp_path / "cache"))
    db = str(tmp_path / "dry.db")
    _judge_store(db)
    args = ["judge", "run", "--k", "2", "--model", "openai:fake-chat", "--db", db, "--dry-run"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "calls to send" in result.output and "$" in result.output


def test_missing_key_message_names_real_options(tmp_path, monkeypatch):
    from flywheel.hosted.client import HostedClient

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError) as info:
        HostedClient("openai:text-embedding-3-small", kind="embed")
    message = str(info.value)
    assert "export OPENAI_API_KEY=" in message and "flywheel judge run" in message
    # every command it names really has --api-key
    for command in (["judge", "run"], ["synth", "questions"], ["fewshot", "experiment"]):
        help_text = CliRunner().invoke(app, [*command, "--help"]).output
        assert "--api-key" in help_text, command
