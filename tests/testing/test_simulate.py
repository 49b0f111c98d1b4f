"""The user simulator: deterministic, counted, position-biased, logged through the Logger."""

from __future__ import annotations

from collections import Counter

import pytest

import flywheel
from flywheel.errors import ConfigError
from flywheel.store import Store
from flywheel.testing import DwellDistribution, SimulationConfig, simulate_sessions


def _simulate(world, **knobs):
    config = SimulationConfig(**knobs)
    with flywheel.Logger(world.store, flush_interval=None, batch_size=500) as log:
        return simulate_sessions(
            log, world.queries, world.qrels, world.run, config=config, second_run=world.second_run
        )


def _content(store: Store) -> list[tuple]:
    """Every stored event without its random id."""
    return [
        tuple(sorted((k, str(v)) for k, v in vars(e).items() if k != "event_id"))
        for e in store.events()
    ]


def test_same_seed_same_log_other_seed_other_log(world, tmp_path):
    knobs = dict(sessions_per_query=6, shuffled_share=0.3, thumbs_share=0.5, seed=3)
    first = _simulate(world, **knobs)
    again = Store(str(tmp_path / "again.db"))
    again.add_documents({"doc_id": f"d{i}", "text": f"document {i}"} for i in range(12))
    again.add_queries(world.queries)
    world2 = type(world)(again, world.queries, world.qrels, world.run, world.second_run)
    second = _simulate(world2, **knobs)
    assert _content(world.store) == _content(again)
    assert first.to_dict() == second.to_dict()
    other = Store(str(tmp_path / "other.db"))
    other.add_documents({"doc_id": f"d{i}", "text": f"document {i}"} for i in range(12))
    world3 = type(world)(other, world.queries, world.qrels, world.run, world.second_run)
    _simulate(world3, **{**knobs, "seed": 4})
    assert _content(other) != _content(world.store)
    again.close()
    other.close()


def test_event_counts_match_the_store_and_the_truth(world):
    truth = _simulate(world, sessions_per_query=5, thumbs_share=1.0, depth=10)
    stored = Counter(str(e.kind) for e in world.store.events())
    assert stored == truth.events
    assert stored["retrieval"] == 4 * 5 == truth.sessions
    assert stored["click"] == stored["dwell"] == stored["document_feedback"]
    assert stored["click"] == sum(truth.clicks.values()) > 0
    assert len(truth.shown_pairs) == 4 * 10  # the same 10 documents each time
    assert all(n == 5 for n in truth.impressions.values())
    # grade 0 is not relevant; grades 1 and 2 are
    assert sum(truth.is_relevant(q, d) for q, d in truth.shown_pairs) == 4 * 2
    assert truth.best_rank[("q0", "d1")] == 2


def test_examination_falls_with_rank_and_clicks_follow_it(world):
    config = SimulationConfig(bias=1.0, depth=10)
    assert [round(config.examination(r), 4) for r in (1, 2, 4)] == [1.0, 0.5, 0.25]
    assert SimulationConfig(bias=0.0).examination(9) == 1.0
    # every document relevant and always clicked when read: click-through rate at r = theta_r
    qrels = {qid: dict.fromkeys(ranking, 1) for qid, ranking in world.run.items()}
    world.qrels = qrels
    truth = _simulate(
        world, sessions_per_query=500, bias=1.0, click_relevant=1.0, shuffled_share=0.5, seed=1
    )
    assert list(truth.examination.values()) == sorted(truth.examination.values(), reverse=True)
    shown, clicked = Counter(), Counter()
    for event in world.store.events("retrieval"):
        for _, rank, _ in event.results:
            shown[rank] += 1
    for event in world.store.events("click"):
        clicked[event.rank] += 1
    ctr = {r: clicked[r] / shown[r] for r in range(1, 11)}
    for rank in range(1, 11):
        assert ctr[rank] == pytest.approx(truth.examination[rank], abs=0.04)
    assert truth.lists["shuffled"] == pytest.approx(1000, rel=0.1)


