"""figures

tickets: ix_tickets_figures_street (street_id, created_at), covering on PostgreSQL the columns
the figures read (webapp.figures.compute), so that the figures of a street, or of a community
or grid in it, over a period are one index-only range scan.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 10:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# As webapp.tickets.models.FIGURES_INCLUDE when this migration was written (a migration does
# not import the models: they move on).
INCLUDE = [
    "kind", "status", "category_id", "community_id", "grid_id", "building_id", "accepted_at",
    "accept_due_at", "resolved_at", "resolve_due_at", "closed_at", "rating", "reopen_count",
]


def upgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index(
            'ix_tickets_figures_street', ['street_id', 'created_at'], unique=False,
            postgresql_include=INCLUDE,
        )


def downgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_figures_street')
