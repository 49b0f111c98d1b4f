"""The recipe search: the default first, candidates while the budget lasts, the best on dev."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from flywheel.pipeline.recipe_search import CANDIDATES, DEFAULT, recipe_slug, search_recipes

DEV = {"default": 0.50, "lower lr (2e-5)": 0.55, "in-batch negatives only": 0.52}


def _fake_train(seconds: list[float], clock: list[float]):  # noqa: ANN202
    def train(recipe):  # noqa: ANN001, ANN202
        clock[0] += seconds.pop(0)
        return SimpleNamespace(
            trained_dev_score=DEV.get(recipe.name, 0.4),
            base_dev_score=0.45,
            accepted=DEV.get(recipe.name, 0.4) > 0.45,
            model_path=Path(recipe_slug(recipe)),
        )

    return train


def test_no_budget_trains_the_default_alone(monkeypatch) -> None:  # noqa: ANN001
    clock = [0.0]
    monkeypatch.setattr("flywheel.pipeline.recipe_search.time.perf_counter", lambda: clock[0])
    best, trials = search_recipes(
        _fake_train([60.0], clock), budget_minutes=None, default_epochs=3, say=lambda _: None
    )
    assert best.recipe == DEFAULT and [t.recipe for t in trials] == [DEFAULT]


def test_budget_bounds_the_search_and_dev_picks_the_best(monkeypatch) -> None:  # noqa: ANN001
    clock = [0.0]
    monkeypatch.setattr("flywheel.pipeline.recipe_search.time.perf_counter", lambda: clock[0])
    said: list[str] = []
    # the default takes 3 minutes (1 per epoch): a 7.5-minute budget fits one more 3-epoch recipe
    best, trials = search_recipes(
        _fake_train([180.0, 180.0, 180.0, 60.0], clock),
        budget_minutes=7.5,
        default_epochs=3,
        say=said.append,
    )
    assert [t.recipe for t in trials] == [DEFAULT, *CANDIDATES[:1]]
    assert best.recipe.name == "lower lr (2e-5)"  # the best dev score, not the default
    assert any("would pass the budget" in line for line in said)
    record = best.to_dict()
    assert record["dev"] == 0.55 and record["seconds"] == 180.0 and record["learning_rate"] == 2e-5
