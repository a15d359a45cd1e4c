"""The health API's token: /health stays open (liveness checks), everything else needs the token as a bearer token
or as basic auth's password; a wrong or missing one is 401 with a challenge. `aladia serve` refuses a non-loopback
address without a token, and serves HTTPS with a certificate a client verifies against its CA."""

from __future__ import annotations

import base64
import socket

import pytest
import requests
from fastapi.testclient import TestClient

from aladia_etl.core.errors import ConfigError, ExitCode
from aladia_etl.serve import auth
from aladia_etl.serve.app import create_app
from aladia_etl.serve.server import check_exposure
from aladia_etl.stack import tls
from tests.unit.serve import fakes
from tests.unit.serve.test_serve_cli import closed_env, free_port, start

TOKEN = "s3cret-token-0123456789"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def guarded(tmp_path):
    return TestClient(create_app(fakes.observer(fakes.settings(tmp_path), fakes.World()), token=TOKEN))


@pytest.mark.parametrize("path", ["/metrics", "/health/kafka", "/dashboard", "/api/snapshot", "/docs"])
def test_every_endpoint_but_health_needs_the_token(guarded, path):
    answer = guarded.get(path)
    assert answer.status_code == 401
    assert "Bearer" in answer.headers["www-authenticate"] and "Basic" in answer.headers["www-authenticate"]
    assert TOKEN not in answer.text


def test_health_stays_open_for_liveness_checks(guarded):
    assert guarded.get("/health").status_code in (200, 503)


@pytest.mark.parametrize(
    "header",
    [f"Bearer {TOKEN}", f"bearer  {TOKEN} ", basic("anyone", TOKEN), basic("", TOKEN)],
)
def test_the_token_as_bearer_or_as_basic_password_opens_it(guarded, header):
    assert guarded.get("/metrics", headers={"Authorization": header}).status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "Bearer wrong-token-0123456789",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        "Bearer ",
        basic(TOKEN, "wrong"),  # the token as the user name is not the password
        "Basic not-base64!!",
        f"Token {TOKEN}",
        TOKEN,
    ],
)
def test_a_wrong_or_malformed_token_is_refused(guarded, header):
    assert guarded.get("/metrics", headers={"Authorization": header}).status_code == 401


def test_without_a_token_nothing_is_guarded(tmp_path):
    client = TestClient(create_app(fakes.observer(fakes.settings(tmp_path), fakes.World())))
    assert client.get("/metrics").status_code == 200
    assert auth.authorized("/metrics", None, None)


def listening(host: str) -> socket.socket:
    sock = socket.socket()
    sock.bind((host, 0))
    sock.listen(1)
    return sock


def test_a_non_loopback_address_without_a_token_is_refused():
    with listening("0.0.0.0") as sock:
        with pytest.raises(ConfigError) as caught:
            check_exposure(sock, "0.0.0.0", None, insecure=False)
        assert "ALADIA_SERVE__TOKEN" in caught.value.fix
        check_exposure(sock, "0.0.0.0", TOKEN, insecure=False)
        check_exposure(sock, "0.0.0.0", None, insecure=True)
    with listening("127.0.0.1") as sock:
        check_exposure(sock, "127.0.0.1", None, insecure=False)


def test_serve_on_all_interfaces_without_a_token_exits_3_before_serving(tmp_path):
    proc = start(["--host", "0.0.0.0", "--port", str(free_port())], closed_env(tmp_path))
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.CONFIG, stderr
    assert "without a token" in stderr and "Traceback" not in stderr


def test_https_with_a_token_end_to_end(tmp_path):
    ca = tls.new_ca()
    server = tls.issue(ca, "127.0.0.1", "aladia serve")
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    (tmp_path / "serve.pem").write_bytes(server.cert_pem)
    (tmp_path / "serve.key").write_bytes(server.key_pem)
    port = free_port()
    env = {**closed_env(tmp_path), "ALADIA_SERVE__TOKEN": TOKEN}
    args = ["--port", str(port), "--certfile", str(tmp_path / "serve.pem"), "--keyfile", str(tmp_path / "serve.key")]
    proc = start(args, env)
    url = f"https://127.0.0.1:{port}"
    try:
        import time

        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                health = requests.get(f"{url}/health", verify=str(tmp_path / "ca.pem"), timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "aladia serve did not answer over HTTPS"
                time.sleep(0.1)
        assert health.status_code == 503  # every service is down: still answered, over TLS
        assert requests.get(f"{url}/metrics", verify=str(tmp_path / "ca.pem"), timeout=5).status_code == 401
        good = requests.get(
            f"{url}/metrics", verify=str(tmp_path / "ca.pem"), timeout=5, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert good.status_code == 200 and "aladia" in good.text
        with pytest.raises(requests.exceptions.SSLError):  # a client that does not trust the CA is refused
            requests.get(f"{url}/health", timeout=5)
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert TOKEN not in stderr


def test_health_without_the_token_gives_states_but_no_details(guarded):
    bare = guarded.get("/health").json()
    full = guarded.get("/health", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert bare["state"] == full["state"] and bare["unhealthy"] == full["unhealthy"]
    assert set(bare["components"]) == set(full["components"])
    for name, component in bare["components"].items():
        assert component == {"state": full["components"][name]["state"], "healthy": full["components"][name]["healthy"]}
    assert any("address" in c for c in full["components"].values())
