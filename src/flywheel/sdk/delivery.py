"""Deliver one batch so that a bad event never takes its good neighbours down with it.

A store or server stores a batch all or nothing. When it refuses a batch, retrying the same
batch will fail the same way, and dropping it loses every good event in it (99 good clicks for
one click on an unknown document). :func:`deliver` therefore splits a refused batch: when the
refusal names the bad record (``events[7].rank``) that record is set aside and the rest is
resent at once; otherwise the batch is halved and each half sent on its own, down to single
events. Only events refused *on their own* are set aside, each with its reason. A refusal that
is about the sender, not the records (a wrong token), sets the whole batch aside unsplit.

Every record keeps its ``event_id`` through the splits and resends, so an event whose batch was
stored but whose response was lost is stored once (the idempotency key).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from flywheel.sdk.transport import RejectedError, TransientError, Transport

Record = dict[str, Any]


@dataclass(frozen=True)
class Refusal:
    """One event the target refused for good, and why."""

    record: Record
    reason: str


@dataclass
class Outcome:
    """What one :func:`deliver` call settled: records stored, records set aside."""

    stored: list[Record] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


class PartialDelivery(TransientError):
    """The target became unreachable part-way: ``outcome`` holds what was settled before."""

    def __init__(self, error: TransientError, outcome: Outcome) -> None:
        super().__init__(str(error))
        self.outcome = outcome


def deliver(transport: Transport, batch: Sequence[Record]) -> Outcome:
    """Send ``batch``; split refused parts until only the bad events are left out.

    Raises :class:`PartialDelivery` (a :class:`TransientError`) when the target cannot be
    reached; its ``outcome`` says which records were stored or refused before that, and the
    rest must be sent again later.
    """
    outcome = Outcome()
    todo: list[list[Record]] = [list(batch)]
    while todo:
        part = todo.pop()
        if not part:
            continue
        try:
            transport.send(part)
        except RejectedError as exc:
            index = exc.index if exc.index is not None and 0 <= exc.index < len(part) else None
            if exc.whole_batch or len(part) == 1:
                outcome.refused.extend(Refusal(record, str(exc)) for record in part)
            elif index is not None:
                outcome.refused.append(Refusal(part[index], str(exc)))
                todo.append(part[:index] + part[index + 1 :])
            else:
                middle = len(part) // 2
                todo.extend([part[middle:], part[:middle]])  # the first half goes first
            continue
        except TransientError as exc:
            raise PartialDelivery(exc, outcome) from None
        outcome.stored.extend(part)
    return outcome
