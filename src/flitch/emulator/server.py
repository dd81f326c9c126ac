"""The emulator's HTTP server: the ASGI app (``app``) served by uvicorn, and a runner for tests.

``Emulator`` runs the real uvicorn server in a background thread for tests, benchmarks and the
demo::

    with Emulator(account, EmulatorConfig(test_rps=None)) as emu:
        client = stripe.StripeClient(DEMO_TEST_KEY, base_addresses={"api": emu.url}, ...)
        emu.config.latency_ms = 50        # takes effect on the next request
        emu.log.entries                   # every request, refused ones included

Nothing here imports Flitch outside ``flitch.emulator``: the emulator models Stripe.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
import time
from collections.abc import Callable

import uvicorn

from flitch.emulator import admin
from flitch.emulator.app import (
    ACCOUNT_API_VERSION,
    DEFAULT_PORT,
    FAULT_KINDS,
    EmulatorApp,
    EmulatorConfig,
    account_now,
    install_drop_filter,
)
from flitch.emulator.requestlog import RequestLog
from flitch.emulator.store import Account, Obj

__all__ = [
    "ACCOUNT_API_VERSION",
    "DEFAULT_PORT",
    "FAULT_KINDS",
    "Emulator",
    "EmulatorApp",
    "EmulatorConfig",
    "account_now",
    "serve_forever",
    "settle_heap",
]


def settle_heap() -> None:
    """Move everything alive now out of the garbage collector's sight (``gc.freeze``).

    A generated account is millions of small objects that live as long as the process; every
    full collection would walk them all, costing the server (and a client in the same process)
    more than answering. Call it once the account is built, in a process that serves it.
    """
    gc.collect()
    gc.freeze()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _uvicorn_config(app: EmulatorApp, *, quiet: bool) -> uvicorn.Config:
    install_drop_filter()
    return uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=not quiet,
        log_level="warning" if quiet else "info",
        log_config=None if quiet else uvicorn.config.LOGGING_CONFIG,
        timeout_graceful_shutdown=2,
        backlog=2048,
        date_header=False,  # the app sends its own, from the emulator's clock
    )


class Emulator:
    """The emulator served by a real uvicorn server on a background thread.

    ``port=0`` picks a free port. Use it as a context manager, or ``start()`` / ``stop()``.
    ``config`` can be changed (or replaced) while it runs; ``log`` records every request.
    """

    def __init__(
        self,
        account: Account,
        config: EmulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.account = account
        self.log = RequestLog()
        self.app = EmulatorApp(account, config or EmulatorConfig(), self.log)
        self.host = host
        self._socket = _bind(host, port)
        self.port: int = self._socket.getsockname()[1]
        self._server = uvicorn.Server(_uvicorn_config(self.app, quiet=True))
        self._thread: threading.Thread | None = None

    @property
    def config(self) -> EmulatorConfig:
        return self.app.config

    @config.setter
    def config(self, value: EmulatorConfig) -> None:
        self.app.config = value

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> Emulator:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"flitch-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the emulator did not start on {self.url}; run it in the foreground with "
                    "`flitch emulator` to see why."
                )
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread (open keep-alive connections are closed)."""
        if self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=5)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout=5)
        self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def apply_changes(self, kind: str, count: int = 1, mode: str = "test") -> list[Obj]:
        """Change the account while it is served (see ``changes.KINDS``); returns the events.

        The change runs on the server's event loop, between two requests, as the admin API's
        ``POST /_emulator/changes`` does.
        """
        loop = self.app.loop
        if loop is None:
            return admin.apply_changes(self.app, mode, kind, count)

        async def run() -> list[Obj]:
            return admin.apply_changes(self.app, mode, kind, count)

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=60)


def serve_forever(
    account: Account,
    config: EmulatorConfig,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    quiet: bool = True,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve in the foreground until Ctrl-C (the ``flitch emulator`` command)."""
    app = EmulatorApp(account, config, RequestLog())
    settle_heap()
    sock = _bind(host, port)
    server = uvicorn.Server(_uvicorn_config(app, quiet=quiet))
    if on_ready is not None:
        shown = f"[{host}]" if ":" in host else host
        on_ready(f"http://{shown}:{sock.getsockname()[1]}")
    server.run(sockets=[sock])
