"""operations: progress names a part, never a test; workers announce themselves

Revision ID: 0006_operations
Revises: 0001
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_operations'
down_revision = '0005_similarity'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('submissions') as batch:
        batch.alter_column('progress_test', new_column_name='progress_part',
                           existing_type=sa.String(length=300), type_=sa.String(length=100),
                           existing_nullable=False)
    op.execute("UPDATE submissions SET progress_part = ''")  # old rows may hold test names
    with op.batch_alter_table('submissions') as batch:
        batch.drop_column('sweeps')  # the portal's own sweep is gone: autograder/worker/sweeper.py is the one
    op.create_table('workers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('queues', sa.Text(), nullable=False),
    sa.Column('gpus', sa.Text(), nullable=False),
    sa.Column('engine_version', sa.String(length=40), nullable=False),
    sa.Column('concurrency', sa.Integer(), nullable=False),
    sa.Column('running', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('first_seen_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('stopped_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('workers')
    with op.batch_alter_table('submissions') as batch:
        batch.add_column(sa.Column('sweeps', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('submissions') as batch:
        batch.alter_column('progress_part', new_column_name='progress_test',
                           existing_type=sa.String(length=100), type_=sa.String(length=300),
                           existing_nullable=False)
