"""Staff accounts: create, roles and scope, password reset, leaving, away with a stand-in.

Who manages whom:
- an admin manages everyone and grants every role;
- community staff manage the people whose every role lies in their communities (community
  staff or wish reader of one of them, grid worker of one of their grids), and grant only
  those roles there: never admin, street staff or professional (a department lies in no
  community). Everyone else manages nobody (the console answers 403).

What each change does (every one is audited through webapp.audit.trail.record):
- create: a person with a code (the username, e.g. P021), a name, a phone and their roles; a
  first password is generated and returned to be shown once.
- roles: replaced as a whole. A grid worker of a grid becomes that grid's worker
  (Grid.worker_id, what routing and the signs read); a grid whose worker loses the role has no
  worker until someone is given it (its tickets go to its stand-in, else the community queue).
- password reset: a generated password, returned once, never kept in clear; it ends the
  person's console sessions (webapp.people.passwords.set_password).
- deactivate (someone who left): deactivated_at is set; their console sessions end
  (session_version) and their bearer tokens are revoked (auth.revoke_sessions); they cannot
  sign in again (passwords), are not in the directory (directory) and routing passes them by
  as if away (tickets.routing). They stop being any grid's worker and anyone's stand-in
  (Grid.worker_id / Grid.standin_id / Responsibility.standin_id cleared), so no new ticket
  and no printed sign names them; they stay the matrix's person of their rows until the one
  table names someone else (routing skips them for the row's stand-in, else the queue).
  Their roles are kept, read-only, as the record of what they did. Their open tickets are a
  ticket operation: the door calls webapp.tickets.handover.release_tickets_of in the same
  transaction (people never imports tickets' operations).
- away / back: is_away; with a stand-in chosen, it becomes the stand-in of the person's grids
  (as their worker) and matrix rows, which routing uses while they are away. Coming back
  leaves the stand-ins in place: routing reads them only while the person is away.
- work phone: the number and whether the building signs print it.

Functions flush, never commit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import delete, or_, select, update

from webapp.audit.trail import Action, record
from webapp.columns import utcnow
from webapp.errors import Forbidden, Invalid, NotFound
from webapp.extensions import db
from webapp.people import auth, passwords
from webapp.people.actors import Actor
from webapp.people.models import ROLE_LABELS, Person, Role, StaffAssignment
from webapp.registry.models import Community, Department, Grid, Responsibility, Street

# Each role's kind of scope (the StaffAssignment column it fills); admin has none.
SCOPE_OF = {
    Role.GRID_WORKER: "grid",
    Role.COMMUNITY_STAFF: "community",
    Role.WISH_READER: "community",
    Role.STREET_STAFF: "street",
    Role.PROFESSIONAL: "department",
    Role.ADMIN: None,
}
# The roles only an admin grants (their scope lies outside any community).
ADMIN_ONLY_ROLES = frozenset({Role.ADMIN, Role.STREET_STAFF, Role.PROFESSIONAL})
CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
PHONE_PATTERN = re.compile(r"^[0-9][0-9-]{4,19}$")
MAX_LISTED = 500


@dataclass(frozen=True)
class Grant:
    """One role over one place (or department); scope_id None for admin."""

    role: Role
    scope_id: int | None = None


@dataclass
class StaffRow:
    """A member of staff as the accounts page lists them."""

    id: str
    code: str | None
    name: str
    phone: str | None
    work_phone: str | None
    publish_phone: bool
    is_away: bool
    deactivated: bool
    has_password: bool
    roles: list[tuple[str, str]] = field(default_factory=list)  # (role label, scope name)
    grants: list[Grant] = field(default_factory=list)
    standins: list[str] = field(default_factory=list)  # names of their stand-ins
    manageable: bool = False

    @property
    def status_label(self) -> str:
        if self.deactivated:
            return "离岗"
        if self.is_away:
            return "请假" + (f"，代班人：{'、'.join(self.standins)}" if self.standins else "，未设代班人")
        return "在岗"


def may_manage_accounts(actor: Actor) -> bool:
    """Whether the actor may open the accounts page at all: admins and community staff."""
    return actor.is_admin or bool(actor.community_ids)


def _check_door(actor: Actor) -> None:
    if not may_manage_accounts(actor):
        raise Forbidden("只有管理员和社区工作人员可以管理人员账号", code="accounts_forbidden")


# --- the scope rule -------------------------------------------------------------------------


def _grid_communities(grid_ids) -> dict[int, int]:
    grid_ids = {g for g in grid_ids if g is not None}
    if not grid_ids:
        return {}
    return dict(db.session.execute(select(Grid.id, Grid.community_id).where(Grid.id.in_(grid_ids))).all())


def _grant_community(grant: Grant, grids: dict[int, int]) -> int | None:
    """The community a grant lies in, or None (admin, street, department)."""
    kind = SCOPE_OF[grant.role]
    if kind == "community":
        return grant.scope_id
    if kind == "grid":
        return grids.get(grant.scope_id)
    return None


def may_grant(actor: Actor, grants: list[Grant]) -> bool:
    """Whether the actor may give (or take away) every one of these grants."""
    if actor.is_admin:
        return True
    if any(g.role in ADMIN_ONLY_ROLES for g in grants):
        return False
    grids = _grid_communities(g.scope_id for g in grants if SCOPE_OF[g.role] == "grid")
    return all(_grant_community(g, grids) in actor.community_ids for g in grants)


def grants_of(person_id: str) -> list[Grant]:
    rows = db.session.scalars(
        select(StaffAssignment).where(StaffAssignment.person_id == person_id).order_by(StaffAssignment.id)
    ).all()
    return [_grant_of(a) for a in rows]


def _grant_of(a: StaffAssignment) -> Grant:
    kind = SCOPE_OF[a.role]
    return Grant(a.role, None if kind is None else getattr(a, f"{kind}_id"))


def can_manage(actor: Actor, person_id: str) -> bool:
    """Whether the actor manages this person: an admin anyone; community staff a person whose
    every role lies in their communities (and who has at least one)."""
    if actor.is_admin:
        return True
    if not actor.community_ids:
        return False
    grants = grants_of(person_id)
    return bool(grants) and may_grant(actor, grants)


def _managed(actor: Actor, person_id: str) -> Person:
    """The person, if the actor manages them; NotFound otherwise (never says who exists)."""
    _check_door(actor)
    person = db.session.get(Person, person_id) if person_id else None
    if person is None or not grants_of(person.id) or not can_manage(actor, person.id):
        raise NotFound("未找到该人员，或不在您的管理范围内", code="person_not_found")
    return person


def _active(person: Person) -> None:
    if person.deactivated_at is not None:
        raise Invalid("该人员已离岗停用，不能再修改", code="person_deactivated")


# --- reading grants from a form -------------------------------------------------------------


def parse_grants(pairs) -> list[Grant]:
    """Grants from (role value, scope id or "") pairs, duplicates dropped; Invalid (in
    Chinese) for an unknown role, a scope missing or a scope that does not exist."""
    grants: list[Grant] = []
    for role_value, scope in pairs:
        try:
            role = Role(role_value)
        except ValueError:
            raise Invalid("未知的角色", errors={"roles": ["未知的角色"]}) from None
        kind = SCOPE_OF[role]
        if kind is None:
            grant = Grant(role)
        else:
            try:
                grant = Grant(role, int(scope))
            except (TypeError, ValueError):
                message = f"请为“{ROLE_LABELS[role]}”选择范围"
                raise Invalid(message, errors={"roles": [message]}) from None
        if grant not in grants:
            grants.append(grant)
    _check_scopes_exist(grants)
    return grants


_SCOPE_MODELS = {"grid": Grid, "community": Community, "street": Street, "department": Department}


def _check_scopes_exist(grants: list[Grant]) -> None:
    for grant in grants:
        kind = SCOPE_OF[grant.role]
        if kind is not None and db.session.get(_SCOPE_MODELS[kind], grant.scope_id) is None:
            raise Invalid("所选范围不存在", errors={"roles": ["所选范围不存在"]})


def grantable_scopes(actor: Actor) -> dict[str, list[tuple[int, str]]]:
    """The places and departments the actor may give roles over, by kind: (id, name)."""
    if actor.is_admin:
        grids = db.session.execute(
            select(Grid.id, Community.name, Grid.name).join(Community, Community.id == Grid.community_id)
            .order_by(Community.name, Grid.name)
        ).all()
        return {
            "grid": [(i, f"{c} {g}") for i, c, g in grids],
            "community": list(db.session.execute(select(Community.id, Community.name).order_by(Community.name))),
            "street": list(db.session.execute(select(Street.id, Street.name).order_by(Street.name))),
            "department": list(db.session.execute(select(Department.id, Department.name).order_by(Department.name))),
        }
    communities = sorted(actor.community_ids)
    grids = db.session.execute(
        select(Grid.id, Community.name, Grid.name).join(Community, Community.id == Grid.community_id)
        .where(Grid.community_id.in_(communities)).order_by(Community.name, Grid.name)
    ).all()
    return {
        "grid": [(i, f"{c} {g}") for i, c, g in grids],
        "community": list(
            db.session.execute(
                select(Community.id, Community.name).where(Community.id.in_(communities)).order_by(Community.name)
            )
        ),
        "street": [],
        "department": [],
    }


def grantable_roles(actor: Actor) -> list[Role]:
    return [r for r in Role if actor.is_admin or r not in ADMIN_ONLY_ROLES]


# --- the list -------------------------------------------------------------------------------


def _in_scope_people(actor: Actor):
    """The ids of the people the actor's accounts page lists."""
    if actor.is_admin:
        return select(StaffAssignment.person_id)
    communities = sorted(actor.community_ids)
    grids = select(Grid.id).where(Grid.community_id.in_(communities))
    return select(StaffAssignment.person_id).where(
        or_(StaffAssignment.community_id.in_(communities), StaffAssignment.grid_id.in_(grids))
    )


