"""figures rollup

figures_daily: per Beijing day of creation x grid x category x kind, the sums of the figures'
counts over the settled tickets (webapp.figures.rollup); tickets.rolled_up marks the tickets
counted there, and ix_tickets_figures_live (street_id, created_at) WHERE rolled_up = false,
covering on PostgreSQL, reads the others (the live part). Existing tickets start not rolled up
(counted live, so every figure stays right); `flask figures rollup` rolls them up.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 15:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# As webapp.tickets.models.FIGURES_INCLUDE and LIVE_SQL when this migration was written.
INCLUDE = [
    "kind", "status", "category_id", "community_id", "grid_id", "building_id", "accepted_at",
    "accept_due_at", "resolved_at", "resolve_due_at", "closed_at", "rating", "reopen_count",
]
LIVE_SQL = "rolled_up = false"


def upgrade():
    op.create_table(
        'figures_daily',
        sa.Column('street_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('community_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('grid_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('category_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('kind', sa.Enum('report', 'wish', name='ticketkind', native_enum=False, length=10), nullable=False),
        sa.Column('tickets_in', sa.Integer(), nullable=False),
        sa.Column('accepted_on_time', sa.Integer(), nullable=False),
        sa.Column('due_for_acceptance', sa.Integer(), nullable=False),
        sa.Column('resolved_on_time', sa.Integer(), nullable=False),
        sa.Column('due_for_resolution', sa.Integer(), nullable=False),
        sa.Column('rated', sa.Integer(), nullable=False),
        sa.Column('satisfied', sa.Integer(), nullable=False),
        sa.Column('closed', sa.Integer(), nullable=False),
        sa.Column('hours_to_close', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('street_id', 'day', 'community_id', 'grid_id', 'category_id', 'kind'),
    )
    with op.batch_alter_table('figures_daily', schema=None) as batch_op:
        batch_op.create_index('ix_figures_daily_day', ['day'], unique=False)
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rolled_up', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index(
            'ix_tickets_figures_live', ['street_id', 'created_at'], unique=False,
            postgresql_include=INCLUDE, postgresql_where=sa.text(LIVE_SQL), sqlite_where=sa.text(LIVE_SQL),
        )


def downgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_figures_live')
        batch_op.drop_column('rolled_up')
    with op.batch_alter_table('figures_daily', schema=None) as batch_op:
        batch_op.drop_index('ix_figures_daily_day')
    op.drop_table('figures_daily')
