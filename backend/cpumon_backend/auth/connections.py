"""The one rule for database connections during a login, and the helpers that apply it.

A login needs up to three things that each want a pooled connection: the request's own session
(which looks the user up), the attempt counter and the session store. Were one held while waiting
for another, or across the ~0.2 s bcrypt check, a burst of logins could take every connection of
a full pool and wait on itself forever. So: whoever is about to wait (for bcrypt, for the counter,
for the session store) first hands the request's connection back to the pool. `hand_back` is that
step: it ends a read-only transaction with a commit (nothing is written, and with
`expire_on_commit` off the loaded user stays usable across the bcrypt check), and rolls back
anything else rather than commit a write on another code path's behalf.
"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_scoped_session


async def hand_back(db_session: AsyncSession | async_scoped_session[AsyncSession] | None) -> None:
    """End the session's transaction, which returns its connection to the pool (a no-op when it holds none)."""
    if db_session is None:
        return
    if db_session.new or db_session.dirty or db_session.deleted:
        await db_session.rollback()
        return
    try:
        await db_session.commit()
    except SQLAlchemyError:  # a failed transaction: nothing to keep
        await db_session.rollback()
