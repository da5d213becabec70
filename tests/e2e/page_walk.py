"""What the page walks (test_pages_zh.py, test_pages_en.py) share: finding the other language on a page,
a desktop browser, signing staff in, every kind of alarm, the staff pages' walk."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select

from cloud.db.models import Cabinet
from cloud.domain import alarms
from cloud.runtime import CloudRuntime

DESKTOP = {"viewport": {"width": 1280, "height": 900}, "locale": "zh-CN"}

# Visible text nodes (SVG too) and the attributes a person reads, in the script a page must not show.
FIND_FOREIGN = (Path(__file__).parent / "find_foreign.js").read_text()

# An ECharts chart in the element with data in its first series, and a legend.
CHARTED = """(selector) => {
  const element = document.querySelector(selector);
  const chart = element && echarts.getInstanceByDom(element);
  const option = chart && chart.getOption();
  return Boolean(option && option.legend.length && option.series[0].data.length);
}"""


@contextmanager
def desktop(browser: Any, locale: str = "zh-CN") -> Iterator[Any]:
    context = browser.new_context(**{**DESKTOP, "locale": locale})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert errors == []  # no script failed on any page


def sign_in_staff(page: Any, name: str, password: str) -> None:
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("#login")
    page.wait_for_selector("#staff-signin", state="hidden")


def raise_every_other_kind(runtime: CloudRuntime) -> None:
    """Alarms the simulator does not produce in a short test, with the params the cloud gives them."""
    assert runtime.context is not None
    with runtime.context.factory() as db:
        c3, c4, c5 = (db.scalar(select(Cabinet).where(Cabinet.code == f"XH-000{n}")) for n in (3, 4, 5))
        assert c3
        assert c4
        assert c5
        since = "2026-01-01T08:00:00Z"
        temp = {"temperature_c": 9.3, "max_c": 8.0, "since": since}
        alarms.raise_alarm(db, c3, "temperature_high", detail="warm", params=temp)
        alarms.raise_alarm(db, c3, "offline", detail="silent", params={"silence_s": 60})
        alarms.raise_alarm(db, c4, "offline", detail="will", params={"last_will": True})
        alarms.raise_alarm(
            db, c3, "low_stock", "1-0", detail="low", params={"sku": "coke-330", "count": 1, "capacity": 8}
        )
        alarms.raise_alarm(db, c3, "outbox_backlog", detail="backlog", params={"events": 120})
        alarms.raise_alarm(db, c4, "left_open", "0", detail="left", params={"alarm": "left_open", "door": 0})
        alarms.raise_alarm(
            db, c4, "board_fault", "3", detail="board", params={"alarm": "board_fault", "board": 3}
        )
        alarms.raise_alarm(
            db, c5, "board_fault", "serial_lost", detail="serial", params={"alarm": "serial_lost"}
        )
        alarms.raise_alarm(
            db, c5, "board_fault", "0", detail="lock", params={"alarm": "lock_fault", "door": 0}
        )
        alarms.raise_alarm(db, c5, "foreign_session", "abc", detail="foreign")
        dead = {"seq": 7, "event": "door", "error": "boom"}
        alarms.raise_alarm(db, c5, "ingest_dead_letter", "7", detail="dead", params=dead)
        db.commit()


def staff_pages(page: Any, url: str, foreign_on: Callable[[Any], list[str]]) -> None:
    """A refusal to a resident, a wrong staff password, then the cabinet's load list: none with the
    other language on it."""
    page.goto(f"{url}/c/XH-0002")  # the demo phone holds another door's visit here: refused
    page.click("#open")
    page.wait_for_function("document.querySelector('#error').textContent.length > 0")
    assert foreign_on(page) == []
    page.goto(f"{url}/s/XH-0001")
    page.fill("#username", "staff")
    page.fill("#password", "wrong")
    page.click("#login")
    page.wait_for_function("document.querySelector('#error').textContent.length > 0")
    assert foreign_on(page) == []
    sign_in_staff(page, "staff", "staff-demo")
    page.wait_for_selector("#plan:not([hidden])")
    assert foreign_on(page) == []
