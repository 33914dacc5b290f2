"""The dashboard's ClickHouse reads on both backends, a database of their own per test."""

from __future__ import annotations

import uuid

import pytest

from vigil_app.settings import ClickHouseSettings, VigilSettings


@pytest.fixture(params=["chdb", "server"])
def ch_settings(request: pytest.FixtureRequest, settings: VigilSettings) -> VigilSettings:
    url = ""
    if request.param == "server":
        url = request.getfixturevalue("clickhouse_server").url
    db = f"t_{uuid.uuid4().hex[:10]}"
    return settings.model_copy(update={"clickhouse": ClickHouseSettings(url=url, database=db)})
