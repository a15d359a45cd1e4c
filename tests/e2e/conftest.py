"""End-to-end fixtures: the engine under test. Helpers live in `tests.e2e.helpers`."""

from __future__ import annotations

import pytest

ENGINES = ["spark", "beam"]


@pytest.fixture(scope="session", autouse=True)
def prism(stack_settings):
    """Beam's Prism runner, installed once (downloaded, or built with Go on a fresh machine: about 2-3 minutes)
    before the first end-to-end test, into the tests' shared artifact cache."""
    from aladia_etl.stack.prism import ensure_prism

    return ensure_prism(stack_settings)


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param