def staff_list(actor: Actor, *, q: str | None = None, include_left: bool = True) -> list[StaffRow]:
    """The staff in the actor's scope (admins: all; community staff: those with a role in
    their communities), at work first, by code; at most MAX_LISTED."""
    _check_door(actor)
    query = select(Person).where(Person.id.in_(_in_scope_people(actor)))
    if q:
        query = query.where(or_(Person.name.contains(q, autoescape=True), Person.code == q.strip()))
    if not include_left:
        query = query.where(Person.deactivated_at.is_(None))
    people = db.session.scalars(
        query.order_by(Person.deactivated_at.is_not(None), Person.code, Person.id).limit(MAX_LISTED)
    ).all()
    return _rows(actor, people)


def staff_row(actor: Actor, person_id: str) -> StaffRow:
    """One person the actor manages, as the list shows them."""
    return _rows(actor, [_managed(actor, person_id)])[0]


def _rows(actor: Actor, people: list[Person]) -> list[StaffRow]:
    ids = [p.id for p in people]
    if not ids:
        return []
    assignments = db.session.execute(
        select(StaffAssignment, Street.name, Community.name, Grid.name, Department.name)
        .outerjoin(Street, Street.id == StaffAssignment.street_id)
        .outerjoin(Community, Community.id == StaffAssignment.community_id)
        .outerjoin(Grid, Grid.id == StaffAssignment.grid_id)
        .outerjoin(Department, Department.id == StaffAssignment.department_id)
        .where(StaffAssignment.person_id.in_(ids))
        .order_by(StaffAssignment.id)
    ).all()
    grid_communities = dict(
        db.session.execute(
            select(Grid.id, Community.name).join(Community, Community.id == Grid.community_id)
            .where(Grid.id.in_({a.grid_id for a, *_ in assignments if a.grid_id}))
        ).all()
    )
    rows = {
        p.id: StaffRow(
            id=p.id, code=p.code, name=p.name, phone=p.phone, work_phone=p.work_phone,
            publish_phone=bool(p.publish_phone), is_away=bool(p.is_away),
            deactivated=p.deactivated_at is not None, has_password=bool(p.password_hash),
        )
        for p in people
    }
    for a, street, community, grid, department in assignments:
        row = rows[a.person_id]
        scope = "全部" if a.role is Role.ADMIN else (
            f"{grid_communities.get(a.grid_id, '')} {grid}".strip() if grid else community or street or department or ""
        )
        row.roles.append((ROLE_LABELS[a.role], scope))
        row.grants.append(_grant_of(a))
    for person_id, name in _standin_names(ids):
        if name not in rows[person_id].standins:
            rows[person_id].standins.append(name)
    for row in rows.values():
        row.manageable = actor.is_admin or (bool(row.grants) and may_grant(actor, row.grants))
    return [rows[p.id] for p in people]


