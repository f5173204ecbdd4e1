"""The place a figure covers: a grid, a community, a street, or everything (an admin), and
never more than the viewer's scope.

The viewer's scope is the same one who-sees-what gives them (webapp.tickets.access, its parts
"all", "street", "community", "grid", "matrix" and "wish", read from the same Actor):
- a place part (admin, street, community or grid staff) covers every ticket of that place:
  its reports, and its wishes as counts only (wish privacy: street staff "see wishes as counts
  only"; no single wish is ever shown to them: see compute._hotspots);
- a professional's matrix part covers the reports of their categories in their grids;
- a wish reader's part covers the wishes of their community.
The holder part (tickets held by the person wherever they are) is not a place: figures are
about places. tests/figures/test_scope.py checks that every report a scope counts is one
access.in_staff_scope lets the viewer see.

A place the viewer asks for (street_id, community_id or grid_id) must lie within one of their
parts (else NotFound: never reveal what is outside); its figures are the tickets of the place
that their scope covers. Without one, the scope is the viewer's whole scope: one place when it
is one, else "mine" (我的管辖范围), whose children are the places of its parts.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, case, false, or_, select, true

from webapp.errors import Forbidden, NotFound
from webapp.extensions import db
from webapp.people.actors import Actor
from webapp.registry.models import Community, Grid, Street, TicketKind
from webapp.tickets.models import Ticket

LEVEL_LABELS = {"all": "全部", "street": "街道", "community": "社区", "grid": "网格", "mine": "我的管辖范围"}
CHILD_LEVEL = {"all": "street", "street": "community", "community": "grid", "grid": None}
_COLUMN = {"street": Ticket.street_id, "community": Ticket.community_id, "grid": Ticket.grid_id}


@dataclass(frozen=True)
class Place:
    level: str  # "all", "street", "community", "grid" or "mine"
    id: int | None
    name: str
    street_id: int | None = None  # the street it lies in (None for "all" and "mine")
    community_id: int | None = None

    def condition(self):
        if self.level == "all":
            return true()
        return _COLUMN[self.level] == self.id


@dataclass(frozen=True)
class Reach:
    """The parts of a viewer's scope that figures read (see the module docstring)."""

    is_admin: bool
    streets: frozenset[int]
    communities: frozenset[int]
    grids: frozenset[int]
    matrix: frozenset[tuple[int, int]]  # (grid id, category id)
    wish_communities: frozenset[int]

    @property
    def is_empty(self) -> bool:
        return not (
            self.is_admin or self.streets or self.communities or self.grids or self.matrix
            or self.wish_communities
        )

    def covers_place(self, place: Place) -> bool:
        """Whether a place part covers the whole place (every ticket of it)."""
        return (
            self.is_admin
            or (place.street_id is not None and place.street_id in self.streets)
            or (place.community_id is not None and place.community_id in self.communities)
            or (place.level == "grid" and place.id in self.grids)
        )

    def touches(self, place: Place) -> bool:
        """Whether a matrix or wish part lies over the place (a grid of the matrix, or a wish
        community or one of its grids)."""
        if place.level == "grid" and any(grid == place.id for grid, _ in self.matrix):
            return True
        return place.community_id is not None and place.community_id in self.wish_communities

    def partial_condition(self):
        """The tickets the matrix and wish parts cover (wherever they are)."""
        parts = [
            and_(Ticket.kind == TicketKind.REPORT, Ticket.category_id == category, Ticket.grid_id.in_(grids))
            for category, grids in _by_category(self.matrix).items()
        ]
        if self.wish_communities:
            parts.append(
                and_(Ticket.kind == TicketKind.WISH, Ticket.community_id.in_(sorted(self.wish_communities)))
            )
        return or_(*parts) if parts else false()


def reach_of(actor: Actor) -> Reach:
    if not actor.is_staff:
        return Reach(False, frozenset(), frozenset(), frozenset(), frozenset(), frozenset())
    return Reach(
        is_admin=actor.is_admin,
        streets=actor.street_ids,
        communities=actor.community_ids,
        grids=actor.grid_ids,
        matrix=actor.matrix,
        wish_communities=actor.wish_community_ids,
    )


def _by_category(matrix) -> dict[int, list[int]]:
    grids: dict[int, list[int]] = {}
    for grid_id, category_id in sorted(matrix):
        grids.setdefault(category_id, []).append(grid_id)
    return grids


@dataclass
class FigureScope:
    """What compute reads: the place, its SQL condition, its children and how to get there."""

    place: Place
    condition: object  # SQL: the tickets of the place the viewer's scope covers
    street_ids: tuple[int, ...] | None  # the streets to read (the figures index's first column)
    children: list[Place] = field(default_factory=list)
    child_key: object | None = None  # SQL: a ticket's child (its id, or its index for "mine")
    path: list[Place] = field(default_factory=list)  # the places above it the viewer may open

    @property
    def child_level(self) -> str | None:
        if self.place.level == "mine":
            return "mixed"
        return CHILD_LEVEL[self.place.level]


