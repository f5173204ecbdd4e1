"""Tickets' tables: tickets (reports and wishes), their events, me-too, idempotency, the day's counters, photos."""
from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Optional

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.columns import IdString, UTCDateTime, new_id, utcnow
from webapp.extensions import db
from webapp.privacy.sealing import HASH_LENGTH, SEALED_LENGTH, phone_hash, seal, unseal
from webapp.registry.models import TicketKind

# --- Tickets (reports and wishes) and the append-only events of their lives.


class TicketStatus(str, enum.Enum):
    PENDING = "pending"  # no one to route to yet: the community's dispatch queue
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    RESOLVED = "resolved"  # awaiting the reporter
    CLOSED = "closed"
    REJECTED = "rejected"
    MERGED = "merged"


OPEN_STATUSES = (
    TicketStatus.PENDING,
    TicketStatus.DISPATCHED,
    TicketStatus.ACCEPTED,
    TicketStatus.RESOLVED,
)

STATUS_LABELS = {
    TicketStatus.PENDING: "待派单",
    TicketStatus.DISPATCHED: "已派单",
    TicketStatus.ACCEPTED: "处理中",
    TicketStatus.RESOLVED: "待评价",
    TicketStatus.CLOSED: "已办结",
    TicketStatus.REJECTED: "已驳回",
    TicketStatus.MERGED: "已合并",
}


# Conditions of the deadline command's partial indexes, written out literally: a planner uses
# a partial index only when the query states its condition with the same constants (not bind
# parameters), so webapp.tickets.deadline_sweep puts these very strings in its queries.
DEADLINE_SQL = {
    "unaccepted": "status IN ('pending', 'dispatched')",
    "accepted": "status = 'accepted'",
    "resolved": "status = 'resolved'",
    "not_overdue": "is_overdue = false",
    "at_community": "level = 'community'",
    "unwarned_accept": "warned_accept_at IS NULL",
    "unwarned_resolve": "warned_resolve_at IS NULL",
}


# The open statuses, written out for the partial indexes of the work queue (same reason).
OPEN_SQL = "status IN ({})".format(", ".join(f"'{s.value}'" for s in OPEN_STATUSES))


# The columns the figures read besides the key (migration 0005 creates the same index).
FIGURES_INCLUDE = [
    "kind", "status", "category_id", "community_id", "grid_id", "building_id", "accepted_at",
    "accept_due_at", "resolved_at", "resolve_due_at", "closed_at", "rating", "reopen_count",
]


# Tickets not yet counted in the figures' daily rollup (migration 0006 writes the same).
LIVE_SQL = "rolled_up = false"


def _partial_index(name: str, columns: tuple[str, ...], *conditions: str) -> Index:
    where = " AND ".join(conditions)
    return Index(name, *columns, sqlite_where=text(where), postgresql_where=text(where))