def _standin_names(person_ids: list[str]) -> list[tuple[str, str]]:
    """(person, stand-in's name) for the grids they work and the matrix rows they answer for."""
    standin = Person.__table__.alias("standin")
    by_grid = (
        select(Grid.worker_id, standin.c.name)
        .join(standin, standin.c.id == Grid.standin_id)
        .where(Grid.worker_id.in_(person_ids))
    )
    by_matrix = (
        select(Responsibility.person_id, standin.c.name)
        .join(standin, standin.c.id == Responsibility.standin_id)
        .where(Responsibility.person_id.in_(person_ids))
    )
    return [*db.session.execute(by_grid).all(), *db.session.execute(by_matrix).all()]


def standin_choices(actor: Actor, person_id: str) -> list[tuple[str, str]]:
    """(id, "name（code）") of who may stand in for this person: staff at work in the actor's
    accounts scope, not the person themself."""
    people = db.session.execute(
        select(Person.id, Person.name, Person.code)
        .where(
            Person.id.in_(_in_scope_people(actor)), Person.id != person_id,
            Person.deactivated_at.is_(None), Person.is_away.is_(False),
        )
        .order_by(Person.code, Person.id).limit(MAX_LISTED)
    ).all()
    return [(i, f"{name}（{code}）" if code else name) for i, name, code in people]


