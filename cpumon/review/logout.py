"""`cpumon logout`: end the saved session on the server and delete it here."""

from __future__ import annotations

import argparse
import asyncio

from rich.console import Console

from cpumon.api import ApiClient, ApiError
from cpumon.commands import WithoutArguments
from cpumon.credentials import Credentials
from cpumon.session import SessionFile
from cpumon.settings import AgentSettings


class LogoutCommand(WithoutArguments):
    name = "logout"
    help = "end the saved session of this API and user (the next command asks for the password again)"

    def run(self, args: argparse.Namespace, settings: AgentSettings, console: Console) -> int:
        credentials = Credentials(settings)
        credentials.may_prompt = False  # logging in to log out would make no sense
        session = SessionFile(settings.api_url, credentials.username)
        ended, problem = asyncio.run(_log_out(settings, credentials, session))
        who = f"{credentials.username} at {settings.api_url}"
        if not ended:
            console.print(f"no saved session for {who}", soft_wrap=True)
        elif problem is None:
            console.print(
                f"logged out {who}: the session is ended there and deleted here ({session.path})", soft_wrap=True
            )
        else:
            # Deleted here all the same: the file is what a later command would reuse.
            console.print(f"deleted the saved session of {who}; the API could not end it ({problem})", soft_wrap=True)
        return 0


async def _log_out(settings: AgentSettings, credentials: Credentials, session: SessionFile) -> tuple[bool, str | None]:
    api = ApiClient.for_settings(settings, credentials.username, credentials)
    try:
        had_one = api.has_saved_session
        try:
            await api.logout()
        except ApiError as exc:
            session.delete()
            return had_one, exc.message
        return had_one, None
    finally:
        await api.aclose()
