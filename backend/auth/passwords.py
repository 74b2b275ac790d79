"""bcrypt hashing, run off the event loop (one check costs ~0.2 s of CPU at the default cost)."""

from __future__ import annotations

import asyncio

import bcrypt

#: bcrypt only reads the first 72 bytes; longer passwords are refused rather than silently truncated.
MAX_PASSWORD_BYTES = 72


class PasswordTooLongError(ValueError):
    def __init__(self) -> None:
        super().__init__(f"password is longer than {MAX_PASSWORD_BYTES} bytes (bcrypt's limit)")


def hash_password(password: str, rounds: int) -> str:
    encoded = password.encode()
    if len(encoded) > MAX_PASSWORD_BYTES:
        raise PasswordTooLongError
    return bcrypt.hashpw(encoded, bcrypt.gensalt(rounds=rounds)).decode()


def _check(password: str, password_hash: str) -> bool:
    encoded = password.encode()
    # Still pay for one bcrypt check on an over-long password, so the answer takes as long as any other.
    matches = bcrypt.checkpw(encoded[:MAX_PASSWORD_BYTES], password_hash.encode())
    return matches and len(encoded) <= MAX_PASSWORD_BYTES


async def verify_password(password: str, password_hash: str) -> bool:
    return await asyncio.to_thread(_check, password, password_hash)