# --- changes --------------------------------------------------------------------------------


def _describe(grants: list[Grant]) -> list[str]:
    return [g.role.value if g.scope_id is None else f"{g.role.value}:{g.scope_id}" for g in grants]


def _write_grants(person: Person, grants: list[Grant]) -> None:
    for grant in grants:
        kind = SCOPE_OF[grant.role]
        values = {} if kind is None else {f"{kind}_id": grant.scope_id}
        db.session.add(StaffAssignment(person_id=person.id, role=grant.role, **values))
        if grant.role is Role.GRID_WORKER:
            db.session.execute(update(Grid).where(Grid.id == grant.scope_id).values(worker_id=person.id))
    db.session.flush()


def create_staff(
    actor: Actor, *, code: str, name: str, phone: str | None, grants: list[Grant],
    address: str | None = None,
) -> tuple[Person, str]:
    """A new member of staff and their first password (to be shown once): (person, password).

    Raises Forbidden for a role the actor may not grant, Invalid (in Chinese, by field) for a
    bad or taken code, a missing name, a bad phone or no role.
    """
    _check_door(actor)
    code, name, phone = (code or "").strip(), (name or "").strip(), (phone or "").strip() or None
    if not CODE_PATTERN.match(code):
        raise Invalid("用户名只能由字母、数字、-、_ 组成，如 P021", errors={"code": ["用户名只能由字母、数字、-、_ 组成，如 P021"]})
    if not name or len(name) > 40:
        raise Invalid("请填写姓名（不超过40个字）", errors={"name": ["请填写姓名（不超过40个字）"]})
    if phone is not None and not PHONE_PATTERN.match(phone):
        raise Invalid("电话号码格式不正确", errors={"phone": ["电话号码格式不正确"]})
    if not grants:
        raise Invalid("请至少选择一个角色", errors={"roles": ["请至少选择一个角色"]})
    if not may_grant(actor, grants):
        raise Forbidden("您不能授予所选的角色或范围", code="grant_forbidden")
    if db.session.scalar(select(Person.id).where(Person.code == code)) is not None:
        raise Invalid("该用户名已被使用", code="code_taken", errors={"code": ["该用户名已被使用"]})
    person = Person(code=code, name=name, phone=phone)
    db.session.add(person)
    db.session.flush()
    _write_grants(person, grants)
    record(
        Action.STAFF_CREATED, actor_id=actor.person_id, target_type="person", target_id=person.id,
        address=address, detail={"username": code, "name": name, "roles": _describe(grants)},
    )
    password = passwords.generate_password()
    passwords.set_password(code, password, by="console", actor_id=actor.person_id, address=address)
    return person, password


def set_roles(actor: Actor, person_id: str, grants: list[Grant], *, address: str | None = None) -> Person:
    """Replace a person's roles and scopes. Raises NotFound outside the actor's accounts,
    Forbidden for a grant the actor may not give, Invalid for no role at all (someone who
    leaves is deactivated instead)."""
    person = _managed(actor, person_id)
    _active(person)
    if not grants:
        raise Invalid("请至少选择一个角色；人员离开请使用“离岗停用”", errors={"roles": ["请至少选择一个角色"]})
    if not may_grant(actor, grants):
        raise Forbidden("您不能授予所选的角色或范围", code="grant_forbidden")
    before = grants_of(person.id)
    if person.id == actor.person_id and actor.is_admin and Grant(Role.ADMIN) not in grants:
        raise Invalid("不能取消自己的管理员角色", errors={"roles": ["不能取消自己的管理员角色"]})
    kept_grids = {g.scope_id for g in grants if g.role is Role.GRID_WORKER}
    db.session.execute(delete(StaffAssignment).where(StaffAssignment.person_id == person.id))
    db.session.execute(
        update(Grid).where(Grid.worker_id == person.id, Grid.id.not_in(kept_grids or {-1})).values(worker_id=None)
    )
    db.session.expire(person, ["assignments"])
    _write_grants(person, grants)
    auth.actor_cache.forget_person(person.id)
    record(
        Action.STAFF_ROLES_SET, actor_id=actor.person_id, target_type="person", target_id=person.id,
        address=address, detail={"username": person.code, "before": _describe(before), "after": _describe(grants)},
    )
    return person


