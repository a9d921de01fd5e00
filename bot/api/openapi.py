"""An OpenAPI 3.1 document built from the same declarations that register the routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    summary: str
    tag: str
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    auth: str | None
    query: tuple[tuple[str, str], ...]


class ApiSpec:
    def __init__(self, title: str, version: str) -> None:
        self.title = title
        self.version = version
        self.operations: list[Operation] = []

    def route(
        self,
        routes: web.RouteTableDef,
        method: str,
        path: str,
        *,
        summary: str,
        tag: str,
        prefix: str = "",
        body: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        auth: str | None = None,
        query: tuple[tuple[str, str], ...] = (),
    ) -> Callable[[Handler], Handler]:
        """Register the handler with aiohttp and describe it in the document."""

        def register(handler: Handler) -> Handler:
            routes.route(method, path)(handler)
            self.operations.append(
                Operation(method, prefix + path, summary, tag, body, response, auth, query)
            )
            return handler

        return register

    def section(
        self, routes: web.RouteTableDef, tag: str, prefix: str, auth: str | None = None
    ) -> Callable[..., Callable[[Handler], Handler]]:
        """A declarer for one module's routes: `api("GET", "/path", "summary", response=...)`."""

        def declare(
            method: str, path: str, summary: str, **kwargs: Any
        ) -> Callable[[Handler], Handler]:
            return self.route(
                routes, method, path, summary=summary, tag=tag, prefix=prefix, auth=auth, **kwargs
            )

        return declare

    def document(self) -> dict[str, Any]:
        schemas: dict[str, Any] = {}
        paths: dict[str, dict[str, Any]] = {}
        for op in self.operations:
            paths.setdefault(op.path, {})[op.method.lower()] = self._operation(op, schemas)
        return {
            "openapi": "3.1.0",
            "info": {"title": self.title, "version": self.version},
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {
                    "adminToken": {"type": "http", "scheme": "bearer"},
                    "visitorToken": {"type": "http", "scheme": "bearer"},
                },
            },
        }

    def _operation(self, op: Operation, schemas: dict[str, Any]) -> dict[str, Any]:
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _path_params(op.path)
        ] + [
            {"name": name, "in": "query", "required": False, "schema": {"type": kind}}
            for name, kind in op.query
        ]
        error = {"description": "error", "content": _json({"$ref": "#/components/schemas/Error"})}
        schemas.setdefault(
            "Error",
            {
                "type": "object",
                "properties": {"error": {"type": "string"}, "details": {}},
                "required": ["error"],
            },
        )
        ok: dict[str, Any] = {"description": "success"}
        if op.response is not None:
            ok["content"] = _json(_ref(op.response, schemas))
        document: dict[str, Any] = {
            "summary": op.summary,
            "tags": [op.tag],
            "operationId": f"{op.method.lower()}_{op.path.strip('/').replace('/', '_')}".replace(
                "{", ""
            ).replace("}", ""),
            "parameters": params,
            "responses": {"200": ok, "4XX": error},
        }
        if op.body is not None:
            document["requestBody"] = {"required": True, "content": _json(_ref(op.body, schemas))}
        if op.auth:
            document["security"] = [{op.auth: []}]
        return document


def _path_params(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _ref(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        schemas[name] = definition
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}
