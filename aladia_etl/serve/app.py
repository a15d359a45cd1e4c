"""The health API and dashboard (`aladia serve`): a small FastAPI app.

GET /health                the pipeline: 200 when healthy, 503 otherwise, each component's state
GET /health/{component}    one component (source_db, warehouse_db, kafka, connect, connector, replication_slot,
                           stream): 200, 503, or 404 with the list of components
GET /metrics               Prometheus exposition format
GET /api/overview          everything the dashboard shows, as JSON
GET /                      the live dashboard (one self-contained page)
GET /openapi.json, /docs   the API's description (FastAPI's)

Endpoints are plain functions: FastAPI runs them in its thread pool, where the probes may block (each with its
deadline)."""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from aladia_etl import __version__
from aladia_etl.core.secrets import mask, mask_data
from aladia_etl.flows.health import COMPONENTS, STATES, overall
from aladia_etl.serve import auth
from aladia_etl.serve.metrics import registry_for
from aladia_etl.serve.observe import Observer


class Component(BaseModel):
    component: str = Field(description=f"one of: {', '.join(COMPONENTS)}")
    state: str = Field(description=f"one of: {', '.join(STATES)}")
    healthy: bool = Field(description="false when this component makes the pipeline unhealthy (503)")
    detail: str
    address: str
    latency_ms: float | None = Field(None, description="how long the probe took")
    checked_at: str = Field(description="when the probe answered (UTC, ISO 8601)")
    extra: dict[str, Any] = {}


class Health(BaseModel):
    state: str = Field(description="ok, warning or unhealthy")
    healthy: bool
    unhealthy: list[str] = Field(description="the components that make the pipeline unhealthy")
    warnings: list[str]
    checked_at: str | None = None
    components: dict[str, Component]


class UnknownComponent(BaseModel):
    detail: str
    components: list[str]


def _component(state) -> dict[str, Any]:
    return jsonable_encoder(state.as_dict())


def _answer(body: Any, status_code: int = 200) -> JSONResponse:
    """Every JSON answer goes through the one masking function: nothing the API returns holds a secret."""
    return JSONResponse(mask_data(jsonable_encoder(body)), status_code=status_code)


def create_app(observer: Observer, token: str | None = None) -> FastAPI:
    """The app; with `token`, every endpoint but /health requires it (`serve.auth`)."""
    app = FastAPI(
        title="aladia health API",
        version=__version__,
        description="Health, metrics and a live dashboard of the aladia CDC pipeline "
        "(PostgreSQL → Debezium → Kafka → Spark/Beam → warehouse).",
    )
    auth.install(app, token)
    registry = registry_for(observer.snapshot)
    page = resources.files("aladia_etl.serve").joinpath("dashboard.html").read_text(encoding="utf-8")

    @app.get(
        "/health",
        response_model=Health,
        responses={503: {"model": Health, "description": "a component is down, failed, failing, retrying or lagging"}},
        summary="The pipeline's health",
    )
    def health(request: Request) -> JSONResponse:
        from datetime import UTC, datetime

        states = observer.health()
        components = {name: _component(s) for name, s in states.items()}
        if not auth.authenticated(request.headers.get("authorization"), token):
            # a liveness check without the token: the states, not the addresses, versions or errors behind them
            components = {name: {"state": c["state"], "healthy": c["healthy"]} for name, c in components.items()}
        body = {
            **overall(states),
            "checked_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "components": components,
        }
        return _answer(body, 200 if body["healthy"] else 503)

    @app.get(
        "/health/{component}",
        response_model=Component,
        responses={
            503: {"model": Component, "description": "the component is unhealthy"},
            404: {"model": UnknownComponent, "description": "no such component"},
        },
        summary="One component's health",
    )
    def component_health(component: str) -> JSONResponse:
        if component not in COMPONENTS:
            body = {"detail": f"unknown component {component!r}", "components": list(COMPONENTS)}
            return _answer(body, 404)
        state = observer.health((component,))[component]
        return _answer(_component(state), 200 if state.healthy else 503)

    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus exposition format"}},
        summary="Prometheus metrics",
    )
    def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(mask(generate_latest(registry).decode()), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/overview", summary="Everything the dashboard shows")
    def api_overview() -> JSONResponse:
        return _answer(observer.snapshot().overview())

    @app.get("/", response_class=HTMLResponse, summary="The live dashboard")
    def dashboard() -> HTMLResponse:
        return HTMLResponse(page)

    return app
