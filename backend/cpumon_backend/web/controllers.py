"""The dashboard's pages. Each is a template that links the built script; the script reads the API.

Logged out, `/` is the login page and every other page leads there. A run of another user is the
same "not found" page as a run that does not exist.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

from advanced_alchemy.exceptions import NotFoundError
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_404_NOT_FOUND, HTTP_503_SERVICE_UNAVAILABLE

from cpumon_backend.auth.guards import session_user
from cpumon_backend.runs.providers import provide_query_service
from cpumon_backend.runs.queries import RunQueryService
from cpumon_backend.web.assets import AssetsMissingError, page_assets
from cpumon_backend.web.security import PAGE_HEADERS

MAX_COMPARED = 5

#: The pages' icon: a small SVG of our own, read once (no third-party file, nothing fetched).
FAVICON = (Path(__file__).resolve().parent / "favicon.svg").read_bytes()
FAVICON_HEADERS = {
    "Cache-Control": "public, max-age=86400",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'",  # opened on its own, the image can do nothing
}


def render(request: Request[Any, Any, Any], page: str, status_code: int = 200, **context: Any) -> Response[Any]:
    try:
        assets = page_assets()
    except AssetsMissingError as exc:
        return Response(str(exc), media_type="text/plain", status_code=HTTP_503_SERVICE_UNAVAILABLE)
    user = session_user(request)
    return Template(
        template_name=f"{page}.html.j2",
        context={"page": page, "assets": assets, "username": user.username if user else None, **context},
        status_code=status_code,
        headers=PAGE_HEADERS,
    )


class DashboardController(Controller):
    path = "/"
    include_in_schema = False
    dependencies = {"queries": Provide(provide_query_service)}  # noqa: RUF012 - read by Litestar

    @get("/")
    async def home(self, request: Request[Any, Any, Any]) -> Response[Any]:
        if session_user(request) is None:
            return render(request, "login", title="Log in")
        return render(request, "runs", title="Runs")

    @get("/runs/{run_id:str}")
    async def run_page(
        self, request: Request[Any, Any, Any], run_id: FromPath[str], queries: NamedDependency[RunQueryService]
    ) -> Response[Any]:
        user = session_user(request)
        if user is None:
            return Redirect("/")
        try:
            run = await queries.owned(uuid.UUID(run_id), user.id)
        except (ValueError, NotFoundError):
            return render(request, "not_found", title="Not found", status_code=HTTP_404_NOT_FOUND)
        return render(request, "run", title=run.name, run_id=str(run.id), run_name=run.name)

    @get("/compare")
    async def compare_page(
        self,
        request: Request[Any, Any, Any],
        run: Annotated[list[str] | None, QueryParameter(name="run")] = None,
    ) -> Response[Any]:
        if session_user(request) is None:
            return Redirect("/")
        return render(request, "compare", title="Compare runs", run_ids=(run or [])[:MAX_COMPARED])


@get(["/favicon.svg", "/favicon.ico"], include_in_schema=False, opt={"skip_session": True})
async def favicon() -> Response[bytes]:
    """The icon the pages link, also where browsers look without a link (/favicon.ico)."""
    return Response(FAVICON, media_type="image/svg+xml", headers=FAVICON_HEADERS)
