"""Prometheus metrics: what a scraper reads from the web app and the worker, and who may."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, generate_latest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from incident import metrics, pipeline
from incident.db import make_engine
from incident.inbox import calendar_hours
from incident.pipeline import Ingestion
from incident.sources.fakes.vk_server import FakeVk
from incident.sources.vk import VkSource
from tests.conftest import FakeClock
from tests.test_process import GID
from tests.world import add_incident, make_app

TOKEN = "scraper-token-" + "x" * 20


def sample(text: str, name: str) -> float:
    """The value of the unlabelled sample ``name``."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in the metrics:\n{text}")


def test_the_web_app_serves_metrics_only_with_the_configured_bearer_token(
    engine: Engine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_incident(engine, clock(), "Магазин не вернул деньги", external_id="1")
    with TestClient(make_app(engine, clock)) as client:
        monkeypatch.delenv("INCIDENT_METRICS_TOKEN", raising=False)
        assert client.get("/metrics").status_code == 404  # no token configured: no route
        monkeypatch.setenv("INCIDENT_METRICS_TOKEN", TOKEN)
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer guess"})
        assert wrong.status_code == 401
        ok = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith("text/plain")
    assert sample(ok.text, "incident_database_up") == 1
    assert sample(ok.text, "incident_open_incidents") == 1
    assert 'incident_outbox_replies{status="pending"} 0.0' in ok.text
    assert "incident_comments_ingested_total" in ok.text  # the process's counters too


def test_a_sweep_counts_stored_comments_and_a_failed_one_its_error(
    engine: Engine, fake_vk: FakeVk, clock: FakeClock
) -> None:
    name = f"vk-metrics-{engine.dialect.name}"

    def counted(metric: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(metric, labels) or 0.0

    post = fake_vk.add_post(GID, "Пост")
    for n in range(3):
        fake_vk.add_comment(GID, post, 1001, f"Комментарий {n}")
    before = counted("incident_comments_ingested_total", source=name)
    errors_before = counted("incident_poll_errors_total", source=name, kind="permanent")
    with VkSource(
        name=name,
        group_id=GID,
        community_token="community-token",
        sweep_token="service-token",
        session_factory=fake_vk.session,
        throttle=False,
    ) as source:
        pipeline.sweep_once(engine, source, clock, Ingestion(deadline=calendar_hours(8)))
        fake_vk.revoke_token("service-token")
        pipeline.sweep_once(engine, source, clock, Ingestion(deadline=calendar_hours(8)))
    assert counted("incident_comments_ingested_total", source=name) == before + 3
    assert counted("incident_poll_errors_total", source=name, kind="permanent") == errors_before + 1


def test_a_scrape_without_the_database_says_so_instead_of_failing() -> None:
    nowhere = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none")
    try:
        text = generate_latest(metrics.registry_with_database(nowhere)).decode()
    finally:
        nowhere.dispose()
    assert sample(text, "incident_database_up") == 0
    assert "incident_open_incidents" not in text
