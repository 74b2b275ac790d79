"""The application factory: one place where settings, database, sessions and routes meet."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Litestar
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.middleware.session.base import SessionMiddleware
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from cpumon_backend.auth.clock import Clock, system_clock
from cpumon_backend.auth.controllers import AuthController
from cpumon_backend.auth.passwords import Passwords
from cpumon_backend.auth.providers import auth_dependencies
from cpumon_backend.auth.storage import build_auth_storage
from cpumon_backend.events.controller import RunEventController
from cpumon_backend.health import check_at_startup, health, ready
from cpumon_backend.http.allow import correct_allow_header
from cpumon_backend.http.deadline import DeadlineMiddleware
from cpumon_backend.http.errors import EXCEPTION_HANDLERS
from cpumon_backend.http.head import answer_head_as_get
from cpumon_backend.http.query import refuse_repeated_parameters
from cpumon_backend.http.schema_gate import SchemaGate, SchemaGateMiddleware
from cpumon_backend.live.controllers import LiveController
from cpumon_backend.live.feed import LiveHub
from cpumon_backend.live.limits import stream_slots
from cpumon_backend.live.sessions import SessionWatch
from cpumon_backend.openapi import create_openapi_config
from cpumon_backend.runs.controllers import TestRunController
from cpumon_backend.runs.providers import RunsServices
from cpumon_backend.settings import ServerSettings
from cpumon_backend.storage.db import create_alchemy_config, create_engine
from cpumon_backend.web.assets import STATIC_DIR, STATIC_PATH, TEMPLATES_DIR, StaticFileSystem
from cpumon_backend.web.controllers import DashboardController, favicon
from cpumon_backend.web.security import SameOriginWritesMiddleware


def create_app(settings: ServerSettings | None = None, clock: Clock = system_clock) -> Litestar:
    """Build the API. With no argument, settings come from the environment (uvicorn's factory mode)."""
    settings = settings or ServerSettings()
    engine = create_engine(settings)
    # Its own pool, in autocommit: the one-statement ingest and the session read of every request.
    ingest_engine = create_engine(settings, autocommit=True)
    export_engine = create_engine(settings, autocommit=True, pool_size=settings.export_max_concurrent)
    alchemy = create_alchemy_config(engine)
    auth = build_auth_storage(settings, engine, ingest_engine, clock, extra_exclude=[f"^{STATIC_PATH}/"])
    live_hub = LiveHub(engine)
    live_sessions = SessionWatch(auth.sessions, engine, settings.live_session_check_interval)
    on_shutdown: list[Callable[[], Awaitable[None]]] = [
        live_hub.close,
        live_sessions.close,
        engine.dispose,
        ingest_engine.dispose,
        export_engine.dispose,
        *auth.on_shutdown,
    ]
    state = State(
        {
            "settings": settings,
            "live_hub": live_hub,
            "live_sessions": live_sessions,
            "live_slots": stream_slots(settings),
            **RunsServices.create(ingest_engine, export_engine, settings).state(),
        }
    )
    app = Litestar(
        route_handlers=[
            health,
            ready,
            AuthController,
            TestRunController,
            RunEventController,
            LiveController,
            DashboardController,
            favicon,
            create_static_files_router(
                STATIC_PATH, [STATIC_DIR], file_system=StaticFileSystem(), include_in_schema=False
            ),
        ],
        template_config=TemplateConfig(directory=TEMPLATES_DIR, engine=JinjaTemplateEngine),
        plugins=[SQLAlchemyPlugin(config=alchemy)],
        middleware=[
            SameOriginWritesMiddleware(),
            SchemaGateMiddleware(SchemaGate(engine)),
            DefineMiddleware(DeadlineMiddleware, seconds=settings.request_timeout),
            DefineMiddleware(SessionMiddleware, backend=auth.sessions),
        ],
        dependencies=auth_dependencies(auth.throttle, Passwords(settings.bcrypt_rounds, clock)),
        state=state,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=create_openapi_config(settings),
        before_send=[correct_allow_header],
        before_request=refuse_repeated_parameters,
        request_max_body_size=settings.max_body_bytes,
        on_startup=[check_at_startup(engine)],
        on_shutdown=on_shutdown,
        lifespan=auth.lifespan,
        debug=settings.debug,
    )
    answer_head_as_get(app)
    return app
