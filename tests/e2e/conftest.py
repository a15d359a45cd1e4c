"""End-to-end fixtures: the engine under test. Helpers live in `tests.e2e.helpers`."""

from __future__ import annotations

import pytest

ENGINES = ["spark", "beam"]


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param