def reset_password(actor: Actor, person_id: str, *, address: str | None = None) -> tuple[Person, str]:
    """A new generated password for this person, returned to be shown once: it ends their
    console sessions and clears a lock-out (passwords.set_password, audited)."""
    person = _managed(actor, person_id)
    _active(person)
    if not person.code:
        raise Invalid("该人员没有用户名（人员编码），不能设置密码")
    password = passwords.generate_password()
    passwords.set_password(person.code, password, by="console", actor_id=actor.person_id, address=address)
    return person, password


def deactivate(actor: Actor, person_id: str, *, address: str | None = None) -> Person:
    """Someone who left (see the module docstring). The caller hands back their open tickets
    (tickets.handover.release_tickets_of) in the same transaction. Idempotent."""
    person = _managed(actor, person_id)
    if person.id == actor.person_id:
        raise Invalid("不能停用自己的账号")
    if person.deactivated_at is not None:
        return person
    person.deactivated_at = utcnow()
    person.is_away = False
    person.session_version = (person.session_version or 0) + 1  # console sessions end
    revoked = auth.revoke_sessions(person.id)  # bearer tokens end
    grids = list(db.session.scalars(select(Grid.code).where(Grid.worker_id == person.id)))
    db.session.execute(update(Grid).where(Grid.worker_id == person.id).values(worker_id=None))
    db.session.execute(update(Grid).where(Grid.standin_id == person.id).values(standin_id=None))
    db.session.execute(
        update(Responsibility).where(Responsibility.standin_id == person.id).values(standin_id=None)
    )
    db.session.flush()
    record(
        Action.STAFF_DEACTIVATED, actor_id=actor.person_id, target_type="person", target_id=person.id,
        address=address,
        detail={"username": person.code, "revoked_tokens": revoked, "left_grids": grids},
    )
    return person


def set_away(
    actor: Actor, person_id: str, *, standin_id: str | None = None, address: str | None = None
) -> Person:
    """Mark a person away; a stand-in, if given, stands in for their grids and matrix rows."""
    person = _managed(actor, person_id)
    _active(person)
    standin = None
    if standin_id:
        standin = db.session.get(Person, standin_id)
        if (
            standin is None or standin.id == person.id or standin.deactivated_at is not None
            or standin.id not in {i for i, _ in standin_choices(actor, person.id)}
        ):
            raise Invalid("代班人不存在、已请假或不在您的管理范围内", errors={"standin": ["请重新选择代班人"]})
        db.session.execute(update(Grid).where(Grid.worker_id == person.id).values(standin_id=standin.id))
        db.session.execute(
            update(Responsibility).where(Responsibility.person_id == person.id).values(standin_id=standin.id)
        )
        auth.actor_cache.forget_person(standin.id)  # their matrix pairs changed
    person.is_away = True
    db.session.flush()
    record(
        Action.STAFF_AWAY, actor_id=actor.person_id, target_type="person", target_id=person.id,
        address=address, detail={"username": person.code, "standin": standin.code if standin else None},
    )
    return person


def set_back(actor: Actor, person_id: str, *, address: str | None = None) -> Person:
    """The person is at work again: routing gives them their tickets again."""
    person = _managed(actor, person_id)
    _active(person)
    person.is_away = False
    db.session.flush()
    record(
        Action.STAFF_BACK, actor_id=actor.person_id, target_type="person", target_id=person.id,
        address=address, detail={"username": person.code},
    )
    return person


def set_work_phone(
    actor: Actor, person_id: str, *, work_phone: str | None, publish: bool, address: str | None = None
) -> Person:
    """The work phone and whether the building signs print it (none: the signs print the
    community office's phone). Invalid for a malformed number, or publishing none."""
    person = _managed(actor, person_id)
    _active(person)
    work_phone = (work_phone or "").strip() or None
    if work_phone is not None and not PHONE_PATTERN.match(work_phone):
        raise Invalid("电话号码格式不正确", errors={"work_phone": ["电话号码格式不正确"]})
    if publish and work_phone is None:
        raise Invalid("请先填写工作电话再选择公示", errors={"work_phone": ["请先填写工作电话"]})
    before = (person.work_phone, bool(person.publish_phone))
    person.work_phone = work_phone
    person.publish_phone = publish
    db.session.flush()
    record(
        Action.STAFF_PHONE_SET, actor_id=actor.person_id, target_type="person", target_id=person.id,
        address=address,
        detail={"username": person.code, "before": list(before), "after": [work_phone, publish]},
    )
    return person
