"""What a newcomer trips over (issue 13), checked without a browser: the pages and the API.

A link to a deleted connection says so instead of showing another one's numbers; the saved key
tests objects before they are picked; a connection with refresh just turned on says its first
refresh is still to come; every metric says whether a rise is good news; every amount column
has the currency it is counted in beside it.
"""

from __future__ import annotations

import re

from flitch import catalog
from flitch.catalog import ColumnType
from flitch.metrics import definitions
from tests.conftest import LIMITED_KEY
from tests.web.conftest import Web

GONE = "This connection no longer exists"


def _connect(web: Web, name: str, **body: object) -> str:
    from tests.conftest import TEST_KEY

    answer = web.api("POST", "/api/v1/connections", {"name": name, "key": TEST_KEY, **body})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["connection"]["id"])


def test_a_link_to_a_deleted_connection_says_so_and_shows_no_other_connection(
    admin_web: Web,
) -> None:
    kept = _connect(admin_web, "Kept account", objects=["charges"])
    gone = _connect(admin_web, "Old account", objects=["charges"])
    assert admin_web.api("DELETE", f"/api/v1/connections/{gone}").status_code == 200

    for path in (
        f"/dashboards/billing?connection={gone}",
        f"/dashboards?connection={gone}",
        f"/data/{gone}",
        f"/data/{gone}/datasets/charges",
    ):
        page = admin_web.page(path)
        assert page.status_code == 404, path
        assert GONE in page.text, path
        # the way back, and never the other connection's page in its place
        assert 'href="/data"' in page.text, path
        assert f'data-connection-id="{kept}"' not in page.text, path
        assert "Kept account" in page.text, path  # offered as a way on, by name
    dashboard = admin_web.page(f"/dashboards/billing?connection={gone}")
    assert f'href="/dashboards/billing?connection={kept}"' in dashboard.text

    # The API names the missing connection too: no fallback anywhere.
    for path in (
        f"/api/v1/connections/{gone}",
        f"/api/v1/connections/{gone}/datasets",
        f"/api/v1/connections/{gone}/datasets/charges/rows",
        f"/api/v1/connections/{gone}/datasets/charges/export",
        f"/api/v1/connections/{gone}/dashboards/billing",
        f"/api/v1/connections/{gone}/refresh",
    ):
        answer = admin_web.api("GET", path)
        assert answer.status_code == 404, path
        assert answer.json()["error"] == "NotFound", path


def test_the_saved_key_tests_objects_before_they_are_picked(admin_web: Web) -> None:
    made = admin_web.api(
        "POST",
        "/api/v1/connections",
        {"name": "Limited", "key": LIMITED_KEY, "objects": ["customers", "charges"]},
    )
    assert made.status_code == 201, made.text
    conn = made.json()["connection"]["id"]

    report = admin_web.api("POST", f"/api/v1/connections/{conn}/objects/test", {}).json()
    states = {o["name"]: o["state"] for o in report["objects"]}
    assert set(states) == {spec.name for spec in catalog.OBJECTS}  # every object, picked or not
    assert states["subscriptions"] == "missing_permission"
    assert states["charges"] == "readable"
    # nothing was saved: the connection still reads the two objects it picked
    after = admin_web.api("GET", f"/api/v1/connections/{conn}").json()
    assert sorted(after["objects"]) == ["charges", "customers"]

    some = admin_web.api(
        "POST", f"/api/v1/connections/{conn}/objects/test", {"objects": ["coupons"]}
    ).json()
    assert [o["name"] for o in some["objects"]] == ["coupons"]

    page = admin_web.page(f"/data/{conn}")
    picker = re.search(r'<fieldset class="objects"[^>]*>(.*?)</fieldset>', page.text, re.S)
    assert picker is not None, "the connection page has an object picker"
    boxes = re.findall(r'<input type="checkbox" name="objects" value="(\w+)"( checked)?', picker[1])
    assert {name for name, _ in boxes} == {spec.name for spec in catalog.OBJECTS}
    assert sorted(name for name, on in boxes if on) == ["charges", "customers"]


def test_refresh_turned_on_before_any_cache_says_the_first_refresh_is_to_come(
    admin_web: Web,
) -> None:
    conn = _connect(admin_web, "Shop", objects=["customers"])
    on = admin_web.api("PATCH", f"/api/v1/connections/{conn}", {"refresh": "15m"})
    assert on.status_code == 200, on.text
    page = admin_web.page(f"/data/{conn}").text
    assert "Served from the cache" not in page
    assert "first refresh has not run yet" in page
    assert "Pending (first refresh)" in admin_web.page("/data").text
    listing = admin_web.page(f"/dashboards?connection={conn}").text
    assert "Served from the cache" not in listing
    assert "first refresh has not run yet" in listing


def test_every_metric_says_whether_a_rise_is_good_news() -> None:
    for metric in definitions.METRICS:
        assert metric.name in definitions.UP_IS_GOOD, f"{metric.name}: is a rise good news?"
        assert metric.up_is_good is definitions.UP_IS_GOOD[metric.name]
    assert definitions.get("gross_volume").up_is_good is True
    assert definitions.get("mrr").up_is_good is True
    assert definitions.get("failure_rate").up_is_good is False
    assert definitions.get("subscriber_churn_rate").up_is_good is False
    assert definitions.get("disputes").up_is_good is False
    assert definitions.get("fees").up_is_good is False
    assert definitions.get("payouts").up_is_good is None  # money moved, neither good nor bad


def test_the_dashboard_options_carry_each_metrics_direction(admin_web: Web) -> None:
    options = admin_web.api("GET", "/api/v1/dashboard-options").json()
    direction = {m["name"]: m["up_is_good"] for m in options["metrics"]}
    assert direction["failure_rate"] is False
    assert direction["new_subscribers"] is True


def test_every_amount_column_has_its_currency_beside_it() -> None:
    """An amount is in the smallest unit of its row's currency: the page formats it with it."""
    for spec in catalog.OBJECTS:
        amounts = [c.name for c in spec.columns if c.type is ColumnType.AMOUNT]
        if amounts:
            assert spec.currency_column in spec.column_names, spec.name
            assert spec.column(spec.currency_column).type is ColumnType.TEXT
    assert catalog.get("products").currency_column is None
