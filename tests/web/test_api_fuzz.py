"""Schemathesis fuzzes the JSON API from its own OpenAPI document, as an admin's API token.

Every operation the document lists is called with generated input against the real app served
by uvicorn (Stripe is the emulator): no answer may be a server error, and every answer must match
what the document promises (status code, content type, body schema).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from flitch.config import Settings
from flitch.emulator.server import Emulator
from flitch.web import create_app
from flitch.web.users import Role
from tests.web.conftest import ADMIN, cheap_hasher, serve_in_thread

#: Generated requests per operation: enough to find a crash, few enough to stay fast.
EXAMPLES = 12


class Target:
    """The live app and a token that stays valid (the fuzzer may revoke the one in use)."""

    def __init__(self, app: Any, url: str) -> None:
        self.app = app
        self.url = url
        self.secret = ""

    def headers(self) -> dict[str, str]:
        users = self.app.state.flitch.users
        if not self.secret or users.user_for_token(self.secret) is None:
            self.secret = users.create_token(ADMIN[0], "fuzz")[1]
        return {"Authorization": f"Bearer {self.secret}"}


@pytest.fixture(scope="module")
def fuzz_target(
    tmp_path_factory: pytest.TempPathFactory, _shared_tiny_emulator: Emulator
) -> Iterator[Target]:
    web_settings = Settings(
        home=tmp_path_factory.mktemp("fuzz") / "home",
        stripe_api_base=_shared_tiny_emulator.url,
        max_retries=0,
        request_timeout=10.0,
        test_requests_per_second=10_000.0,
        live_requests_per_second=10_000.0,
        endpoint_requests_per_second=10_000.0,
    )
    app = create_app(web_settings, password_hasher=cheap_hasher())
    app.state.flitch.users.add(*ADMIN, Role.ADMIN)
    server, stop = serve_in_thread(app)
    yield Target(app, server.url)
    stop()
    app.state.flitch.connections.close()


@pytest.fixture(scope="module")
def api_schema(fuzz_target: Target) -> Any:
    import httpx

    document = httpx.get(
        f"{fuzz_target.url}/api/v1/openapi.json", headers=fuzz_target.headers()
    ).json()
    return schemathesis.openapi.from_dict(document)


def test_no_server_errors_and_answers_match_the_document(
    api_schema: Any, fuzz_target: Target
) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15, "the document lists every API operation"
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            case.call_and_validate(
                base_url=fuzz_target.url,
                headers=fuzz_target.headers(),
                checks=[
                    checks.not_a_server_error,
                    checks.status_code_conformance,
                    checks.content_type_conformance,
                    checks.response_schema_conformance,
                ],
            )

        fuzz()
