"""trusted runs shared by the workers of a deployment

Revision ID: 0007_trusted_runs
Revises: 0006_operations
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_trusted_runs'
down_revision = '0006_operations'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('trusted_runs',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('worker', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )


def downgrade() -> None:
    op.drop_table('trusted_runs')
