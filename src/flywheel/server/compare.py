"""From "list A is better than list B" to pairwise document preferences.

The side-by-side mode shows two retrievers' results for one query and the user picks the
better list. That verdict is about the documents where the lists differ, so it is stored as
:class:`~flywheel.data.events.PreferenceEvent` rows the training-data builders already read:

* documents only the winner showed are preferred over documents only the loser showed,
  paired rank by rank (the 1st winner-only over the 1st loser-only, and so on): one pair per
  position, not every combination, so one click never outweighs explicit feedback;
* when both lists hold the same documents in another order, each pair the two orders disagree
  on is preferred as the winner ordered it (closest to the top first);
* identical lists say nothing, and the page does not offer a vote on them.

Event ids are derived from the two retrieval events and the pair, so a retried vote is stored
once.
"""

from __future__ import annotations

from collections.abc import Sequence

from flywheel._internal.hashing import text_hash
from flywheel.data.events import PreferenceEvent

#: At most this many document pairs per vote.
MAX_PAIRS = 10


def preference_pairs(
    winner: Sequence[str], loser: Sequence[str], *, limit: int = MAX_PAIRS
) -> list[tuple[str, str]]:
    """``[(preferred, not_preferred)]`` implied by preferring ranking ``winner``."""
    only_winner = [d for d in winner if d not in set(loser)]
    only_loser = [d for d in loser if d not in set(winner)]
    pairs = list(zip(only_winner, only_loser, strict=False))
    if not pairs and set(winner) == set(loser):
        position = {doc: rank for rank, doc in enumerate(loser)}
        for i, better in enumerate(winner):
            for worse in winner[i + 1 :]:
                if position[worse] < position[better]:
                    pairs.append((better, worse))
    return pairs[:limit]


def preference_events(
    *,
    session_id: str,
    qid: str,
    winner_event: str,
    loser_event: str,
    winner: Sequence[str],
    loser: Sequence[str],
    user_id: str | None = None,
) -> list[PreferenceEvent]:
    """The preference events for one vote, with ids stable across retries."""
    return [
        PreferenceEvent(
            event_id="pref-" + text_hash(f"{winner_event}|{loser_event}|{better}|{worse}"),
            session_id=session_id,
            qid=qid,
            user_id=user_id,
            winner=better,
            loser=worse,
        )
        for better, worse in preference_pairs(winner, loser)
    ]
