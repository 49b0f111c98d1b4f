"""A small search over the embedder's recipe, within a time budget, decided on dev.

A recipe tuned on one dataset does not carry: the loop's default (3 epochs at 5e-5, one mined
hard negative) gained +0.094 nDCG@10 on SciFact and +0.011 (not significant) on another public
set. So with ``--search-budget MINUTES`` the loop trains a few more candidates, chosen by what is
known to matter for contrastive fine-tuning of a small bi-encoder - learning rate, epochs, and
mined hard negatives against in-batch negatives only - and keeps the one with the best score on
training's own dev gate. Candidates are tried in order while the time spent so far, plus the
default's time scaled by the candidate's epochs, fits the budget. Without a budget only the
default recipe trains, as before. Every candidate is scored on the same dev queries and pool,
and the report shows the whole search; the test split never chooses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flywheel.training.embedder import EmbedderTrainResult


@dataclass(frozen=True)
class Recipe:
    name: str
    learning_rate: float | None = None  # None: the configured one
    epochs: int | None = None
    hard_negatives: bool = True  # False: (anchor, positive) pairs, in-batch negatives only


DEFAULT = Recipe("default")
CANDIDATES: tuple[Recipe, ...] = (
    Recipe("lower lr (2e-5)", learning_rate=2e-5),
    Recipe("in-batch negatives only", hard_negatives=False),
    Recipe("one epoch", epochs=1),
    Recipe("lower lr, one epoch", learning_rate=2e-5, epochs=1),
    Recipe("higher lr (1e-4), one epoch", learning_rate=1e-4, epochs=1),
)


def recipe_slug(recipe: Recipe) -> str:
    """A folder name for a candidate's model."""
    return "".join(ch if ch.isalnum() else "-" for ch in recipe.name.lower()).strip("-")


@dataclass
class Trial:
    recipe: Recipe
    result: EmbedderTrainResult
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe.name,
            "learning_rate": self.recipe.learning_rate,
            "epochs": self.recipe.epochs,
            "hard_negatives": self.recipe.hard_negatives,
            "dev": self.result.trained_dev_score,
            "base_dev": self.result.base_dev_score,
            "accepted": self.result.accepted,
            "seconds": round(self.seconds, 1),
            "model_path": str(self.result.model_path),
        }


def search_recipes(
    train: Callable[[Recipe], EmbedderTrainResult],
    *,
    budget_minutes: float | None,
    default_epochs: int,
    say: Callable[[str], None],
) -> tuple[Trial, list[Trial]]:
    """Train the default recipe, then candidates while the budget lasts; return the best trial
    by dev score (ties keep the earlier, i.e. the default) and every trial."""
    started = time.perf_counter()
    trials: list[Trial] = []

    def attempt(recipe: Recipe) -> None:
        tick = time.perf_counter()
        result = train(recipe)
        trials.append(Trial(recipe, result, time.perf_counter() - tick))
        say(f"recipe '{recipe.name}': dev {result.trained_dev_score}")

    attempt(DEFAULT)
    if budget_minutes:
        per_epoch = trials[0].seconds / max(default_epochs, 1)
        for recipe in CANDIDATES:
            spent = time.perf_counter() - started
            expected = per_epoch * (recipe.epochs or default_epochs)
            if spent + expected > budget_minutes * 60:
                say(f"recipe search: '{recipe.name}' would pass the budget; stopping")
                break
            attempt(recipe)
    best = max(trials, key=lambda t: t.result.trained_dev_score or float("-inf"))
    return best, trials
