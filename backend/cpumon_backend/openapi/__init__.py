"""The OpenAPI contract and its docs pages: config, the finishing pass over the document, Swagger UI."""

from cpumon_backend.openapi.config import create_openapi_config

__all__ = ["create_openapi_config"]
