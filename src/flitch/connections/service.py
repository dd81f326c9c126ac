"""The lifecycle of a connection: test a key, save it, change it, delete it.

One API for the CLI and the web app. The seed's flow: a restricted key is tested (every picked
object probed), objects are picked (all twelve by default), the connection is named and saved;
each picked object becomes a dataset. An object the key cannot read is saved all the same, as
*blocked*, with the reason and the fix from the probe, and reported: it starts working as soon as
the key is granted Read on it (``update_key`` or ``retest`` notices).

Secrets: the key is sealed before it is stored (:mod:`flitch.connections.crypto`) and no public
record carries it, only ``masked`` and ``last4``. :meth:`ConnectionService.key_for` opens it for
the code that reads Stripe, and nothing it returns is ever put in output.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from flitch import catalog
from flitch import clock as clocks
from flitch.cache_location import CacheLocation
from flitch.config import Settings
from flitch.connections.connection_table import ConnectionRow, ConnectionTable
from flitch.connections.crypto import MasterKey, MasterKeyMismatch, load_master_key, mismatch
from flitch.connections.metadata import MetadataDB, new_id
from flitch.connections.records import (
    ID_PREFIX,
    NAME_RULE,
    ConnectionInfo,
    DatasetInfo,
    DatasetState,
    DatasetStatus,
    KeyTestResult,
    check_name,
    name_key,
    parse_objects,
    parse_refresh,
)
from flitch.errors import AuthenticationFailed, InputError, StripeUnavailable
from flitch.keys import RestrictedKey, parse_key
from flitch.metadb import IntegrityError
from flitch.metadb.schema import DEFAULT_WORKSPACE

if TYPE_CHECKING:
    # The probe brings the Stripe SDK: imported when a key is tested, so listing or changing
    # connections (e.g. `flitch connections`) starts without it.
    from flitch.store.duckdb_store import DuckDBStore
    from flitch.store.versions import VersionBook
    from flitch.stripe_source.probe import ProbeReport

T = TypeVar("T")
CACHE_DIR = "cache"
REVOKE_REMINDER = (
    "Flitch no longer holds the key, but the key itself works until it is deleted: delete the "
    "restricted key at https://dashboard.stripe.com/apikeys to cut off access at once."
)


@dataclass(frozen=True)
class SaveResult:
    """A saved connection and the probe that tested its key just before it was saved."""

    connection: ConnectionInfo
    probe: ProbeReport

    @property
    def blocked(self) -> tuple[DatasetInfo, ...]:
        return self.connection.blocked

    def to_dict(self) -> dict[str, Any]:
        return {"connection": self.connection.to_dict(), "probe": self.probe.to_dict()}


@dataclass(frozen=True)
class Deleted:
    """What ``delete`` removed, and what the user still has to do in Stripe."""

    id: str
    name: str
    mode: str
    key_masked: str
    #: False if another process kept the write-ahead log busy and it could not be truncated.
    scrubbed: bool
    reminder: str = REVOKE_REMINDER

    def to_dict(self) -> dict[str, Any]:
        return {
            "deleted": True,
            "id": self.id,
            "name": self.name,
            "mode": self.mode,
            "key": {"masked": self.key_masked},
            "cache_cleared": True,
            "scrubbed": self.scrubbed,
            "reminder": self.reminder,
        }


class ConnectionService:
    """Connections of one ``FLITCH_HOME``: the one way to add, test, change and delete them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = Path(settings.home)
        self.db = MetadataDB(self.home, settings.database_url)
        self.table = ConnectionTable(self.db)
        self._master: MasterKey | None = None
        #: the unbound service a bound one was made from (it loads the master key once)
        self._owner: ConnectionService | None = None
        #: connection id → its workspace, for :meth:`cache_dir` (shared with bound copies)
        self._workspace_of: dict[str, str] = {}
        #: where caches live (FLITCH_CACHE_URL; default FLITCH_HOME/cache)
        self.cache_location = CacheLocation.of(self.home, settings.cache_url)
        self._versions: VersionBook | None = None

    def in_workspace(self, workspace_id: str) -> ConnectionService:
        """This service seeing only ``workspace_id``'s connections (the same database, master
        key and settings): what a request or a CLI command of that workspace is given."""
        bound = copy.copy(self)
        bound.table = ConnectionTable(self.db, workspace_id)
        bound._owner = self
        return bound

    @property
    def workspace_id(self) -> str | None:
        """The workspace this service is bound to (None: every workspace, for background work)."""
        return self.table.workspace_id

    def close(self) -> None:
        if self._owner is None:  # a bound service shares its owner's database: the owner closes
            if self._versions is not None:
                self._versions.close()
            self.db.close()

    def __enter__(self) -> ConnectionService:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def master(self) -> MasterKey:
        """The master key, loaded (and the key file created) on first use only."""
        if self._owner is not None:
            return self._owner.master
        if self._master is None:
            self._master = load_master_key(self.settings)
        return self._master

    def cache_dir(self, connection_id: str) -> Path:
        """Where a connection's datasets are cached: a folder of its own, in its workspace's
        folder: ``FLITCH_HOME/cache/<workspace id>/<connection id>``, except in the default
        workspace, whose caches stay where installs made before workspaces have them
        (``FLITCH_HOME/cache/<connection id>``). No two workspaces share a file."""
        if not connection_id.startswith(ID_PREFIX) or "/" in connection_id:
            raise ValueError(f"not a connection id: {connection_id!r}")
        workspace = self._workspace_of.get(connection_id)
        if workspace is None:
            found = self.db.query(
                "SELECT workspace_id FROM connections WHERE id = ?", (connection_id,)
            )
            workspace = str(found[0][0]) if found and found[0][0] else DEFAULT_WORKSPACE
            if found:  # a connection's workspace never changes: asked once per process
                self._workspace_of[connection_id] = workspace
        root = self.cache_location.root
        if workspace == DEFAULT_WORKSPACE:
            return root / connection_id
        return root / workspace / connection_id

    def store(self, connection_id: str, **options: Any) -> DuckDBStore:
        """A connection's cache (``DuckDBStore`` ``options``), published where
        ``FLITCH_CACHE_URL`` says: in a shared location its versions are recorded in the
        metadata database (``flitch.store.publishing``)."""
        from flitch.store.duckdb_store import DuckDBStore

        versions = self.versions if self.cache_location.versioned else None
        return DuckDBStore(self.cache_dir(connection_id), versions=versions, **options)

    @property
    def versions(self) -> VersionBook:
        """This process's book of shared cache versions and its readers' leases (one, shared by
        bound copies of the service)."""
        if self._owner is not None:
            return self._owner.versions
        if self._versions is None:
            from flitch.store.versions import VersionBook

            self._versions = VersionBook(self.db.db)
        return self._versions

    # -- reading -----------------------------------------------------------------------------------
    def list(self) -> list[ConnectionInfo]:
        return [self.table.info(row) for row in self.table.rows()]

    def get(self, name_or_id: str) -> ConnectionInfo:
        """A connection by id or by name (any case); ``NotFound`` lists the saved ones."""
        return self.table.info(self.table.get(name_or_id))

    def key_for(self, name_or_id: str) -> RestrictedKey:
        """The connection's key, decrypted for the code that reads Stripe. Never print it."""
        row = self.table.get(name_or_id)
        master = self.master
        if row.key_fingerprint != master.fingerprint:
            raise mismatch(master, row.name)
        try:
            secret = master.open(row.key_sealed, row.id)
        except MasterKeyMismatch:
            raise mismatch(master, row.name) from None
        return parse_key(secret)

    # -- testing -----------------------------------------------------------------------------------
    def test_key(
        self, key: RestrictedKey | str, objects: Iterable[str] | str | None = None
    ) -> ProbeReport:
        """Probe what a key can read (nothing is saved). A text key is parsed first, so a
        secret or publishable key is refused before any request is sent."""
        restricted = key if isinstance(key, RestrictedKey) else parse_key(key)
        return self._probe(restricted, parse_objects(objects))

    def retest(self, name_or_id: str) -> SaveResult:
        """Test a saved connection's key again and record what it can read now."""
        row = self.table.get(name_or_id)
        key = self.key_for(row.id)
        objects = self.table.info(row).objects
        from flitch.stripe_source.probe import AuthState

        report = self._probe(key, objects)
        result = _test_result(report)
        states = [] if report.authentication.state is not AuthState.OK else _states(report)
        events = report.events.readable if report.authentication.ok else None
        self.table.record_test(row.id, result, states, events)
        return SaveResult(self.get(row.id), report)

    # -- saving ------------------------------------------------------------------------------------
    def create(
        self,
        name: str,
        key: RestrictedKey | str,
        objects: Iterable[str] | str | None = None,
        refresh: str | None = "off",
    ) -> SaveResult:
        """Test the key, then save the connection with its picked objects.

        Refused, with nothing saved: a bad name or a taken one, a key that is not a restricted
        key (before any request), a key Stripe does not accept (the seed's "Authentication
        failed"), or Stripe out of reach. Objects the key cannot read are saved as blocked.
        """
        clean = self.check_new_name(name)
        picked = parse_objects(objects)
        every = parse_refresh(refresh)
        restricted = key if isinstance(key, RestrictedKey) else parse_key(key)
        master = self.master
        report = self._probe(restricted, picked)
        _require_authenticated(report, "Nothing was saved.")
        now = clocks.now()
        connection_id = new_id(ID_PREFIX)
        row = ConnectionRow(
            id=connection_id,
            name=clean,
            mode=restricted.mode.value,
            key_sealed=master.seal(restricted.secret, connection_id),
            key_fingerprint=master.fingerprint,
            key_masked=restricted.masked,
            key_last4=restricted.last4,
            can_read_events=report.events.readable,
            refresh_every=every,
            created_at=now,
            updated_at=now,
            last_test=_test_result(report),
        )
        try:
            self.table.insert(row, _states(report))
        except IntegrityError:
            raise _taken(clean) from None
        return SaveResult(self.get(connection_id), report)

    def update_key(
        self, name_or_id: str, key: RestrictedKey | str, *, switch_mode: bool = False
    ) -> SaveResult:
        """Replace a connection's key (the seed's fix for a deleted or rolled key).

        The new key is tested on the picked objects first; the old key stays if Stripe refuses
        the new one. Objects blocked before and readable now become ok (and the other way).
        A key of the other mode is refused unless ``switch_mode``: then the connection reads the
        other mode's data from now on and its cache (the old mode's data) is deleted.
        """
        row = self.table.get(name_or_id)
        restricted = key if isinstance(key, RestrictedKey) else parse_key(key)
        changes_mode = restricted.mode.value != row.mode
        if changes_mode and not switch_mode:
            raise InputError(
                f"The connection {row.name!r} reads {row.mode}-mode data, and this is a "
                f"{restricted.mode.value} key ({restricted.masked}).",
                f"Paste a rk_{row.mode}_… key to keep it on {row.mode}-mode data; or, to switch "
                f"the connection to {restricted.mode.value}-mode data, update it with "
                f"--switch-mode (`flitch update-key {row.name} --switch-mode`): its cached "
                f"{row.mode}-mode data is then deleted.",
            )
        master = self.master
        objects = self.table.info(row).objects
        report = self._probe(restricted, objects)
        _require_authenticated(report, f"The connection {row.name!r} keeps its old key.")
        if changes_mode:
            self._destroy_cache(row.id)
        self.table.replace_key(
            row.id,
            sealed=master.seal(restricted.secret, row.id),
            fingerprint=master.fingerprint,
            masked=restricted.masked,
            last4=restricted.last4,
            mode=restricted.mode.value,
            can_read_events=report.events.readable,
            test=_test_result(report),
            datasets=_states(report),
            reset_refresh=changes_mode,
        )
        return SaveResult(self.get(row.id), report)

    def set_refresh(self, name_or_id: str, every: str | None) -> ConnectionInfo:
        """Turn refresh off (dashboards query Stripe live) or on at an interval (``15m``…``1d``)."""
        seconds = parse_refresh(every)
        row = self.table.get(name_or_id)
        self.table.set_refresh(row.id, seconds)
        return self.get(row.id)

    def set_objects(self, name_or_id: str, objects: Iterable[str] | str | None) -> SaveResult:
        """Change the picked objects: new ones are tested with the saved key, unpicked ones are
        dropped (with their cached data)."""
        row = self.table.get(name_or_id)
        picked = parse_objects(objects)
        key = self.key_for(row.id)
        report = self._probe(key, picked)
        _require_authenticated(
            report, f"The objects of {row.name!r} were not changed; update its key first."
        )
        before = set(self.table.info(row).objects)
        self.table.set_objects(row.id, _states(report))
        self.table.record_test(row.id, _test_result(report), [], report.events.readable)
        self._drop_cached(row.id, before - set(picked))
        return SaveResult(self.get(row.id), report)

    # -- deleting ----------------------------------------------------------------------------------
    def delete(self, name_or_id: str) -> Deleted:
        """Delete the connection: its cache (every byte), its rows, its sealed key.

        Afterwards no file under ``FLITCH_HOME`` holds a record of it: the cache directory is
        destroyed, and the metadata file is vacuumed and its write-ahead log truncated.
        """
        row = self.table.get(name_or_id)
        self._destroy_cache(row.id)
        self.table.delete(row.id)
        scrubbed = self.db.scrub()
        return Deleted(row.id, row.name, row.mode, row.key_masked, scrubbed)

    def check_new_name(self, name: str) -> str:
        """The name, trimmed, if a new connection may take it; else an ``InputError``."""
        clean = check_name(name)
        taken = self.table.find(clean)
        if taken is not None and name_key(taken.name) == name_key(clean):
            raise _taken(clean)
        return clean

    # -- helpers -------------------------------------------------------------------------------

    def _probe(self, key: RestrictedKey, objects: Sequence[str]) -> ProbeReport:
        from flitch.stripe_source.probe import run_probe

        specs = tuple(catalog.get(name) for name in objects)
        return _run(run_probe(key, self.settings, specs))

    def _destroy_cache(self, connection_id: str) -> None:
        path = self.cache_dir(connection_id)
        from flitch.store.files import shred

        self.store(connection_id).destroy()
        if path.exists():  # the store shreds its files; leave nothing else behind either
            shred(path)

    def _drop_cached(self, connection_id: str, objects: Iterable[str]) -> None:
        gone = [catalog.get(name) for name in sorted(objects)]
        path = self.cache_dir(connection_id)
        if not gone or not path.exists():
            return
        from flitch.metrics.derived import DERIVED

        with self.store(connection_id, derived=DERIVED).begin_refresh(full=False) as refresh:
            for spec in gone:
                refresh.drop_dataset(spec)
            refresh.commit()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end, also when called from code that has an event loop running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _taken(name: str) -> InputError:
    return InputError(
        f"A connection called {name!r} already exists (names are unique regardless of case).",
        "Pick another name, or change that connection: `flitch update-key NAME` for a new key, "
        f"`flitch disconnect NAME` to delete it. {NAME_RULE}",
    )


