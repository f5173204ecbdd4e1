"""SQLAlchemy models; importing this package registers every table on the metadata."""
from webapp.models.base import new_id, utcnow
from webapp.models.bindings import BindCode
from webapp.models.categories import Category, Department, Responsibility, TicketKind
from webapp.models.codes import BuildingCode
from webapp.models.outbox import OutboxMessage, OutboxState, SubscriptionQuota
from webapp.models.people import Person, Role, StaffAssignment
from webapp.models.patrols import Patrol
from webapp.models.photos import Photo
from webapp.models.riders import Rider, RiderInvite, RiderStatus
from webapp.models.sessions import AuthSession
from webapp.models.places import Building, Community, Grid, Street, Unit
from webapp.models.tickets import (
    OPEN_STATUSES,
    IdempotencyRecord,
    MeToo,
    Ticket,
    TicketCounter,
    TicketEvent,
    TicketStatus,
)

__all__ = [
    "BindCode",
    "Patrol",
    "AuthSession",
    "Photo",
    "Rider",
    "RiderInvite",
    "RiderStatus",
    "Building",
    "BuildingCode",
    "Category",
    "Community",
    "Department",
    "Grid",
    "OutboxMessage",
    "OutboxState",
    "SubscriptionQuota",
    "Person",
    "Responsibility",
    "Role",
    "StaffAssignment",
    "Street",
    "IdempotencyRecord",
    "MeToo",
    "OPEN_STATUSES",
    "Ticket",
    "TicketCounter",
    "TicketEvent",
    "TicketKind",
    "TicketStatus",
    "Unit",
    "new_id",
    "utcnow",
]
