"""Log in once: the saved session, and the one "on 401 log in again and retry" policy.

The session cookie is kept in the user's state directory (`$XDG_STATE_HOME/cpumon/sessions`,
else `~/.local/state/cpumon/sessions`), one file per API URL and user, mode 0600 in a 0700
directory: whoever reads it is logged in as that user until the session expires. `runs`,
`show`, `export` and later `cpumon` starts reuse it; `cpumon logout` ends it on the server
and deletes the file.

`LoginAgain` is an `httpx.Auth` flow (httpx's pattern for auth that needs a round trip): a
request answered 401 gets one login and is sent again with the new cookie. Every caller
(monitor, uploader, review commands) uses it through `ApiClient`, so none repeats the rule.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Generator
from pathlib import Path

import httpx
import platformdirs

from cpumon.spool import private_dir, write_atomically
from cpumon.wire import LOGIN_PATH, LOGOUT_PATH

_KEPT_HEADERS = frozenset({"user-agent", "accept-encoding"})  # what a login sent in a request's place carries over
log = logging.getLogger(__name__)


def sessions_dir() -> Path:
    return Path(platformdirs.user_state_dir("cpumon", appauthor=False)) / "sessions"


class SessionFile:
    """The saved session cookie of one API URL and user."""

    def __init__(self, api_url: str, username: str, directory: Path | None = None) -> None:
        self.api_url = api_url
        self.username = username
        key = hashlib.sha256(f"{api_url}\0{username}".encode()).hexdigest()[:32]
        self.path = (directory or sessions_dir()) / f"{key}.json"

    def load(self, now: float | None = None) -> dict[str, str]:
        """The saved cookies, name -> value; empty if none, expired, damaged or another URL's/user's."""
        try:
            body = json.loads(self.path.read_bytes())
            if body["api_url"] != self.api_url or body["username"] != self.username:
                return {}
            expires = body.get("expires")
            if expires is not None and float(expires) <= (time.time() if now is None else now):
                return {}
            return {str(name): str(value) for name, value in body["cookies"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return {}

    def save(self, cookies: httpx.Cookies) -> None:
        """Keep the cookies a login set (failing to is a warning in the log, not an error: the login worked)."""
        values = {cookie.name: cookie.value or "" for cookie in cookies.jar}
        expiries = [cookie.expires for cookie in cookies.jar if cookie.expires is not None]
        body = {
            "api_url": self.api_url,
            "username": self.username,
            "cookies": values,
            "expires": min(expiries) if expiries else None,
        }
        try:
            private_dir(self.path.parent)
            write_atomically(self.path, json.dumps(body).encode())
        except OSError as exc:
            log.warning("could not save the session in %s: %s", self.path, exc.strerror or exc)

    def delete(self) -> bool:
        """Forget the session; True if there was one."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True


class LoginAgain(httpx.Auth):
    """On a 401, log in (asking again for a typed password the API refused) and send the request once more.

    `login_body` answers the login request's JSON, or None when no password can be had: the 401
    then stands. `logged_in` gets the cookies of a login that worked. The request that comes back
    to the caller is the retried one, or the refused login's answer (its 401, 429 or 5xx).
    """

    def __init__(
        self,
        login_url: str,
        login_body: Callable[[], dict[str, str] | None],
        *,
        refused: Callable[[], bool],
        logged_in: Callable[[httpx.Cookies], None],
        forget: Callable[[], None],
    ) -> None:
        self._login_url = login_url
        self._login_body = login_body
        self._refused = refused
        self._logged_in = logged_in
        self._forget = forget
        # After a refused login, later 401s stand: a retry loop must not become a login storm (and
        # an attempt counted against the API's login throttle each time). `ApiClient.login` resets it.
        self.gave_up = False

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        response = yield request
        if response.status_code != 401 or self.gave_up or request.url.path.endswith((LOGIN_PATH, LOGOUT_PATH)):
            return
        self._forget()  # the cookie the API refused: never sent again, nor kept on disk
        while True:
            body = self._login_body()
            if body is None:
                return
            login = yield httpx.Request(
                "POST",
                self._login_url,
                json=body,
                headers={key: value for key, value in request.headers.items() if key in _KEPT_HEADERS},
                # The request's own timeouts: a request built here has none, and would wait for ever.
                extensions={key: value for key, value in request.extensions.items() if key == "timeout"},
            )
            if login.status_code == 401 and self._refused():
                continue
            if login.status_code >= 300:
                self.gave_up = login.status_code == 401
                return
            break
        cookies = httpx.Cookies()
        cookies.extract_cookies(login)
        self._logged_in(cookies)
        # The request was built with the old cookie: it goes again with the new one only.
        request.headers.pop("Cookie", None)
        cookies.set_cookie_header(request)
        yield request
