"""Settings as data.

Every setting is one entry in ``SETTINGS``: its name, environment variable, type, default and the
sentence that documents it. ``Settings.from_env()`` reads them; the README's settings table is
checked against this registry by a test, so a setting cannot go undocumented.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any


class MemorySize(str):
    """An amount of memory as people write it: ``512MB``, ``2GiB`` (decimal and binary units,
    as DuckDB reads them) or a share of the machine's, ``25%``. Checked when read, so a typo
    stops Flitch at start rather than a refresh hours later."""

    _FORM = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(%|[kmgt]i?b)\s*", re.IGNORECASE)
    _POWERS = "kmgt"

    def __new__(cls, text: str) -> MemorySize:
        found = cls._FORM.fullmatch(text)
        number = float(found.group(1)) if found else 0.0
        if found is None or number <= 0 or (found.group(2) == "%" and number > 100):
            raise ValueError(f"{text!r} is not an amount of memory: write 512MB, 2GiB or 25%")
        return super().__new__(cls, text.strip())

    def bytes(self, machine: int) -> int:
        """The amount in bytes; a share is of ``machine`` bytes."""
        found = self._FORM.fullmatch(self)
        assert found is not None
        number, unit = float(found.group(1)), found.group(2).lower()
        if unit == "%":
            return int(machine * number / 100)
        base = 1024 if unit.endswith("ib") else 1000
        return int(number * base ** (self._POWERS.index(unit[0]) + 1))


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    type: type
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "home",
        "FLITCH_HOME",
        Path,
        "~/.flitch",
        "Data directory: metadata, encrypted keys, the dataset cache.",
    ),
    Setting(
        "secret_key",
        "FLITCH_SECRET_KEY",
        str,
        None,
        "Master key that encrypts Stripe keys at rest. Unset: a key file is created in the "
        "data directory with mode 0600 on first run.",
    ),
    Setting(
        "database_url",
        "FLITCH_DATABASE_URL",
        str,
        None,
        "Where the metadata lives (connections, sealed keys, runs, users, sessions, tokens): "
        "unset, `flitch.db` in the data directory; `postgresql://USER:PASSWORD@HOST/DB` puts "
        "it in PostgreSQL for server mode (see Server mode).",
    ),
    Setting(
        "cache_url",
        "FLITCH_CACHE_URL",
        str,
        None,
        "Where caches publish their versions: unset, `cache/` in the data directory (one "
        "`current.duckdb` per connection, replaced by each refresh); `file:///PATH` or a path "
        "makes each refresh publish an immutable `v-N.duckdb` there, the current one recorded "
        "in the metadata database, so that replicas sharing the folder (NFS and the like) "
        "answer from the same version (see Server mode).",
    ),
    Setting(
        "refresh_workers",
        "FLITCH_REFRESH_WORKERS",
        bool,
        False,
        "1: refreshes (scheduled, and Refresh now from the web app or `flitch refresh`) are "
        "queued in the metadata database for `flitch worker` processes to run; 0 (default): "
        "the process that decides a refresh runs it, as on one machine (see Server mode).",
    ),
    Setting(
        "stripe_api_base",
        "FLITCH_STRIPE_API_BASE",
        str,
        "https://api.stripe.com",
        "Where the Stripe client sends its requests (point it at `flitch emulator`).",
    ),
    Setting(
        "live_requests_per_second",
        "FLITCH_LIVE_RPS",
        float,
        100.0,
        "Global request budget for a live-mode key (Stripe's default limit).",
    ),
    Setting(
        "test_requests_per_second",
        "FLITCH_TEST_RPS",
        float,
        25.0,
        "Global request budget for a test-mode key (Stripe's default limit).",
    ),
    Setting(
        "endpoint_requests_per_second",
        "FLITCH_ENDPOINT_RPS",
        float,
        25.0,
        "Request budget for each list endpoint (Stripe's default per-endpoint limit).",
    ),
    Setting(
        "max_in_flight",
        "FLITCH_MAX_IN_FLIGHT",
        int,
        16,
        "Most requests in flight at once per key (Stripe also limits concurrency).",
    ),
    Setting(
        "max_retries",
        "FLITCH_MAX_RETRIES",
        int,
        8,
        "Retries for a request that hit a rate limit, a 5xx or a network error.",
    ),
    Setting(
        "request_timeout",
        "FLITCH_REQUEST_TIMEOUT",
        float,
        60.0,
        "Seconds before a request to Stripe is abandoned (and retried).",
    ),
    Setting(
        "scheduler_poll",
        "FLITCH_SCHEDULER_POLL",
        float,
        30.0,
        "Seconds between the scheduler's looks for due refreshes in `flitch serve` (more than "
        "0). Shorter: a due refresh starts sooner after its time, for one small query a look.",
    ),
    Setting("host", "FLITCH_HOST", str, "127.0.0.1", "Address the web app binds to."),
    Setting("port", "FLITCH_PORT", int, 8765, "Port the web app listens on."),
    Setting(
        "allowed_hosts",
        "FLITCH_ALLOWED_HOSTS",
        str,
        "",
        "More names the web app answers to, comma-separated (`flitch.example.com`, "
        "`.example.com` for a domain and every name under it, `*` for any). Always allowed: "
        "the bind address, `localhost`, `127.0.0.1` and `[::1]` (bound to `0.0.0.0`: also any "
        "IP address and the machine's host name). Other names get 400, against DNS rebinding.",
    ),
    Setting(
        "trust_proxy",
        "FLITCH_TRUST_PROXY",
        bool,
        False,
        "Trust X-Forwarded-Proto and X-Forwarded-For from a reverse proxy in front of the web "
        "app (set to 1 only behind one): session cookies are then marked Secure over HTTPS.",
    ),
    Setting(
        "signup",
        "FLITCH_SIGNUP",
        bool,
        False,
        "1: anyone who can reach the web app may sign up at /signup, which makes their account "
        "and a workspace of their own (see Workspaces); 0 (default): accounts are made by an "
        "admin of the instance or by an invitation.",
    ),
    Setting(
        "clock_offset",
        "FLITCH_CLOCK_OFFSET",
        float,
        0.0,
        "Seconds added to this machine's clock wherever Flitch and its emulator read the time "
        "(periods, refresh cursors, schedules, sessions, `now()` in SQL). For tests and demos "
        "at another date; leave it unset against real Stripe.",
    ),
    Setting(
        "memory_limit",
        "FLITCH_MEMORY_LIMIT",
        MemorySize,
        None,
        "Memory each refresh may give DuckDB (`512MB`, `2GiB`, `25%`); beyond it, work spills "
        "to the cache's folder. Unset: a quarter of this machine's memory (or its container's "
        "limit), at least 256 MiB. A refresh that still runs out says so and keeps the "
        "previous data: raise it.",
    ),
)


@dataclass(frozen=True)
class Settings:
    home: Path = Path("~/.flitch")
    secret_key: str | None = None
    #: None: SQLite in ``home`` (``flitch.metadb.target``)
    database_url: str | None = None
    #: None: ``home/cache``, one file per cache (``flitch.cache_location``)
    cache_url: str | None = None
    #: queue refreshes for ``flitch worker`` (:mod:`flitch.refresh.jobs`) instead of running them
    refresh_workers: bool = False
    stripe_api_base: str = "https://api.stripe.com"
    live_requests_per_second: float = 100.0
    test_requests_per_second: float = 25.0
    endpoint_requests_per_second: float = 25.0
    max_in_flight: int = 16
    max_retries: int = 8
    request_timeout: float = 60.0
    #: read where ``flitch serve`` starts its scheduler (``flitch.cli.web``)
    scheduler_poll: float = 30.0
    host: str = "127.0.0.1"
    port: int = 8765
    #: comma-separated; read by :mod:`flitch.web.hosts`
    allowed_hosts: str = ""
    trust_proxy: bool = False
    #: /signup makes an account and its own workspace (``flitch.web.pages_join``)
    signup: bool = False
    #: read by ``flitch.clock`` for the whole process (every process started with it agrees)
    clock_offset: float = 0.0
    #: None: a share of the machine's memory (``flitch.store.resources``)
    memory_limit: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from the environment (``FLITCH_*``), then explicit overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = env.get(setting.env)
            if raw is None or raw == "":
                continue
            try:
                if setting.type is bool:
                    values[setting.name] = _flag(setting.env, raw)
                    continue
                values[setting.name] = setting.type(raw)
            except ValueError:
                raise ValueError(
                    f"{setting.env}={raw!r} is not a valid {setting.type.__name__}: {setting.help}"
                ) from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = replace(cls(), **values)
        return replace(settings, home=Path(settings.home).expanduser())


def _flag(env: str, raw: str) -> bool:
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{env}={raw!r} is not a yes/no value: use 1 or 0.")
