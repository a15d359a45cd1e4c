"""A small Kafka Connect REST client. No network call happens until a method is called.

Errors name the URL and carry Connect's own message (its error bodies are JSON `{error_code, message}`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aladia_etl.core.errors import AladiaError, ConfigError, ServiceUnavailable


class ConnectError(AladiaError):
    def __init__(
        self, reason: str, fix: str | None = None, *, status: int | None = None, detail: str | None = None
    ) -> None:
        super().__init__(reason, fix, detail=detail)
        self.status = status


class ConnectClient:
    def __init__(
        self,
        url: str,
        timeout: float = 10.0,
        session=None,
        display_url: str | None = None,
        http: dict[str, Any] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.display_url = (display_url or url).rstrip("/")  # what messages show (credentials masked)
        self.timeout = timeout
        self._session = session
        self.http = http or {}  # requests' `auth` and `verify` (ConnectSettings.http)

    @property
    def session(self):
        if self._session is None:
            import requests

            self._session = requests.Session()
            self._session.headers.update({"Accept": "application/json", "Content-Type": "application/json"})
            if "auth" in self.http:
                self._session.auth = self.http["auth"]
            if "verify" in self.http:
                self._session.verify = self.http["verify"]
        return self._session

    def _request(
        self, method: str, path: str, *, json: Any = None, params: dict | None = None, ok_missing: bool = False
    ) -> Any:
        import requests

        target = f"{self.url}{path}"
        try:
            response = self.session.request(method, target, json=json, params=params, timeout=self.timeout)
        except requests.exceptions.SSLError as exc:
            raise ConfigError(
                f"the certificate of Kafka Connect at {self.display_url} is not trusted ({_ssl_reason(str(exc))})",
                "set ALADIA_CONNECT__CA_FILE to the CA that signed the worker's certificate",
            ) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            kind = "timed out" if isinstance(exc, requests.Timeout) else "is not reachable"
            raise ServiceUnavailable(
                f"Kafka Connect {kind} at {self.display_url}",
                "start it with 'aladia up' or set ALADIA_CONNECT__URL",
            ) from None
        if response.status_code in (401, 403):
            raise ConfigError(
                f"Kafka Connect at {self.display_url} refused aladia's credentials ({response.status_code})",
                "check ALADIA_CONNECT__USERNAME and ALADIA_CONNECT__PASSWORD (or ALADIA_CONNECT__PASSWORD_FILE)",
            )
        if ok_missing and response.status_code == 404:
            return None
        if response.status_code >= 400:
            message = _error_message(response)
            raise ConnectError(
                f"Kafka Connect at {self.display_url} answered {response.status_code} to {method} {path}: {message}",
                _fix_for(response.status_code),
                status=response.status_code,
            )
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    # -- plugins ----------------------------------------------------------------------------------------
    def plugins(self) -> list[dict]:
        return self._request("GET", "/connector-plugins")

    def validate(self, connector_class: str, config: dict[str, str]) -> dict:
        name = quote(connector_class.rsplit(".", 1)[-1], safe="")
        return self._request("PUT", f"/connector-plugins/{name}/config/validate", json=config)

    # -- connectors -------------------------------------------------------------------------------------
    def connectors(self) -> list[str]:
        return self._request("GET", "/connectors")

    def connectors_with_status(self) -> dict[str, dict]:
        data = self._request("GET", "/connectors", params={"expand": "status"})
        return {name: entry.get("status", {}) for name, entry in (data or {}).items()}

    def config(self, name: str) -> dict[str, str] | None:
        return self._request("GET", f"/connectors/{quote(name, safe='')}/config", ok_missing=True)

    def put_config(self, name: str, config: dict[str, str]) -> dict:
        return self._request("PUT", f"/connectors/{quote(name, safe='')}/config", json=config)

    def status(self, name: str) -> dict | None:
        return self._request("GET", f"/connectors/{quote(name, safe='')}/status", ok_missing=True)

    def pause(self, name: str) -> None:
        self._request("PUT", f"/connectors/{quote(name, safe='')}/pause")

    def resume(self, name: str) -> None:
        self._request("PUT", f"/connectors/{quote(name, safe='')}/resume")

    def restart(self, name: str, include_tasks: bool = False, only_failed: bool = False) -> Any:
        params = {"includeTasks": str(include_tasks).lower(), "onlyFailed": str(only_failed).lower()}
        return self._request("POST", f"/connectors/{quote(name, safe='')}/restart", params=params)

    def delete(self, name: str) -> None:
        self._request("DELETE", f"/connectors/{quote(name, safe='')}")

    def stop(self, name: str) -> None:
        """Stop the connector and its tasks (the state that allows its offsets to be reset)."""
        self._request("PUT", f"/connectors/{quote(name, safe='')}/stop")

    def reset_offsets(self, name: str) -> Any:
        """Forget the connector's stored source offsets (KIP-875); the connector must be STOPPED."""
        return self._request("DELETE", f"/connectors/{quote(name, safe='')}/offsets")

    def root(self) -> dict:
        return self._request("GET", "/")


def _error_message(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return (response.text or response.reason or "").strip().splitlines()[0][:300] if response.text else ""
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"]).strip().splitlines()[0]
    return str(body)[:300]


def _fix_for(status: int) -> str:
    if status == 404:
        return "check the connector name with 'aladia cdc list'"
    if status == 409:
        return "Connect is rebalancing; run the command again in a few seconds"
    if status >= 500:
        return "see the Connect worker's log ('aladia status' shows where it is)"
    return "fix the request (see Connect's message above)"


def _ssl_reason(text: str) -> str:
    lowered = text.lower()
    for reason in ("certificate has expired", "self-signed certificate", "unable to get local issuer certificate"):
        if reason in lowered:
            return reason
    return "hostname mismatch" if "mismatch" in lowered or "doesn't match" in lowered else "certificate verify failed"
