"""the release comes from the gate: no release built by the portal waits for a gate any more

Revision ID: 0002_release_from_gate
Revises: 0001
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_release_from_gate'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('assignments') as batch_op:
        batch_op.drop_column('pending_release_sha256')


def downgrade() -> None:
    with op.batch_alter_table('assignments') as batch_op:
        batch_op.add_column(sa.Column('pending_release_sha256', sa.String(length=64), nullable=False,
                                      server_default=''))
