"""Settings of `aladia serve`: the health API's probes and thresholds, and the token that guards it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from aladia_etl.core.security import secrets_from_files


class HealthSettings(BaseModel):
    """The health API (`aladia serve`) and its probes."""

    # A running stream whose lag (records) is above this is unhealthy (503).
    max_lag: int = Field(100_000, ge=0, le=10**12)
    # Each probe's deadline (seconds): a component that does not answer in time is reported down.
    probe_timeout_s: float = Field(2.0, gt=0, le=60)
    # Results are reused this long (seconds), so a dashboard polling every second does not hammer the services.
    cache_s: float = Field(1.0, ge=0, le=60)
    # Freshness percentiles and the dashboard's charts cover this many recent seconds.
    window_s: int = Field(600, ge=60, le=86_400)

    @field_validator("probe_timeout_s", "cache_s")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number of seconds")
        return value


class ServeSettings(BaseModel):
    """`aladia serve`: the bearer token every endpoint but /health requires (required on a non-loopback host)."""

    token: SecretStr | None = None
    token_file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _files(cls, data: Any) -> Any:
        return secrets_from_files(data, ("token",))

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        token = value.get_secret_value()
        if len(token) < 16:
            raise ValueError("must be at least 16 characters (e.g. from 'openssl rand -hex 32')")
        if not all("!" <= char <= "~" for char in token):  # what an HTTP header carries unchanged
            raise ValueError("must be printable ASCII without spaces (e.g. from 'openssl rand -hex 32')")
        return value
