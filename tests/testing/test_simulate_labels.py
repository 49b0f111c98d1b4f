"""Simulated logs through the public API, labelled by the project's click model: the label
model must recover the simulator's truth better than click counting does."""

from __future__ import annotations

import numpy as np

import flywheel
from flywheel.datasets.label_quality import click_through_labels, label_agreement
from flywheel.datasets.signals import labels_from_events
from flywheel.store import Store
from flywheel.testing import SimulationConfig, simulate_sessions


def test_click_model_recovers_propensity_and_beats_click_counting(tmp_path):
    rng = np.random.default_rng(0)
    docs = [f"d{i}" for i in range(300)]
    queries = {f"q{j}": f"question {j}" for j in range(40)}
    run, qrels = {}, {}
    for qid in queries:
        shown = list(rng.choice(docs, 10, replace=False))
        run[qid] = {doc: float(10 - k) for k, doc in enumerate(shown)}
        # relevant documents sit anywhere in the list, more often near the top
        picks = rng.choice(10, size=2, replace=False, p=np.linspace(2, 1, 10) / 15)
        qrels[qid] = {shown[k]: 1 for k in picks}
    store = Store(str(tmp_path / "sim.db"))
    store.add_documents({"doc_id": d, "text": d} for d in docs)
    config = SimulationConfig(
        sessions_per_query=20, bias=1.0, shuffled_share=0.3, thumbs_share=0.1, seed=5
    )
    with flywheel.Logger(store, flush_interval=None, batch_size=1000) as log:
        truth = simulate_sessions(log, queries, qrels, run, config=config)
    events = store.events()
    store.close()

    labels = labels_from_events(events)
    theta = labels.propensity.theta
    for rank in range(1, 6):
        assert abs(theta[rank] / truth.examination[rank] - 1) < 0.25, (rank, theta[rank])
    ours = label_agreement(labels, qrels)
    naive = max(
        label_agreement(click_through_labels(events, t), qrels)["f1"] for t in (0.1, 0.2, 0.3, 0.5)
    )
    assert ours["f1"] >= naive
    assert ours["auc"] > 0.9
