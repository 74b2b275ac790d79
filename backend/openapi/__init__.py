"""The OpenAPI contract and its docs pages: config, the finishing pass over the document, Swagger UI."""

from backend.openapi.config import create_openapi_config
from backend.openapi.docs import home

__all__ = ["create_openapi_config", "home"]
