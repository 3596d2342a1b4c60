"""Which person of an uploaded image may be replaced: the rule, written once.

PiktID replaces a person it detected (``id``) and approved (``approve``: the face is
sharp enough). The client checks a start against an upload it made, and the flows check
every requested person before any credit is spent; both ask :func:`person_problem` and
say the answer in their own words (the client names the image id, a flow the file).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from piktid_prefect.wire.models import Person

__all__ = ["PersonProblem", "approved_ids", "person_problem"]

PersonProblem = Literal["no person", "unknown", "not approved"]


def approved_ids(persons: Sequence[Person]) -> list[int]:
    """Ids of the persons that can be replaced, in the upload's order."""
    return [person.id for person in persons if person.approve]


def person_problem(persons: Sequence[Person], person_id: int) -> PersonProblem | None:
    """Why ``person_id`` cannot be replaced among ``persons``, or None when it can."""
    if not persons:
        return "no person"
    if person_id not in {person.id for person in persons}:
        return "unknown"
    if person_id not in approved_ids(persons):
        return "not approved"
    return None
