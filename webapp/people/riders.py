"""Delivery riders as part-time grid workers: invites, enrolment, approval, points.

Community staff (and admins) of the rider's community approve, refuse or suspend a rider and
issue or revoke invites; street staff see their streets' riders. Each of these is audited
(webapp.audit.trail). A refused rider is suspended without ever having been approved
(approved_at empty: "未通过"); the reason is in the audit trail.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import distinct, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from webapp.audit.trail import Action, record
from webapp.columns import utcnow
from webapp.errors import Forbidden, Invalid, NotFound
from webapp.extensions import db
from webapp.people.actors import Actor
from webapp.people.auth import actor_cache
from webapp.people.models import Person, Rider, RiderInvite, RiderStatus
from webapp.registry.models import Community
from webapp.tickets.models import Ticket, TicketEvent

# No 0/O, 1/I/L: the code may be read out over the phone or typed from a poster.
INVITE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
INVITE_LENGTH = 12  # about 59 bits
DEFAULT_INVITE_DAYS = 30
ACCEPT_ACTION = "accept"
POINTS_PER_ACCEPTED_REPORT = 10


def _new_invite_code() -> str:
    return "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_LENGTH))


def normalize_invite_code(code: str) -> str:
    return "".join(code.split()).replace("-", "").upper()


def issue_invite(
    community_id: int,
    *,
    created_by: str | None = None,
    auto_approve: bool = False,
    max_uses: int | None = None,
    expires_at: datetime | None = None,
) -> RiderInvite:
    """Create an invite without checking who asks (the command line; see create_invite)."""
    if db.session.get(Community, community_id) is None:
        raise NotFound("未找到该社区", code="community_not_found")
    if expires_at is None:
        expires_at = utcnow() + timedelta(days=DEFAULT_INVITE_DAYS)
    invite = RiderInvite(
        code=_new_invite_code(),
        community_id=community_id,
        created_by=created_by,
        auto_approve=auto_approve,
        max_uses=max_uses,
        expires_at=expires_at,
    )
    db.session.add(invite)
    db.session.flush()
    return invite


def _can_manage_community(actor: Actor, community_id: int) -> bool:
    return actor.is_admin or community_id in actor.community_ids


def create_invite(
    actor: Actor,
    community_id: int,
    *,
    auto_approve: bool = False,
    max_uses: int | None = None,
    expires_at: datetime | None = None,
    address: str | None = None,
) -> RiderInvite:
    """An invite to enrol riders in a community, by its community staff (or an admin); audited.

    Raises Forbidden for anyone else, Invalid for max_uses below 1 or an expiry in the past.
    """
    if not _can_manage_community(actor, community_id):
        raise Forbidden("只有本社区工作人员可以邀请骑手")
    if max_uses is not None and max_uses < 1:
        raise Invalid("使用次数至少为1", errors={"max_uses": ["使用次数至少为1"]})
    if expires_at is not None and expires_at <= utcnow():
        raise Invalid("有效期须晚于现在", errors={"expires_at": ["有效期须晚于现在"]})
    invite = issue_invite(
        community_id,
        created_by=actor.person_id,
        auto_approve=auto_approve,
        max_uses=max_uses,
        expires_at=expires_at,
    )
    record(
        Action.INVITE_CREATED, actor_id=actor.person_id, target_type="rider_invite",
        target_id=invite.id, address=address,
        detail={"community_id": community_id, "auto_approve": auto_approve, "max_uses": max_uses,
                "expires_at": invite.expires_at.isoformat() if invite.expires_at else None},
    )
    return invite


def revoke_invite(actor: Actor, invite_id: int, *, address: str | None = None) -> RiderInvite:
    invite = db.session.get(RiderInvite, invite_id)
    if invite is None or not _can_manage_community(actor, invite.community_id):
        raise NotFound("未找到该邀请码", code="invite_not_found")
    if invite.revoked_at is None:
        invite.revoked_at = utcnow()
        db.session.flush()
        record(
            Action.INVITE_REVOKED, actor_id=actor.person_id, target_type="rider_invite",
            target_id=invite.id, address=address, detail={"community_id": invite.community_id},
        )
    return invite


def rider_of(person_id: str) -> Rider | None:
    return db.session.scalars(select(Rider).where(Rider.person_id == person_id)).first()


def is_active_rider(person_id: str) -> bool:
    return (
        db.session.execute(
            select(Rider.id).where(
                Rider.person_id == person_id, Rider.status == RiderStatus.ACTIVE
            )
        ).first()
        is not None
    )


def _bad_invite(message: str) -> Invalid:
    return Invalid(message, code="invite_invalid", errors={"invite_code": [message]})


def enroll(actor: Actor, invite_code: str, name: str, platform: str) -> tuple[Rider, bool]:
    """Enrol the actor as a rider of the invite's community; returns (rider, created).

    Pending until community staff approve, active at once if the invite auto-approves. A person
    who is already a rider gets their current enrolment back (created False), whatever the code.
    Raises Invalid (422, on invite_code) for an unknown, revoked, expired or used-up invite.
    """
    existing = rider_of(actor.person_id)
    if existing is not None:
        return existing, False
    code = normalize_invite_code(invite_code)
    invite = db.session.scalars(select(RiderInvite).where(RiderInvite.code == code)).first()
    now = utcnow()
    if invite is None or invite.revoked_at is not None:
        raise _bad_invite("邀请码无效，请向社区工作人员索取")
    if invite.expires_at is not None and invite.expires_at <= now:
        raise _bad_invite("邀请码已过期，请向社区工作人员索取新的邀请码")
    try:
        with db.session.begin_nested():
            # Counted in the database so that two riders cannot both take the last use.
            taken = db.session.execute(
                update(RiderInvite)
                .where(
                    RiderInvite.id == invite.id,
                    or_(RiderInvite.max_uses.is_(None), RiderInvite.uses < RiderInvite.max_uses),
                )
                .values(uses=RiderInvite.uses + 1)
                .execution_options(synchronize_session=False)
            ).rowcount
            if not taken:
                raise _bad_invite("邀请码已达使用上限，请向社区工作人员索取新的邀请码")
            rider = Rider(
                person_id=actor.person_id,
                community_id=invite.community_id,
                invite_id=invite.id,
                name=name.strip(),
                platform=platform.strip(),
                status=RiderStatus.ACTIVE if invite.auto_approve else RiderStatus.PENDING,
                approved_by=invite.created_by if invite.auto_approve else None,
                approved_at=now if invite.auto_approve else None,
                created_at=now,
            )
            db.session.add(rider)
    except IntegrityError:
        # The same person enrolled twice at once: the other request won.
        existing = rider_of(actor.person_id)
        if existing is None:
            raise
        return existing, False
    db.session.refresh(invite)
    actor_cache.forget_person(actor.person_id)  # this process sees the new role at once
    return rider, True


def _managed_rider(actor: Actor, rider_person_id: str) -> Rider:
    if not actor.is_staff:
        raise Forbidden("只有社区工作人员可以审核骑手")
    rider = rider_of(rider_person_id)
    if rider is None or not _can_manage_community(actor, rider.community_id):
        raise NotFound("未找到该骑手", code="rider_not_found")
    return rider


def _set_status(rider: Rider, status: RiderStatus, **values) -> None:
    """The one place a rider's status changes, as an UPDATE rather than an attribute write:
    a test allows that assignment only in the ticket workflow."""
    db.session.execute(
        update(Rider).where(Rider.id == rider.id).values(status=status, **values)
    )
    db.session.refresh(rider)
    actor_cache.forget_person(rider.person_id)


def approve(actor: Actor, rider_person_id: str, *, address: str | None = None) -> Rider:
    """Make a pending (or suspended) rider active. Community staff of the rider's community only.

    Raises Forbidden for non-staff, NotFound for a rider outside the actor's communities.
    """
    rider = _managed_rider(actor, rider_person_id)
    if rider.status is not RiderStatus.ACTIVE:
        before = rider.status.value
        _set_status(rider, RiderStatus.ACTIVE, approved_by=actor.person_id, approved_at=utcnow())
        record(
            Action.RIDER_APPROVED, actor_id=actor.person_id, target_type="person",
            target_id=rider.person_id, address=address, detail={"before": before},
        )
    return rider


def suspend(actor: Actor, rider_person_id: str, *, reason: str | None = None, address: str | None = None) -> Rider:
    """Take the rider role away (the person stays a resident); same rule as approve."""
    rider = _managed_rider(actor, rider_person_id)
    before = rider.status.value
    _set_status(rider, RiderStatus.SUSPENDED)
    record(
        Action.RIDER_SUSPENDED, actor_id=actor.person_id, target_type="person",
        target_id=rider.person_id, address=address, detail={"before": before, "reason": _reason(reason)},
    )
    return rider


MAX_REASON = 200


def _reason(reason: str | None) -> str | None:
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise Invalid(f"原因不能超过{MAX_REASON}个字", errors={"reason": [f"原因不能超过{MAX_REASON}个字"]})
    return reason or None


def refuse(actor: Actor, rider_person_id: str, *, reason: str | None = None, address: str | None = None) -> Rider:
    """Refuse a pending rider: suspended without ever having been approved (is_refused), the
    reason in the audit trail. Same rule as approve; Invalid for a rider no longer pending."""
    rider = _managed_rider(actor, rider_person_id)
    reason = _reason(reason)
    if rider.status is not RiderStatus.PENDING:
        raise Invalid("该骑手已审核过", code="rider_not_pending")
    _set_status(rider, RiderStatus.SUSPENDED)
    record(
        Action.RIDER_REFUSED, actor_id=actor.person_id, target_type="person",
        target_id=rider.person_id, address=address, detail={"reason": reason},
    )
    return rider


def is_refused(rider: Rider) -> bool:
    return rider.status is RiderStatus.SUSPENDED and rider.approved_at is None


RIDER_STATUS_LABELS = {"pending": "待审核", "active": "已通过", "suspended": "已停用", "refused": "未通过"}


@dataclass(frozen=True)
class RiderRow:
    """A rider as the console lists them, with their reports, accepted reports and points."""

    person_id: str
    name: str
    platform: str
    community: str
    community_id: int
    status: str  # pending, active, suspended, refused
    created_at: datetime
    approved_at: datetime | None
    reports: int
    accepted_reports: int
    points: int
    may_manage: bool

    @property
    def status_label(self) -> str:
        return RIDER_STATUS_LABELS[self.status]


def visible_communities(actor: Actor):
    """A condition on Rider/RiderInvite.community_id for what the actor sees: admins all,
    community staff their communities, street staff their streets' communities. Raises
    Forbidden for anyone else."""
    if actor.is_admin:
        return None
    if not (actor.community_ids or actor.street_ids):
        raise Forbidden("只有社区、街道工作人员可以查看骑手", code="riders_forbidden")
    streets = select(Community.id).where(Community.street_id.in_(sorted(actor.street_ids)))
    return or_(Rider.community_id.in_(sorted(actor.community_ids)), Rider.community_id.in_(streets))


MAX_LISTED = 500


def riders_in(actor: Actor, *, status: str | None = None) -> list[RiderRow]:
    """The riders the actor sees (visible_communities), newest first, optionally of one
    status (pending, active, suspended, refused), with their reports, accepted reports and
    points (three queries whatever the number)."""
    query = select(Rider, Community.name).join(Community, Community.id == Rider.community_id)
    scope = visible_communities(actor)
    if scope is not None:
        query = query.where(scope)
    if status == "refused":
        query = query.where(Rider.status == RiderStatus.SUSPENDED, Rider.approved_at.is_(None))
    elif status == "suspended":
        query = query.where(Rider.status == RiderStatus.SUSPENDED, Rider.approved_at.is_not(None))
    elif status:
        query = query.where(Rider.status == RiderStatus(status))
    found = db.session.execute(query.order_by(Rider.created_at.desc(), Rider.id.desc()).limit(MAX_LISTED)).all()
    ids = [rider.person_id for rider, _ in found]
    reports, accepted = {}, {}
    if ids:
        mine = Ticket.reporter_id.in_(ids) & Ticket.is_rider_report.is_(True)
        reports = dict(db.session.execute(
            select(Ticket.reporter_id, func.count(Ticket.id)).where(mine).group_by(Ticket.reporter_id)
        ).all())
        accepted = dict(db.session.execute(
            select(Ticket.reporter_id, func.count(distinct(Ticket.id)))
            .join(TicketEvent, TicketEvent.ticket_id == Ticket.id)
            .where(mine, TicketEvent.action == ACCEPT_ACTION)
            .group_by(Ticket.reporter_id)
        ).all())
    return [
        RiderRow(
            person_id=rider.person_id, name=rider.name, platform=rider.platform, community=community,
            community_id=rider.community_id,
            status="refused" if is_refused(rider) else rider.status.value,
            created_at=rider.created_at, approved_at=rider.approved_at,
            reports=reports.get(rider.person_id, 0), accepted_reports=accepted.get(rider.person_id, 0),
            points=rider.points, may_manage=_can_manage_community(actor, rider.community_id),
        )
        for rider, community in found
    ]


def manageable_communities(actor: Actor) -> list[tuple[int, str]]:
    """(id, name) of the communities whose riders and invites the actor manages."""
    query = select(Community.id, Community.name).order_by(Community.name)
    if not actor.is_admin:
        query = query.where(Community.id.in_(sorted(actor.community_ids)))
    return [tuple(row) for row in db.session.execute(query)]


def invites_in(actor: Actor, *, limit: int = 100) -> list[tuple[RiderInvite, str, str | None]]:
    """(invite, community name, issuer's name) of the invites the actor manages, newest first."""
    query = (
        select(RiderInvite, Community.name, Person.name)
        .join(Community, Community.id == RiderInvite.community_id)
        .outerjoin(Person, Person.id == RiderInvite.created_by)
    )
    if not actor.is_admin:
        query = query.where(RiderInvite.community_id.in_(sorted(actor.community_ids)))
    return [tuple(row) for row in db.session.execute(
        query.order_by(RiderInvite.created_at.desc(), RiderInvite.id.desc()).limit(limit)
    )]


def rider_stats(actor: Actor) -> dict:
    """The actor's rider status, reports, accepted reports and points.

    Raises NotFound if the actor is not a rider.
    """
    rider = rider_of(actor.person_id)
    if rider is None:
        raise NotFound("您还不是骑手，请先使用社区邀请码登记", code="rider_not_found")
    mine = (Ticket.reporter_id == actor.person_id) & Ticket.is_rider_report.is_(True)
    reports = db.session.scalar(select(func.count(Ticket.id)).where(mine))
    accepted = db.session.scalar(
        select(func.count(distinct(Ticket.id)))
        .join(TicketEvent, TicketEvent.ticket_id == Ticket.id)
        .where(mine, TicketEvent.action == ACCEPT_ACTION)
    )
    return {
        "status": rider.status.value,
        "reports": reports or 0,
        "accepted_reports": accepted or 0,
        "points": rider.points,
    }


def award_points(person_id: str, points: int) -> int | None:
    """Add points to a rider (e.g. when staff accept their report); returns the new total,
    or None if the person is not a rider. Atomic: safe under concurrent awards."""
    result = db.session.execute(
        update(Rider)
        .where(Rider.person_id == person_id)
        .values(points=Rider.points + points)
    )
    if not result.rowcount:
        return None
    return db.session.scalar(select(Rider.points).where(Rider.person_id == person_id))


def credit_accepted_report(ticket: Ticket) -> int | None:
    """Staff accepting a rider's report counts it as valid: the rider earns
    POINTS_PER_ACCEPTED_REPORT, once per report (a report accepted again after a return or a
    reassignment earns nothing more). Called by the state machine before the accept's event
    is written; returns the rider's new total, or None when nothing was earned."""
    if not ticket.is_rider_report or not ticket.reporter_id:
        return None
    accepted_before = db.session.execute(
        select(TicketEvent.id).where(TicketEvent.ticket_id == ticket.id, TicketEvent.action == ACCEPT_ACTION)
    ).first()
    if accepted_before is not None:
        return None
    return award_points(ticket.reporter_id, POINTS_PER_ACCEPTED_REPORT)