def test_no_bias_no_noise_clicks_exactly_the_relevant(world):
    truth = _simulate(
        world, sessions_per_query=3, bias=0.0, click_relevant=1.0, click_nonrelevant=0.0
    )
    clicked = {(e.qid, e.chunk_id) for e in world.store.events("click")}
    relevant = {(q, d) for q, d in truth.shown_pairs if truth.is_relevant(q, d)}
    assert clicked == relevant
    assert all(n == 3 for n in truth.clicks.values())


def test_dwell_and_thumbs_noise(world):
    exact = dict(
        dwell_relevant=DwellDistribution(50_000, 0.0),
        dwell_nonrelevant=DwellDistribution(2_000, 0.0),
        bias=0.0,
        click_nonrelevant=0.5,
        thumbs_share=1.0,
    )
    truth = _simulate(world, noisy_dwell_share=0.0, wrong_thumbs=0.0, **exact)
    for event in world.store.events("dwell"):
        expected = 50_000 if truth.is_relevant(event.qid, event.chunk_id) else 2_000
        assert event.dwell_ms == expected
    for event in world.store.events("document_feedback"):
        assert event.positive == truth.is_relevant(event.qid, event.chunk_id)


def test_fully_noisy_dwell_and_wrong_thumbs_flip_every_signal(world):
    truth = _simulate(
        world,
        dwell_relevant=DwellDistribution(50_000, 0.0),
        dwell_nonrelevant=DwellDistribution(2_000, 0.0),
        bias=0.0,
        click_nonrelevant=0.5,
        thumbs_share=1.0,
        noisy_dwell_share=1.0,
        wrong_thumbs=1.0,
    )
    dwells = world.store.events("dwell")
    assert dwells
    for event in dwells:
        expected = 2_000 if truth.is_relevant(event.qid, event.chunk_id) else 50_000
        assert event.dwell_ms == expected
    for event in world.store.events("document_feedback"):
        assert event.positive != truth.is_relevant(event.qid, event.chunk_id)


def test_second_ranker_and_citations(world):
    truth = _simulate(
        world,
        sessions_per_query=20,
        depth=3,
        second_ranker_share=0.5,
        citation_share=1.0,
        cite_relevant=1.0,
        cite_nonrelevant=0.0,
        context_depth=3,
    )
    retrievers = Counter(e.retriever for e in world.store.events("retrieval"))
    assert retrievers == truth.lists
    assert set(retrievers) == {"base", "second"}
    for event in world.store.events("retrieval"):
        docs = [d for d, _, _ in event.results]
        top = world.run if event.retriever == "base" else world.second_run
        assert docs == sorted(top[event.qid], key=lambda d: -top[event.qid][d])[:3]
    for event in world.store.events("citation"):
        assert all(truth.is_relevant(event.qid, d) for d in event.chunk_ids)
    # the base top 3 holds one relevant document per query, the reversed top 3 none
    assert truth.events["citation"] == retrievers["base"]


def test_sessions_follow_a_clock_in_order(world):
    _simulate(world, sessions_per_query=2, bias=0.0, click_nonrelevant=1.0)
    events = world.store.events(session_id="sim-q0-0")
    assert [str(e.kind) for e in events[:3]] == ["retrieval", "click", "dwell"]
    assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)


@pytest.mark.parametrize(
    "knobs",
    [
        {"bias": -1.0},
        {"click_relevant": 1.5},
        {"shuffled_share": 0.6, "second_ranker_share": 0.6},
        {"sessions_per_query": 0},
    ],
)
def test_bad_configs_are_refused(knobs):
    with pytest.raises(ConfigError):
        SimulationConfig(**knobs)


def test_missing_lists_are_refused(world):
    with flywheel.Logger(world.store, flush_interval=None) as log:
        with pytest.raises(ConfigError, match="no ranked list"):
            simulate_sessions(log, {**world.queries, "q9": "new"}, world.qrels, world.run)
        with pytest.raises(ConfigError, match="second_run"):
            simulate_sessions(
                log,
                world.queries,
                world.qrels,
                world.run,
                config=SimulationConfig(second_ranker_share=0.2),
            )
    assert world.store.events() == []
