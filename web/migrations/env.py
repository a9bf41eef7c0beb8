"""Alembic environment: the URL comes from the caller (web.db.upgrade) or the portal settings."""

from alembic import context

from web.db import Base, make_engine
from web import models  # noqa: F401  (registers the tables on Base.metadata)

config = context.config
url = config.attributes.get("dlgrade_url")
schema = config.attributes.get("dlgrade_schema", "")
if not url:
    from web.config import Settings

    settings = Settings.load()
    url, schema = settings.DATABASE_URL, settings.DATABASE_SCHEMA


def run_migrations_online() -> None:
    engine = make_engine(url, schema)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=url.startswith("sqlite"),
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
