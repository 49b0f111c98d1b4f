"""The click model on simulated logs with known truth (tests/datasets/click_sim.py): propensities
by EM and by intervention harvesting, checked against the truth and against ultr-bias-toolkit,
and label quality against a naive click-through threshold."""

from __future__ import annotations

import numpy as np
import pytest
from click_sim import Sim

from flywheel.datasets.interactions import extract
from flywheel.datasets.label_quality import click_through_labels, label_agreement
from flywheel.datasets.propensity import PropensityMethod, estimate_propensity
from flywheel.datasets.signals import LabelPolicy, Polarity, labels_from_events

RANKS = range(1, 11)


@pytest.fixture(scope="module")
def simulated():
    sim = Sim(queries=300, sessions=20, shuffle=0.5)
    events, truth = sim.run()
    return sim, events, truth, extract(events)


def relative_errors(curve, sim):
    return np.array([curve.theta[r] / sim.theta(r) - 1 for r in RANKS])


@pytest.mark.parametrize("method", [PropensityMethod.EM, PropensityMethod.HARVEST])
def test_propensity_within_20_percent_of_the_truth(simulated, method):
    sim, _, _, data = simulated
    curve = estimate_propensity(data, method=method, max_rank=10)
    assert curve.identified and curve.carried == () and curve.theta[1] == 1.0
    assert np.abs(relative_errors(curve, sim)).max() <= 0.2
    naive = estimate_propensity(data, method=PropensityMethod.CTR, max_rank=10)
    # CTR(r)/CTR(1) folds the fall of relevance with rank into the propensity
    assert relative_errors(naive, sim).mean() < -0.2
    assert np.abs(relative_errors(curve, sim)).mean() < 0.1


def test_propensity_agrees_with_ultr_bias_toolkit(simulated):
    pd = pytest.importorskip("pandas")
    harvesting = pytest.importorskip("ultr_bias_toolkit.bias.intervention_harvesting")
    sim, _, _, data = simulated
    known = data.cell_rank > 0
    pair, rank = data.cell_pair[known], data.cell_rank[known]
    shown, clicks = data.cell_shown[known], data.cell_clicks[known]
    rows = np.repeat(np.arange(len(pair)), shown)
    nth = np.arange(len(rows)) - np.repeat(np.cumsum(shown) - shown, shown)
    frame = pd.DataFrame({
        "query_id": [data.pairs[p][0] for p in pair[rows]],
        "doc_id": [data.pairs[p][1] for p in pair[rows]],
        "position": rank[rows],
        "click": (nth < np.repeat(clicks, shown)).astype(int),  # the first `clicks` rows click
    })  # fmt: skip
    theirs = harvesting.AdjacentChainEstimator()(frame).set_index("position")["examination"]
    ours = estimate_propensity(data, method=PropensityMethod.HARVEST, max_rank=10)
    gap = np.array([abs(ours.theta[r] - theirs[r]) / sim.theta(r) for r in RANKS])
    assert gap.max() <= 0.3 and gap.mean() <= 0.12


def test_thin_ranks_are_carried_and_flagged(simulated):
    _, _, _, data = simulated
    curve = estimate_propensity(data, method="em", max_rank=14, min_support=30)
    assert curve.carried == (11, 12, 13, 14)  # lists are 10 long: nothing identifies 11-14
    assert curve.theta[14] == curve.theta[10]
    plot = curve.plot_data()
    assert plot["rank"] == list(range(1, 15)) and plot["carried"][10:] == [True] * 4


def test_no_interventions_falls_back_to_ctr_and_says_so():
    events, _ = Sim(queries=60, sessions=10, shuffle=0.0).run()
    curve = estimate_propensity(extract(events), max_rank=10)
    assert (curve.method, curve.identified) == ("ctr", False)


def best_naive_f1(events, truth):
    return max(
        label_agreement(click_through_labels(events, t), truth)["f1"] or 0.0
        for t in (0.1, 0.15, 0.2, 0.3)  # the best lies inside on these logs
    )


def test_labels_beat_every_click_through_threshold(simulated):
    _, events, truth, _ = simulated
    labels = labels_from_events(events, LabelPolicy(max_rank=10))
    agreement = label_agreement(labels, truth)
    assert agreement["pairs"] == 3000
    assert agreement["f1"] > best_naive_f1(events, truth) + 0.05
    assert agreement["negatives_not_relevant"] >= 0.95
    assert agreement["auc"] >= 0.95
    assert labels.model["rates"]["thumbs"]["thumbs_up"]["relevant"] > 0.8  # learned, not given


def test_noisy_dwell_and_wrong_thumbs_are_learned_as_noise():
    sim = Sim(queries=150, sessions=20, dwell_noise=0.4, thumbs=0.4, thumbs_error=0.25, seed=3)
    events, truth = sim.run()
    labels = labels_from_events(events, LabelPolicy(max_rank=10))
    assert label_agreement(labels, truth)["f1"] >= best_naive_f1(events, truth)
    thumbs = labels.model["rates"]["thumbs"]["thumbs_up"]
    assert 0.6 < thumbs["relevant"] < 0.9 and 0.1 < thumbs["not_relevant"] < 0.4


def test_label_agreement_by_hand():
    from flywheel.datasets.signals import EventLabels, Label, Signal

    def label(chunk, polarity, p):
        return Label("q", chunk, Polarity(polarity), None, Signal.CLICK, (), 1, p, 1, 0.0)

    labels = EventLabels(
        {("q", c): label(c, pol, p) for c, pol, p in [
            ("a", "positive", 0.9), ("b", "positive", 0.6), ("c", "negative", 0.05),
            ("d", "neutral", 0.3), ("e", "negative", 0.02),
        ]} | {("unjudged", "x"): Label("unjudged", "x", Polarity.POSITIVE, 5, Signal.CLICK, (),
                                       1, 0.99, 1, 0.0)},
        [], [], [], __import__("collections").Counter(),
    )  # fmt: skip
    got = label_agreement(labels, {"q": {"a": 1, "d": 1, "c": 1}})
    assert got == {
        "pairs": 5, "relevant": 3, "positives": 2, "negatives": 2,
        "precision": 0.5, "recall": 0.3333, "f1": 0.4, "negatives_not_relevant": 0.5,
        "auc": 0.6667,  # 4 of the 6 (relevant, not) pairs ordered right
    }  # fmt: skip
    assert label_agreement(labels, {"q": {"a": 1}}, judged_only=True)["pairs"] == 1


def test_propensity_plot(simulated):
    from flywheel.reports.plots import figure_to_data_uri, propensity_curve

    sim, _, _, data = simulated
    curve = estimate_propensity(data, max_rank=12)
    fig = propensity_curve({"em": curve.plot_data()}, truth={r: sim.theta(r) for r in RANKS})
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["em", "truth"]
    assert list(lines[0].get_xdata()) == list(range(1, 13))
    assert figure_to_data_uri(fig).startswith("data:image/png;base64,")
