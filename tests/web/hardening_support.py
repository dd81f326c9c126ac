"""What the hardening tests share: a password hasher that counts what it verifies, and the web
app served in a process of its own (``python -m tests.web.hardening_support HOME LOG``), so
several servers can share one FLITCH_HOME as several ``flitch serve`` would."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from argon2 import PasswordHasher

#: How long each verification takes at least: as slow as a real argon2 hash, so that attempts
#: sent together are being verified at the same time.
VERIFY_SECONDS = 0.05


class CountingHasher(PasswordHasher):
    """argon2id at a test's cost, counting each password verified (in memory, and as one line
    per verification in ``log`` when given, which several processes can append to)."""

    def __init__(self, log: Path | None = None) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.log = log
        self.verified = 0
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self._lock:
            self.verified += 1
        if self.log is not None:
            fd = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, b"verified\n")
            finally:
                os.close(fd)
        time.sleep(VERIFY_SECONDS)
        return super().verify(hash, password)


def serve(home: Path, log: Path) -> None:
    """Serve the app on ``home`` on a free port, print its address, stop when stdin closes."""
    from flitch.config import Settings
    from flitch.web import create_app
    from tests.web.conftest import serve_in_thread

    app = create_app(Settings(home=home), password_hasher=CountingHasher(log))
    server, stop = serve_in_thread(app)
    print(server.url, flush=True)
    try:
        sys.stdin.read()
    finally:
        stop()
        app.state.flitch.connections.close()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), Path(sys.argv[2]))
