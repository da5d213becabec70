"""/docs works with no network (their assets are the app's own); /metrics answers 200 directly."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from cloud.runtime import CloudRuntime

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


def offline_page(browser: Any, base_url: str) -> tuple[Any, list[str]]:
    """A desktop page that may reach only the app: every other request is aborted and noted."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    outside: list[str] = []
    own = urlsplit(base_url).netloc

    def only_ours(route: Any) -> None:
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_ours)
    return context.new_page(), outside


def test_swagger_ui_renders_offline(cloud_runtime: CloudRuntime, browser: Any) -> None:
    page, outside = offline_page(browser, cloud_runtime.url)
    try:
        page.goto(f"{cloud_runtime.url}/docs")
        page.wait_for_selector(".swagger-ui .opblock-summary-path", timeout=20_000)
        assert page.locator(".swagger-ui .opblock").count() > 20  # every operation listed
        assert page.locator(".swagger-ui .info .title").inner_text().startswith("vendfleet cloud")
        assert outside == []
    finally:
        page.context.close()


def test_metrics_answers_200_without_a_redirect(cloud_runtime: CloudRuntime) -> None:
    answer = httpx.get(f"{cloud_runtime.url}/metrics", follow_redirects=False, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert "vendfleet_alarms_open" in answer.text
