"""early gate: a gate that ran on another queue than the package's own is kept apart

Revision ID: 0008_early_gate
Revises: 0007_trusted_runs
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0008_early_gate'
down_revision = '0007_trusted_runs'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('assignments') as batch:
        batch.add_column(sa.Column('early_gate_queue', sa.String(length=40), nullable=False, server_default=''))
        batch.add_column(sa.Column('early_gate_passed', sa.Boolean(), nullable=True))
        batch.add_column(sa.Column('early_gate_report', sa.Text(), nullable=True))
        batch.add_column(sa.Column('early_gate_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('assignments') as batch:
        for column in ('early_gate_at', 'early_gate_report', 'early_gate_passed', 'early_gate_queue'):
            batch.drop_column(column)
