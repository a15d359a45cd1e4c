"""The Connect REST client's error mapping, with a fake transport mounted on a real requests.Session."""

from __future__ import annotations

import json

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.models import Response

from aladia_etl.cdc.client import ConnectClient, ConnectError
from aladia_etl.core.errors import ExitCode, ServiceUnavailable


class FakeTransport(BaseAdapter):
    def __init__(self, routes):
        super().__init__()
        self.routes = routes
        self.requests = []

    def send(self, request, **kwargs):
        self.requests.append(request)
        route = self.routes.get((request.method, request.path_url))
        if callable(route):  # an answer that changes from one request to the next
            route = route()
        if isinstance(route, Exception):
            raise route
        status, body = route if route else (404, {"error_code": 404, "message": "not found"})
        response = Response()
        response.status_code = status
        response._content = json.dumps(body).encode() if body is not None else b""
        response.headers["Content-Type"] = "application/json"
        response.url = request.url
        response.request = request
        return response

    def close(self):
        pass


def client_with(routes) -> tuple[ConnectClient, FakeTransport]:
    session = requests.Session()
    transport = FakeTransport(routes)
    session.mount("http://", transport)
    return ConnectClient("http://connect.test:8083", session=session), transport


def test_connect_message_is_shown_with_the_url():
    client, _ = client_with(
        {
            ("PUT", "/connectors/x/config"): (
                400,
                {"error_code": 400, "message": "Connector configuration is invalid and contains 1 error"},
            )
        }
    )
    with pytest.raises(ConnectError) as info:
        client.put_config("x", {})
    text = str(info.value)
    assert "http://connect.test:8083" in text
    assert "400" in text and "Connector configuration is invalid" in text
    assert info.value.status == 400


def test_server_error_points_at_the_worker_log():
    client, _ = client_with({("GET", "/connectors"): (500, {"error_code": 500, "message": "boom"})})
    with pytest.raises(ConnectError) as info:
        client.connectors()
    assert "boom" in str(info.value) and "log" in str(info.value)


def test_unreachable_is_service_unavailable():
    client, _ = client_with({("GET", "/connectors"): requests.ConnectionError("refused")})
    with pytest.raises(ServiceUnavailable) as info:
        client.connectors()
    assert str(info.value).startswith("Kafka Connect is not reachable at http://connect.test:8083")
    assert "ALADIA_CONNECT__URL" in str(info.value)
    assert info.value.exit_code == ExitCode.UNAVAILABLE


def test_missing_connector_status_is_none_not_an_error():
    client, _ = client_with({})
    assert client.status("ghost") is None
    assert client.config("ghost") is None


def test_restart_sends_the_flags():
    client, transport = client_with(
        {("POST", "/connectors/c/restart?includeTasks=true&onlyFailed=false"): (202, {"name": "c"})}
    )
    assert client.restart("c", include_tasks=True, only_failed=False) == {"name": "c"}
    assert transport.requests[0].method == "POST"


def test_validate_uses_the_short_class_name():
    client, transport = client_with(
        {("PUT", "/connector-plugins/PostgresConnector/config/validate"): (200, {"error_count": 0, "configs": []})}
    )
    assert client.validate("io.debezium.connector.postgresql.PostgresConnector", {"a": "b"})["error_count"] == 0
    assert json.loads(transport.requests[0].body) == {"a": "b"}


def test_retire_deletes_only_once_the_tasks_are_gone():
    """A connector deleted while its task still runs lets that task write to (or its consumer ask for) topics
    deleted next, and a broker that auto-creates brings them back: retire stops it and waits for its tasks."""
    from aladia_etl.cdc.service import retire

    answers = iter(
        [
            {"connector": {"state": "RUNNING"}, "tasks": [{"id": 0, "state": "RUNNING"}]},
            {"connector": {"state": "STOPPED"}, "tasks": [{"id": 0, "state": "RUNNING"}]},
            {"connector": {"state": "STOPPED"}, "tasks": []},
        ]
    )
    client, transport = client_with(
        {
            ("PUT", "/connectors/x/stop"): (202, None),
            ("GET", "/connectors/x/status"): lambda: (200, next(answers)),
            ("DELETE", "/connectors/x"): (204, None),
        }
    )
    retire(client, "x", timeout=10)
    calls = [(r.method, r.path_url) for r in transport.requests]
    assert calls == [("PUT", "/connectors/x/stop")] + [("GET", "/connectors/x/status")] * 3 + [
        ("DELETE", "/connectors/x")
    ]