def load_place(level: str, place_id: int) -> Place:
    """A street, community or grid with the street and community it lies in; NotFound if absent."""
    if level == "street":
        row = db.session.execute(select(Street.id, Street.name).where(Street.id == place_id)).first()
        if row is not None:
            return Place("street", row.id, row.name, street_id=row.id)
    elif level == "community":
        row = db.session.execute(
            select(Community.id, Community.name, Community.street_id).where(Community.id == place_id)
        ).first()
        if row is not None:
            return Place("community", row.id, row.name, street_id=row.street_id, community_id=row.id)
    elif level == "grid":
        row = db.session.execute(
            select(Grid.id, Grid.name, Grid.community_id, Community.street_id, Community.name.label("community_name"))
            .join(Community, Community.id == Grid.community_id)
            .where(Grid.id == place_id)
        ).first()
        if row is not None:
            return Place(
                "grid", row.id, f"{row.community_name}{row.name}", street_id=row.street_id,
                community_id=row.community_id,
            )
    raise NotFound("未找到该范围，或不在您的管辖范围内", code="scope_not_found")


def resolve_scope(
    actor: Actor, *, street_id: int | None = None, community_id: int | None = None,
    grid_id: int | None = None,
) -> FigureScope:
    """The scope of the figures a viewer asks for (one of the ids at most), or their own.

    Raises Forbidden for a viewer who is not staff or whose scope has no place, NotFound for a
    place that does not exist or lies outside their scope.
    """
    reach = reach_of(actor)
    if not actor.is_staff:
        raise Forbidden("只有工作人员可以查看统计", code="staff_only")
    if reach.is_empty:
        raise Forbidden("您的账号没有可统计的管辖范围", code="no_scope")
    asked = [(lvl, i) for lvl, i in (("grid", grid_id), ("community", community_id), ("street", street_id)) if i is not None]
    if len(asked) > 1:
        raise ValueError("one place at most")
    if asked:
        place = load_place(*asked[0])
        if not (reach.covers_place(place) or reach.touches(place)):
            raise NotFound("未找到该范围，或不在您的管辖范围内", code="scope_not_found")
        return _scope_of(reach, place)
    return _own_scope(reach)


def _scope_of(reach: Reach, place: Place) -> FigureScope:
    condition = place.condition()
    if not reach.covers_place(place):
        condition = and_(condition, reach.partial_condition())
    level = CHILD_LEVEL[place.level]
    children = _children(place, level) if level else []
    return FigureScope(
        place=place,
        condition=condition,
        # A street reads its whole range of ix_tickets_figures_street; a community or a grid
        # is better read by its own indexes (ix_tickets_community_status, ix_tickets_grid_status).
        street_ids=(place.id,) if place.level == "street" else None,
        children=children,
        child_key=_COLUMN[level] if level else None,
        path=_path(reach, place),
    )


def _children(place: Place, level: str) -> list[Place]:
    if level == "street":
        rows = db.session.execute(select(Street.id, Street.name).order_by(Street.code)).all()
        return [Place("street", r.id, r.name, street_id=r.id) for r in rows]
    if level == "community":
        rows = db.session.execute(
            select(Community.id, Community.name).where(Community.street_id == place.id).order_by(Community.code)
        ).all()
        return [Place("community", r.id, r.name, street_id=place.id, community_id=r.id) for r in rows]
    rows = db.session.execute(
        select(Grid.id, Grid.name).where(Grid.community_id == place.id).order_by(Grid.code)
    ).all()
    return [
        Place("grid", r.id, r.name, street_id=place.street_id, community_id=place.id) for r in rows
    ]


def _path(reach: Reach, place: Place) -> list[Place]:
    """The places above `place` the viewer may open, widest first (the drill-up links)."""
    above: list[Place] = []
    if place.level != "all" and reach.is_admin:
        above.append(Place("all", None, "全部"))
    for level, place_id in (("street", place.street_id), ("community", place.community_id)):
        if place_id is None or level == place.level:
            continue
        candidate = load_place(level, place_id)
        if reach.covers_place(candidate) or reach.touches(candidate):
            above.append(candidate)
    return above


def _own_scope(reach: Reach) -> FigureScope:
    """The viewer's whole scope: one place, or "mine" with a child per top place."""
    if reach.is_admin:
        return _scope_of(reach, Place("all", None, "全部"))
    tops: list[Place] = [load_place("street", i) for i in sorted(reach.streets)]

    def covered(p: Place) -> bool:
        """Inside a top place that a place part covers whole (listing it again adds nothing)."""
        return any(
            reach.covers_place(t)
            and (t.level == "street" and p.street_id == t.id or t.level == "community" and p.community_id == t.id)
            for t in tops
        )

    for i in sorted(reach.communities | reach.wish_communities):
        candidate = load_place("community", i)
        if not covered(candidate):
            tops.append(candidate)
    for i in sorted(reach.grids | {grid for grid, _ in reach.matrix}):
        candidate = load_place("grid", i)
        if not covered(candidate):
            tops.append(candidate)
    if len(tops) == 1:
        return _scope_of(reach, tops[0])
    conditions = [_scope_of_condition(reach, p) for p in tops]
    child_key = case(*[(c, index) for index, c in enumerate(conditions)], else_=None)
    return FigureScope(
        place=Place("mine", None, LEVEL_LABELS["mine"]),
        condition=or_(*conditions),
        street_ids=tuple(sorted(p.id for p in tops)) if all(p.level == "street" for p in tops) else None,
        children=tops,
        child_key=child_key,
        path=[],
    )


def _scope_of_condition(reach: Reach, place: Place):
    if reach.covers_place(place):
        return place.condition()
    return and_(place.condition(), reach.partial_condition())
