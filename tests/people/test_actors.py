"""The acting person's scope (webapp/people/actors.py): roles from staff assignments, and who
supervises a street or a community (signs, binding staff)."""
from __future__ import annotations

from webapp.people.actors import RESIDENT, RIDER, Actor


def test_actors_supervise_their_own_street_and_community_only():
    admin = Actor("a", roles=frozenset({RESIDENT, "admin"}))
    street = Actor("s", roles=frozenset({RESIDENT, "street_staff"}), street_ids=frozenset({1}))
    community = Actor("c", roles=frozenset({RESIDENT, "community_staff"}), community_ids=frozenset({10}))
    rider = Actor("r", roles=frozenset({RESIDENT, RIDER}))
    # (community 10 in street 1, community 20 in street 2)
    assert [admin.supervises_community(10, 1), admin.supervises_community(20, 2)] == [True, True]
    assert [street.supervises_community(10, 1), street.supervises_community(20, 2)] == [True, False]
    assert [community.supervises_community(10, 1), community.supervises_community(20, 1)] == [True, False]
    assert [street.supervises_street(1), street.supervises_street(2), community.supervises_street(1)] == [True, False, False]
    assert not rider.supervises_community(10, 1) and not rider.is_staff


def test_actors_primary_role_is_the_widest_staff_role():
    both = Actor("p", roles=frozenset({RESIDENT, "grid_worker", "community_staff"}))
    assert both.primary_role == "community_staff"
    assert Actor("q", roles=frozenset({RESIDENT, RIDER})).primary_role == RIDER
    assert Actor("r").primary_role == RESIDENT
