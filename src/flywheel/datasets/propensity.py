"""Position bias: how much more often users click rank 1 than rank r, whatever the relevance.

A click at rank 8 says more than a click at rank 1, because few users look at rank 8. The
position-based click model (Craswell et al., 2008) writes
``P(click | rank r, doc d) = P(examined | r) * P(relevant | d)``; inverse-propensity weighting
(Joachims et al., 2017) weights each click-derived label by ``1 / P(examined | r)``.

Estimator used here: the click-through rate per rank, normalised to rank 1,
``p(r) = CTR(r) / CTR(1)``, clipped to ``[floor, 1]``. It needs no randomisation, but it folds
the fall of relevance with rank into the propensity, so it over-estimates position bias (and
over-weights deep clicks) - the ``floor`` caps any weight at ``1 / floor``. Where a rank has
fewer than ``min_impressions`` impressions its propensity is carried from the rank above.
Swap in intervention-harvesting or EM estimates by passing your own table to the policy.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from flywheel.data.events import ClickEvent, Event, RetrievalEvent

logger = logging.getLogger(__name__)


def estimate_propensity(
    events: Iterable[Event],
    *,
    max_rank: int = 20,
    floor: float = 0.05,
    min_impressions: int = 20,
) -> dict[int, float]:
    """``{rank: propensity}`` for ranks 1..max_rank from impressions and clicks in the log.

    Impressions are the ranks listed in :class:`RetrievalEvent` results; clicks are
    :class:`ClickEvent` ranks. With no click at rank 1 the model cannot be estimated and every
    propensity is 1.0 (no reweighting).
    """
    impressions = [0] * (max_rank + 1)
    clicks = [0] * (max_rank + 1)
    for event in events:
        if isinstance(event, RetrievalEvent):
            for _, rank, _ in event.results:
                if 1 <= rank <= max_rank:
                    impressions[rank] += 1
        elif isinstance(event, ClickEvent) and 1 <= event.rank <= max_rank:
            clicks[event.rank] += 1
    if impressions[1] == 0 or clicks[1] == 0:
        logger.info("no clicks at rank 1: position bias cannot be estimated, weights are 1")
        return {rank: 1.0 for rank in range(1, max_rank + 1)}
    ctr1 = clicks[1] / impressions[1]
    table: dict[int, float] = {1: 1.0}
    for rank in range(2, max_rank + 1):
        if impressions[rank] < min_impressions:
            table[rank] = table[rank - 1]
            continue
        table[rank] = min(1.0, max(floor, (clicks[rank] / impressions[rank]) / ctr1))
    return table


def propensity_weight(table: dict[int, float] | None, rank: int | None, floor: float) -> float:
    """``1 / p(rank)``; 1.0 without a table or a rank; ranks past the table use its last value."""
    if table is None or rank is None or not table:
        return 1.0
    p = table.get(rank, table[max(table)] if rank > max(table) else 1.0)
    return 1.0 / max(p, floor)
