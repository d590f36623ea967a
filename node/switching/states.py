"""The states of a switch request and who moves it from which state to which.

    requested --(A objects, within the notice)--> objected
    requested --(B withdraws)-----------------> withdrawn
    requested --(the node: notice ended)------> accepted
    accepted  --(the node: records frozen)----> transferring   (prepared on A)
    transferring --(B's node staged them)-----> staged
    transferring --(B's node refused them)----> rejected        (records unfrozen)
    staged    --(A's node: tombstones)--------> committed
    committed --(B's node activated them)-----> completed

Only the node itself ("system") takes the hand-over steps; people object or withdraw.
"""

from __future__ import annotations

from enum import StrEnum

from common.errors import Conflict


class State(StrEnum):
    REQUESTED = "requested"
    OBJECTED = "objected"
    WITHDRAWN = "withdrawn"
    ACCEPTED = "accepted"
    TRANSFERRING = "transferring"
    STAGED = "staged"
    REJECTED = "rejected"
    COMMITTED = "committed"
    COMPLETED = "completed"


HOLDER, REQUESTER, SYSTEM = "holder", "requester", "system"

# (from, to) -> who may take the step
TRANSITIONS: dict[tuple[State, State], str] = {
    (State.REQUESTED, State.OBJECTED): HOLDER,
    (State.REQUESTED, State.WITHDRAWN): REQUESTER,
    (State.REQUESTED, State.ACCEPTED): SYSTEM,
    (State.ACCEPTED, State.TRANSFERRING): SYSTEM,
    (State.TRANSFERRING, State.STAGED): SYSTEM,
    (State.TRANSFERRING, State.REJECTED): SYSTEM,
    (State.STAGED, State.COMMITTED): SYSTEM,
    (State.COMMITTED, State.COMPLETED): SYSTEM,
}

OPEN = frozenset({State.REQUESTED, State.ACCEPTED, State.TRANSFERRING, State.STAGED,
                  State.COMMITTED})
FROZEN = frozenset({State.TRANSFERRING, State.STAGED})  # records may not change on A
UNFINISHED = OPEN - {State.REQUESTED}  # a hand-over under way: resumed on start


def check_transition(current: str, wanted: State, by: str) -> None:
    """SWITCH-VAL-008: the step exists from the current state and is this party's."""
    allowed = TRANSITIONS.get((State(current), wanted))
    if allowed != by:
        raise Conflict("SWITCH-VAL-008", f"A switch request in state '{current}' cannot move "
                       f"to '{wanted}' by the {by}.",
                       {"state": current, "wanted": str(wanted)})
