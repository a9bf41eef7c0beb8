"""counting policy, student-marked final submission, Canvas ids

Revision ID: 0004_exports_and_counting
Revises: 0001
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0004_exports_and_counting'
down_revision = '0003_sessions_and_throttle'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('assignments', sa.Column('counting_policy', sa.String(length=20), nullable=False,
                                           server_default='last'))
    op.add_column('assignments', sa.Column('canvas_assignment_id', sa.String(length=40), nullable=False,
                                           server_default=''))
    op.add_column('memberships', sa.Column('canvas_user_id', sa.String(length=40), nullable=False,
                                           server_default=''))
    op.add_column('memberships', sa.Column('sis_login_id', sa.String(length=200), nullable=False,
                                           server_default=''))
    op.add_column('submissions', sa.Column('marked_final_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column('submissions', 'marked_final_at')
    op.drop_column('memberships', 'sis_login_id')
    op.drop_column('memberships', 'canvas_user_id')
    op.drop_column('assignments', 'canvas_assignment_id')
    op.drop_column('assignments', 'counting_policy')
