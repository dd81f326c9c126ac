"""The connection test: what a restricted key can read, object by object, and in which mode.

Stripe has no API that tells a key its own permissions, so the probe asks each selected object's
list endpoint for one record (``limit=1``, with the object's first list variant so that, e.g.,
canceled subscriptions count) and ``/v1/events`` for one event, all at once. Each answer says
something:

- 200 with a record: the object is readable and has data in this key's mode;
- 200 and empty: readable, but nothing in this mode (the seed's "No data in one mode");
- 403: the key lacks that Read permission (the seed's "Missing resources"), with the exact fix;
- 401: the key is not accepted at all (the seed's "Authentication failed"), either because
  Stripe says it was deleted, rolled or expired, or because Stripe does not know it;
- no answer, 5xx or 429 after the client's retries: Stripe could not be asked; try again.

That is at most one request per object plus one for events, so the whole test takes one round
trip's time against a responsive server. The report the probe returns (what it found, and its
JSON form) is :mod:`.probe_report`; its types are importable from here too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from flitch import catalog
from flitch.catalog import ObjectSpec
from flitch.config import Settings
from flitch.errors import (
    AuthenticationFailed,
    FlitchError,
    PermissionMissing,
    RateLimited,
    StripeUnavailable,
)
from flitch.keys import Mode, RestrictedKey
from flitch.stripe_source.probe_report import (
    MODES_EXPLAINED,
    Authentication,
    AuthState,
    ObjectCheck,
    Outcome,
    ProbeReport,
    ReadState,
)

#: Retries the connection test allows itself per request: a person is waiting for the answer.
PROBE_MAX_RETRIES = 2
#: Seconds the connection test waits for one answer at most.
PROBE_TIMEOUT = 20.0

EXPIRED_FIX = (
    "The key was deleted or rolled in Stripe. Create a new restricted key and update the "
    "connection."
)
INVALID_FIX = (
    "Stripe does not know this key: check that it was copied whole, from the right account. "
    "If it was deleted or rolled in Stripe, create a new restricted key and update the connection."
)
EVENTS_BENEFIT = (
    "faster, exact incremental refreshes (each refresh reads only what changed since the last "
    "one, instead of re-reading every object in full)"
)


class Getter(Protocol):
    """What the probe needs of a client (:class:`~flitch.stripe_source.client.SourceClient`)."""

    async def get(self, path: str, params: Mapping[str, Any]) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class _Target:
    name: str
    label: str
    path: str
    permission: str
    permission_label: str
    params: Mapping[str, str]


def _targets(objects: Sequence[ObjectSpec], include_events: bool) -> list[_Target]:
    targets = [
        _Target(
            spec.name,
            spec.label,
            spec.list_path,
            spec.permission,
            spec.permission_label,
            dict(spec.list_variants[0]) if spec.list_variants else {},
        )
        for spec in objects
    ]
    if include_events:
        targets.append(
            _Target(
                "events",
                "Events",
                catalog.EVENTS_PATH,
                catalog.EVENTS_PERMISSION,
                catalog.EVENTS_PERMISSION_LABEL,
                {},
            )
        )
    return targets


async def _ask(client: Getter, target: _Target) -> Mapping[str, Any] | FlitchError:
    try:
        return await client.get(target.path, {"limit": 1, **target.params})
    except FlitchError as error:
        return error


async def probe(
    client: Getter,
    objects: Sequence[ObjectSpec],
    *,
    include_events: bool = True,
    key: RestrictedKey | None = None,
    api_base: str | None = None,
) -> ProbeReport:
    """Test what the key behind ``client`` can read: one request per object, plus events.

    ``key`` (optional) names the key in the report and gives its mode; without it the mode is
    read from the ``livemode`` of any record returned.
    """
    targets = _targets(objects, include_events)
    started = time.perf_counter()
    answers = await asyncio.gather(*(_ask(client, t) for t in targets))
    elapsed_ms = (time.perf_counter() - started) * 1000
    mode = key.mode if key is not None else _mode_from(answers)
    auth = _authentication(answers)
    checks = [_check(t, a, auth, mode) for t, a in zip(targets, answers, strict=True)]
    if include_events:
        events = _explain_events(checks.pop())
    else:
        events = _not_checked(
            _targets((), True)[0],
            "Not checked (asked not to).",
            f"Test again with events to learn whether {EVENTS_BENEFIT} are possible.",
        )
    return ProbeReport(
        authentication=auth,
        mode=mode,
        objects=tuple(checks),
        events=events,
        requests=len(targets),
        elapsed_ms=elapsed_ms,
        key=None if key is None else key.masked,
        api_base=api_base,
    )


async def run_probe(
    key: RestrictedKey,
    settings: Settings,
    objects: Sequence[ObjectSpec] = catalog.OBJECTS,
    *,
    include_events: bool = True,
) -> ProbeReport:
    """Open a client for ``key``, probe, close the client.

    A person waits for this answer, so retries and timeouts are capped (``PROBE_MAX_RETRIES``,
    ``PROBE_TIMEOUT``) below what a background refresh allows itself.
    """
    from flitch.stripe_source.client import open_client

    quick = replace(
        settings,
        max_retries=min(settings.max_retries, PROBE_MAX_RETRIES),
        request_timeout=min(settings.request_timeout, PROBE_TIMEOUT),
    )
    async with open_client(key, quick) as client:
        return await probe(
            client,
            objects,
            include_events=include_events,
            key=key,
            api_base=settings.stripe_api_base,
        )


def _mode_from(answers: Sequence[Mapping[str, Any] | FlitchError]) -> Mode | None:
    for answer in answers:
        if isinstance(answer, FlitchError):
            continue
        for record in answer.get("data") or ():
            if isinstance(record, Mapping) and isinstance(record.get("livemode"), bool):
                return Mode.LIVE if record["livemode"] else Mode.TEST
    return None


def _authentication(answers: Sequence[Mapping[str, Any] | FlitchError]) -> Authentication:
    refused = next((a for a in answers if isinstance(a, AuthenticationFailed)), None)
    if refused is not None:
        if refused.expired:
            return Authentication(
                AuthState.FAILED,
                expired=True,
                message="Authentication failed: Stripe says this key was deleted, rolled or "
                "has expired.",
                fix=EXPIRED_FIX,
                request_id=refused.request_id,
            )
        return Authentication(
            AuthState.FAILED,
            message="Authentication failed: Stripe does not recognise this key.",
            fix=INVALID_FIX,
            request_id=refused.request_id,
        )
    if not answers:
        return Authentication(
            AuthState.UNKNOWN,
            message="Nothing was tested: no object was selected and events were left out.",
            fix="Select at least one object.",
        )
    if all(_unanswered(a) for a in answers):
        first = answers[0]
        assert isinstance(first, FlitchError)
        return Authentication(
            AuthState.UNKNOWN,
            message=f"Stripe could not be asked: {first.message}",
            fix=first.fix or "Try again in a minute.",
            request_id=first.request_id,
        )
    return Authentication(AuthState.OK, message="Stripe accepts the key.")


def _unanswered(answer: Mapping[str, Any] | FlitchError) -> bool:
    return isinstance(answer, StripeUnavailable | RateLimited)


def _grant_fix(permission_label: str) -> str:
    return f"Grant {permission_label} on the key: in Stripe, edit the key and add the permission."


def _empty_hint(label: str, mode: Mode | None) -> str:
    what = label.lower()
    if mode is None:
        return f"If your {what} are in the other mode, use the key for that mode. {MODES_EXPLAINED}"
    other = mode.other
    return (
        f"A {mode.key_prefix}… key only sees {mode.description} and a {other.key_prefix}… key "
        f"only sees {other.description}: if your {what} are in {other.value} mode, use a "
        f"{other.key_prefix}… key."
    )


def _not_checked(target: _Target, message: str, fix: str = "") -> ObjectCheck:
    return ObjectCheck(
        target.name,
        target.label,
        target.permission,
        target.permission_label,
        ReadState.NOT_CHECKED,
        message,
        fix,
        params=target.params,
    )


def _check(
    target: _Target,
    answer: Mapping[str, Any] | FlitchError,
    auth: Authentication,
    mode: Mode | None,
) -> ObjectCheck:
    if auth.state is AuthState.FAILED:
        return _not_checked(target, "Not checked: the key was not accepted.", auth.fix)

    def check(
        state: ReadState, message: str, fix: str = "", rid: str | None = None, retry: bool = False
    ) -> ObjectCheck:
        return ObjectCheck(
            target.name,
            target.label,
            target.permission,
            target.permission_label,
            state,
            message,
            fix,
            rid,
            target.params,
            retry,
        )

    if isinstance(answer, PermissionMissing):
        return check(
            ReadState.MISSING_PERMISSION,
            f"Missing permission: the key does not have {target.permission_label} "
            f"({answer.permission or target.permission}), so {target.label} returns nothing.",
            _grant_fix(target.permission_label),
            answer.request_id,
        )
    if isinstance(answer, StripeUnavailable | RateLimited):
        return check(
            ReadState.ERROR,
            answer.message,
            f"Try again in a minute. {answer.fix}".strip(),
            answer.request_id,
            retry=True,
        )
    if isinstance(answer, FlitchError):
        return check(ReadState.ERROR, answer.message, answer.fix, answer.request_id)
    data = answer.get("data")
    if not isinstance(data, list):
        return check(
            ReadState.ERROR,
            f"Stripe's answer for {target.path} was not a list.",
            "This is likely a bug in Flitch or a proxy in the way: report it.",
        )
    where = "in this mode" if mode is None else f"in {mode.value} mode"
    if data:
        more = "records" if answer.get("has_more") else "record"
        return check(ReadState.READABLE, f"Readable: {target.label} has {more} {where}.")
    listed = ", ".join(f"{k}={v}" for k, v in target.params.items())
    return check(
        ReadState.EMPTY,
        f"Readable, but there are no {target.label.lower()} {where}"
        + (f" (listed with {listed})." if listed else "."),
        f"No data in one mode? {_empty_hint(target.label, mode)}",
    )


def _explain_events(check: ObjectCheck) -> ObjectCheck:
    if check.readable:
        return replace(
            check,
            message=f"Readable: {catalog.EVENTS_PERMISSION_LABEL} is granted, which allows "
            f"{EVENTS_BENEFIT}.",
            fix="",
        )
    if check.state is ReadState.MISSING_PERMISSION:
        return replace(
            check,
            message=f"Not readable: without {catalog.EVENTS_PERMISSION_LABEL}, each refresh "
            "re-reads every object in full (events are optional).",
            fix=f"Grant {catalog.EVENTS_PERMISSION_LABEL} on the key (optional): in Stripe, edit "
            f"the key and add the permission. It allows {EVENTS_BENEFIT}.",
        )
    return check


__all__ = [
    "PROBE_MAX_RETRIES",
    "PROBE_TIMEOUT",
    "AuthState",
    "Authentication",
    "Getter",
    "ObjectCheck",
    "Outcome",
    "ProbeReport",
    "ReadState",
    "probe",
    "run_probe",
]