def _require_authenticated(report: ProbeReport, consequence: str) -> None:
    from flitch.stripe_source.probe import AuthState

    auth = report.authentication
    if auth.state is AuthState.FAILED:
        raise AuthenticationFailed(
            f"{auth.message} {consequence}",
            auth.fix,
            expired=auth.expired,
            request_id=auth.request_id,
        )
    if auth.state is AuthState.UNKNOWN:
        raise StripeUnavailable(
            f"{auth.message} {consequence}", auth.fix, request_id=auth.request_id
        )


def _test_result(report: ProbeReport) -> KeyTestResult:
    auth = report.authentication
    return KeyTestResult(
        tested_at=clocks.now(),
        authenticated=auth.ok,
        message=report.summary if auth.ok else auth.message,
        fix=None if auth.ok else auth.fix,
    )


def _states(report: ProbeReport) -> list[DatasetState]:
    """Each probed object's dataset status: ok, missing permission (blocked), or failed."""
    from flitch.stripe_source.probe import ReadState

    states = []
    for check in report.objects:
        if check.readable:
            states.append(DatasetState(check.name, DatasetStatus.OK))
        elif check.state is ReadState.MISSING_PERMISSION:
            states.append(
                DatasetState(check.name, DatasetStatus.MISSING_PERMISSION, check.message, check.fix)
            )
        else:
            states.append(
                DatasetState(check.name, DatasetStatus.FAILED, check.message, check.fix or None)
            )
    return states
