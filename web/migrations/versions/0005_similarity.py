"""similarity review: runs and pairs

Revision ID: 0005_similarity
Revises: 0001
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_similarity'
down_revision = '0004_exports_and_counting'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('similarity_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('include_earlier', sa.Boolean(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('worker', sa.String(length=200), nullable=False),
    sa.Column('progress_phase', sa.String(length=40), nullable=False),
    sa.Column('progress_done', sa.Integer(), nullable=False),
    sa.Column('progress_total', sa.Integer(), nullable=False),
    sa.Column('compared', sa.Integer(), nullable=False),
    sa.Column('total_pairs', sa.Integer(), nullable=False),
    sa.Column('cells', sa.Text(), nullable=False),
    sa.Column('sources', sa.Text(), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['assignment_id'], ['assignments.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('assignment_id', 'attempt')
    )
    with op.batch_alter_table('similarity_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_similarity_runs_assignment_id'), ['assignment_id'], unique=False)

    op.create_table('similarity_pairs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('a_submission_id', sa.Integer(), nullable=False),
    sa.Column('b_submission_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Double(), nullable=False),
    sa.Column('cells', sa.Text(), nullable=False),
    sa.Column('matches', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('reviewed_by_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['similarity_runs.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['a_submission_id'], ['submissions.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['b_submission_id'], ['submissions.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reviewed_by_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('similarity_pairs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_similarity_pairs_run_id'), ['run_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('similarity_pairs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_similarity_pairs_run_id'))
    op.drop_table('similarity_pairs')
    with op.batch_alter_table('similarity_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_similarity_runs_assignment_id'))
    op.drop_table('similarity_runs')