def _enum(cls, length):
    return Enum(cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


class Ticket(db.Model):
    __tablename__ = "tickets"
    __table_args__ = (
        # With category_id, created_at: a submission's duplicate check (an open report of the
        # same category at the building within a day) reads one short range of it.
        Index("ix_tickets_building_status", "building_id", "status", "category_id", "created_at"),
        # With created_at, id: a list of one status newest first (the closed tab of a grid,
        # a community, a person) is one ordered range scan, not a sort of all their tickets.
        Index("ix_tickets_assignee_status", "assignee_id", "status", "created_at", "id"),
        Index("ix_tickets_grid_status", "grid_id", "status", "created_at", "id"),
        Index("ix_tickets_community_status", "community_id", "status", "created_at", "id"),
        Index("ix_tickets_reporter_created", "reporter_id", "created_at"),
        # The deadline command (webapp.tickets.deadline_sweep): each finds its few candidates
        # among millions of tickets by one ordered range scan; each stays small.
        _partial_index(
            "ix_tickets_accept_warning", ("category_id", "accept_due_at"),
            DEADLINE_SQL["unwarned_accept"], DEADLINE_SQL["unaccepted"],
        ),
        _partial_index(
            "ix_tickets_resolve_warning", ("category_id", "resolve_due_at"),
            DEADLINE_SQL["unwarned_resolve"], DEADLINE_SQL["accepted"],
        ),
        _partial_index(
            "ix_tickets_accept_overdue", ("accept_due_at",),
            DEADLINE_SQL["not_overdue"], DEADLINE_SQL["unaccepted"],
        ),
        _partial_index(
            "ix_tickets_resolve_overdue", ("resolve_due_at",),
            DEADLINE_SQL["not_overdue"], DEADLINE_SQL["accepted"],
        ),
        _partial_index(
            "ix_tickets_community_accept_due", ("accept_due_at",),
            DEADLINE_SQL["at_community"], DEADLINE_SQL["unaccepted"],
        ),
        _partial_index(
            "ix_tickets_community_resolve_due", ("resolve_due_at",),
            DEADLINE_SQL["at_community"], DEADLINE_SQL["accepted"],
        ),
        _partial_index("ix_tickets_resolved_at", ("resolved_at",), DEADLINE_SQL["resolved"]),
        # The work queue (webapp.tickets.queue.work_queue_query): open tickets newest first,
        # one ordered range scan per part of a person's scope, reading about one page each.
        _partial_index("ix_tickets_open_grid", ("grid_id", "created_at", "id"), OPEN_SQL),
        _partial_index("ix_tickets_open_community", ("community_id", "created_at", "id"), OPEN_SQL),
        _partial_index("ix_tickets_open_street", ("street_id", "created_at", "id"), OPEN_SQL),
        _partial_index("ix_tickets_open_category", ("category_id", "created_at", "id"), OPEN_SQL),
        _partial_index("ix_tickets_open_assignee", ("assignee_id", "created_at", "id"), OPEN_SQL),
        # The figures (webapp.figures.compute): the tickets of a street, or of a community or
        # grid in it, created in a period; on PostgreSQL read from the index alone.
        Index("ix_tickets_figures_street", "street_id", "created_at", postgresql_include=FIGURES_INCLUDE),
        # The figures' live part: the tickets of a street not yet in the daily rollup (the open
        # ones, mostly), read from this index alone on PostgreSQL (webapp.figures.rollup).
        Index(
            "ix_tickets_figures_live", "street_id", "created_at", postgresql_include=FIGURES_INCLUDE,
            sqlite_where=text(LIVE_SQL), postgresql_where=text(LIVE_SQL),
        ),
    )

    id: Mapped[str] = mapped_column(IdString(), primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[TicketKind] = mapped_column(_enum(TicketKind, 10))
    status: Mapped[TicketStatus] = mapped_column(_enum(TicketStatus, 12))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    # The place, copied down the tree at submission so that scope queries need no joins.
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"))
    unit_id: Mapped[Optional[int]] = mapped_column(ForeignKey("units.id"))
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    street_id: Mapped[int] = mapped_column(ForeignKey("streets.id"), index=True)
    description: Mapped[str] = mapped_column(Text)
    # Null for an anonymous wish: only reporter_key (a keyed hash) can find it again.
    reporter_id: Mapped[Optional[str]] = mapped_column(IdString(), ForeignKey("people.id"))
    reporter_key: Mapped[Optional[str]] = mapped_column(String(64), index=True)
    is_anonymous: Mapped[bool] = mapped_column(default=False)
    is_rider_report: Mapped[bool] = mapped_column(default=False)
    # The contact phone, sealed at rest (webapp/privacy/sealing.py): read and set through the
    # contact_phone property below, which keeps contact_phone_hash (what a query compares) in
    # step. A plain column, not a SealedString: the submission writes the row as JSON on
    # PostgreSQL (webapp/tickets/filing.py), past any column type.
    contact_phone_sealed: Mapped[Optional[str]] = mapped_column("contact_phone", String(SEALED_LENGTH))
    contact_phone_hash: Mapped[Optional[str]] = mapped_column(String(HASH_LENGTH), index=True)
    assignee_id: Mapped[Optional[str]] = mapped_column(IdString(), ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    dispatched_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    accepted_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    resolved_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    closed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    accept_due_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    resolve_due_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    # Who supervises it now on the ladder grid → community → street → department.
    level: Mapped[str] = mapped_column(String(12), default="grid")
    is_overdue: Mapped[bool] = mapped_column(default=False)
    # Set by the deadline command only: when it first found the ticket overdue, and when it
    # warned the handler of each deadline (once per deadline).
    overdue_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    warned_accept_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    warned_resolve_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    me_too_count: Mapped[int] = mapped_column(default=0)
    rating: Mapped[Optional[int]] = mapped_column()
    rating_comment: Mapped[Optional[str]] = mapped_column(Text)
    reopen_count: Mapped[int] = mapped_column(default=0)
    return_count: Mapped[int] = mapped_column(default=0)
    # Held back from public lists until a person has checked the text (WeChat unreachable).
    needs_review: Mapped[bool] = mapped_column(default=False)
    photo_ids: Mapped[list] = mapped_column(JSON, default=list)
    merged_into_id: Mapped[Optional[str]] = mapped_column(IdString(), ForeignKey("tickets.id"))
    # A report of the same category at the same building within a day, flagged to staff.
    duplicate_of_id: Mapped[Optional[str]] = mapped_column(IdString(), ForeignKey("tickets.id"))
    version: Mapped[int] = mapped_column(default=1)
    # Counted in the figures' daily rollup (webapp.figures.rollup): set once, when the ticket
    # is settled (closed, rejected or merged, and none of its figures can change any more).
    rolled_up: Mapped[bool] = mapped_column(default=False, server_default=text("false"))

    __mapper_args__ = {"version_id_col": version}

    @property
    def contact_phone(self) -> Optional[str]:
        return unseal(self.contact_phone_sealed)

    @contact_phone.setter
    def contact_phone(self, value: Optional[str]) -> None:
        self.contact_phone_sealed = seal(value)
        self.contact_phone_hash = phone_hash(value)

    category = relationship("Category")
    building = relationship("Building")
    unit = relationship("Unit")
    grid = relationship("Grid")
    assignee = relationship("Person", foreign_keys=[assignee_id])
    reporter = relationship("Person", foreign_keys=[reporter_id])
    events: Mapped[list["TicketEvent"]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id"
    )


class TicketEvent(db.Model):
    """One line of a ticket's timeline: who did what, as which role, why, with which photos."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[str] = mapped_column(IdString(), ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    action: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[Optional[str]] = mapped_column(IdString(), ForeignKey("people.id"))
    actor_role: Mapped[str] = mapped_column(String(20))
    from_status: Mapped[Optional[str]] = mapped_column(String(12))
    to_status: Mapped[Optional[str]] = mapped_column(String(12))
    note: Mapped[Optional[str]] = mapped_column(Text)
    reason: Mapped[Optional[str]] = mapped_column(String(40))
    # The rule that made a routing decision, e.g. "matrix", "standin", "grid_worker".
    rule: Mapped[Optional[str]] = mapped_column(String(40))
    photo_ids: Mapped[list] = mapped_column(JSON, default=list)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class MeToo(db.Model):
    """One more resident who has the same problem (我也遇到); once per person per report."""

    __tablename__ = "me_toos"
    __table_args__ = (UniqueConstraint("ticket_id", "person_id", name="uq_me_toos_ticket_person"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[str] = mapped_column(IdString(), ForeignKey("tickets.id"))
    person_id: Mapped[str] = mapped_column(IdString(), ForeignKey("people.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IdempotencyRecord(db.Model):
    """One submission per client key. The key is stored as a keyed hash with the person, so
    the record does not tell who filed an anonymous wish."""

    __tablename__ = "idempotency_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    # Written first (claiming the key), filled in once the ticket exists, in one transaction.
    ticket_id: Mapped[Optional[str]] = mapped_column(IdString(), ForeignKey("tickets.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TicketCounter(db.Model):
    """The running number of tickets per street and day, for numbers like JY-20261122-0042."""

    __tablename__ = "ticket_counters"

    scope: Mapped[str] = mapped_column(String(24), primary_key=True)
    value: Mapped[int] = mapped_column(default=0)



# --- Uploaded photos: re-encoded without metadata, stored by content hash, attached to a ticket.


class Photo(db.Model):
    __tablename__ = "photos"

    id: Mapped[str] = mapped_column(IdString(), primary_key=True, default=new_id)
    # sha256 hex of the stored (re-encoded) bytes; the file is UPLOAD_DIR/<sha[:2]>/<sha>.<ext>.
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    content_type: Mapped[str] = mapped_column(String(20))
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    byte_size: Mapped[int] = mapped_column()
    # Null once attached to an anonymous wish: the photo must not say who sent it.
    uploader_id: Mapped[Optional[str]] = mapped_column(
        IdString(), ForeignKey("people.id"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Set when the ticket (or the ticket action) that uses the photo is submitted.
    ticket_id: Mapped[Optional[str]] = mapped_column(
        IdString(), ForeignKey("tickets.id"), index=True
    )
    # Flagged risky by WeChat's media check: shown only to staff whose scope covers the ticket.
    is_hidden: Mapped[bool] = mapped_column(default=False)
    check_trace_id: Mapped[Optional[str]] = mapped_column(String(64), index=True)
    # WeChat's verdict (mediaCheckAsync: "pass", "review" or "risky") and when it came; null
    # until it comes. Kept whether it comes before or after the photo joins a ticket, so that
    # claiming a flagged photo holds its ticket for review (webapp.tickets.photos).
    check_verdict: Mapped[Optional[str]] = mapped_column(String(10))
    checked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())


class CalendarDay(db.Model):
    """A day that differs from the plain week: a holiday on a weekday (is_workday False) or a
    make-up working day on a weekend (True). Seeded from chinesecalendar, kept by admins in the
    console (webapp.tickets.calendar); deadlines counted in working days read it."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(primary_key=True)
    is_workday: Mapped[bool] = mapped_column()
    name: Mapped[str] = mapped_column(String(40), default="")
    source: Mapped[str] = mapped_column(String(20), default="admin")  # package, admin, csv
    updated_by: Mapped[Optional[str]] = mapped_column(IdString())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
