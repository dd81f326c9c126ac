"""The emulator's admin API refuses what a web page on another site could send it.

A browser lets any page POST to 127.0.0.1 without asking first, as long as the request is a
"simple" one (``Content-Type: text/plain``, a form, no custom header), and it always says where
the page came from in ``Origin``. So the admin API takes JSON bodies only (a browser must ask
before sending those across sites, and the emulator never says yes) and refuses a request whose
``Origin`` is not the emulator's own address.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from flitch.emulator.server import Emulator
from tests.conftest import fresh_account


def post_config(emu: Emulator, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(emu.url + "/_emulator/config", content=body, headers=headers)


FOREIGN_ORIGINS = [
    "http://evil.example",
    "https://evil.example",
    "null",
    "http://rebind.evil.example:{port}",  # a DNS-rebinding page: Host and Origin agree
    "http://127.0.0.1:1",  # another service on this machine
]


def test_cross_site_simple_posts_change_nothing(tiny_emulator: Emulator) -> None:
    """Every form a cross-site page can send without a preflight is refused; the latency set
    by each would have slowed every later answer."""
    port = str(tiny_emulator.port)
    sent: list[dict[str, Any]] = [
        {"Content-Type": "text/plain"},
        {"Content-Type": "text/plain;charset=UTF-8", "Origin": "http://evil.example"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "multipart/form-data; boundary=x"},
        {},  # no content type at all
    ]
    sent += [
        {"Content-Type": "application/json", "Origin": o.replace("{port}", port)}
        for o in FOREIGN_ORIGINS
    ]
    accepted = 0
    for headers in sent:
        response = post_config(tiny_emulator, b'{"latency_ms": 777}', **headers)
        if response.status_code == 200:
            accepted += 1
        else:
            assert response.status_code in (403, 415), (headers, response.text)
            assert response.json()["error"]["message"]
    assert (accepted, tiny_emulator.config.latency_ms) == (0, 0)


def test_a_foreign_origin_cannot_make_changes_or_clear_the_log(
    make_emulator: Callable[..., Emulator],
) -> None:
    emu = make_emulator(fresh_account(customers=5))
    before = emu.account.test.count("event")
    evil = {"Origin": "http://evil.example", "Content-Type": "application/json"}
    made = httpx.post(
        emu.url + "/_emulator/changes", json={"kind": "mix", "count": 3}, headers=evil
    )
    assert made.status_code == 403
    assert "Origin" in made.json()["error"]["message"]
    assert emu.account.test.count("event") == before
    httpx.get(emu.url + "/v1/coupons")
    cleared = httpx.delete(emu.url + "/_emulator/requests", headers=evil)
    assert cleared.status_code == 403
    assert len(emu.log) == 1


@pytest.mark.parametrize("origin", [None, "own", "localhost"])
def test_json_from_no_origin_or_the_emulators_own_is_accepted(
    tiny_emulator: Emulator, origin: str | None
) -> None:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if origin == "own":
        headers["Origin"] = tiny_emulator.url
    elif origin == "localhost":
        headers["Origin"] = f"http://localhost:{tiny_emulator.port}"
    response = post_config(tiny_emulator, b'{"latency_ms": 3}', **headers)
    assert response.status_code == 200, response.text
    assert tiny_emulator.config.latency_ms == 3
    same_site_read = httpx.get(
        tiny_emulator.url + "/_emulator/summary", headers={"Origin": tiny_emulator.url}
    )
    assert same_site_read.status_code == 200
