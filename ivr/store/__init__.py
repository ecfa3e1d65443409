"""The database: SQLite by default, PostgreSQL in production; SQLAlchemy Core on asyncio drivers."""
