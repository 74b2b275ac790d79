"""The application factory: one place where settings, database, sessions and routes meet."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Litestar
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.middleware.session.base import SessionMiddleware
from litestar.middleware.session.server_side import ServerSideSessionConfig
from litestar.static_files import create_static_files_router
from litestar.stores.base import Store
from litestar.stores.redis import RedisStore
from litestar.template import TemplateConfig
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import async_sessionmaker

from backend.allow import correct_allow_header
from backend.auth.controllers import AuthController
from backend.auth.models import SessionRecord
from backend.auth.passwords import hash_password
from backend.auth.sessions import (
    DatabaseSessionBackend,
    StoreSessionBackend,
    _FixedLifetimeSessions,
    purge_periodically,
)
from backend.auth.throttle import DatabaseFailureCounter, FailureCounter, LoginThrottle, RedisFailureCounter
from backend.db import create_alchemy_config, create_engine
from backend.deadline import DeadlineMiddleware
from backend.errors import EXCEPTION_HANDLERS
from backend.health import health, ready
from backend.live.controllers import LiveController
from backend.live.feed import LiveHub
from backend.openapi import create_openapi_config
from backend.runs.controllers import TestRunController
from backend.runs.providers import RunsServices
from backend.settings import ServerSettings
from backend.web.assets import STATIC_DIR, STATIC_PATH, TEMPLATES_DIR
from backend.web.controllers import DashboardController
from backend.web.security import SameOriginWritesMiddleware

SESSION_STORE = "sessions"


def create_app(settings: ServerSettings | None = None) -> Litestar:
    """Build the API. With no argument, settings come from the environment (uvicorn's factory mode)."""
    settings = settings or ServerSettings()
    engine = create_engine(settings)
    ingest_engine = create_engine(settings, autocommit=True)  # its own pool: one-statement autocommit ingest
    export_engine = create_engine(settings, autocommit=True, pool_size=settings.export_max_concurrent)
    alchemy = create_alchemy_config(engine)
    session_config = ServerSideSessionConfig(
        key=settings.session_cookie_name,
        max_age=settings.session_lifetime,
        secure=settings.session_cookie_secure,
        httponly=True,
        samesite="lax",
        store=SESSION_STORE,
        exclude=["^/health$", "^/ready$", "^/schema", f"^{STATIC_PATH}/"],
    )
    stores: dict[str, Store] = {}
    backend: _FixedLifetimeSessions
    counter: FailureCounter
    live_hub = LiveHub(engine)
    on_shutdown: list[Callable[[], Awaitable[None]]] = [
        live_hub.close,
        engine.dispose,
        ingest_engine.dispose,
        export_engine.dispose,
    ]
    lifespan = []
    if settings.session_redis_url is not None:
        redis = Redis.from_url(settings.session_redis_url.get_secret_value(), socket_timeout=5)
        stores[SESSION_STORE] = RedisStore(redis, namespace=f"{settings.session_redis_prefix}:sessions")
        backend = StoreSessionBackend(config=session_config)
        counter = RedisFailureCounter(redis, prefix=f"{settings.session_redis_prefix}:")
        on_shutdown.append(redis.aclose)
    else:
        backend = DatabaseSessionBackend(config=session_config, alchemy_config=alchemy, model=SessionRecord)
        session_maker = async_sessionmaker(engine, expire_on_commit=False)
        counter = DatabaseFailureCounter(session_maker)
        lifespan.append(purge_periodically(session_maker))
    state = State(
        {
            "settings": settings,
            "live_hub": live_hub,
            "login_throttle": LoginThrottle(counter, settings.login_max_failures, settings.login_window),
            # Checked for unknown usernames, so they cost one bcrypt check like a known one.
            "dummy_password_hash": hash_password(secrets.token_urlsafe(16), settings.bcrypt_rounds),
            **RunsServices.create(ingest_engine, export_engine, settings).state(),
        }
    )
    return Litestar(
        route_handlers=[
            health,
            ready,
            AuthController,
            TestRunController,
            LiveController,
            DashboardController,
            create_static_files_router(STATIC_PATH, [STATIC_DIR], include_in_schema=False),
        ],
        template_config=TemplateConfig(directory=TEMPLATES_DIR, engine=JinjaTemplateEngine),
        plugins=[SQLAlchemyPlugin(config=alchemy)],
        middleware=[
            SameOriginWritesMiddleware(),
            DefineMiddleware(DeadlineMiddleware, seconds=settings.request_timeout),
            DefineMiddleware(SessionMiddleware, backend=backend),
        ],
        stores=stores,
        state=state,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=create_openapi_config(settings),
        before_send=[correct_allow_header],
        request_max_body_size=settings.max_body_bytes,
        on_shutdown=on_shutdown,
        lifespan=lifespan,
        debug=settings.debug,
    )
