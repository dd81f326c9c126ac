"""The connection lifecycle over real HTTP against the emulator, with FLITCH_HOME in tmp_path."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from flitch import catalog
from flitch.config import Settings
from flitch.connections.crypto import KEY_FILE, MasterKeyMismatch, generate_secret_key
from flitch.connections.records import DatasetStatus
from flitch.connections.service import ConnectionService
from flitch.emulator.auth import (
    DEMO_LIMITED_KEY,
    DEMO_LIVE_KEY,
    DEMO_PUBLISHABLE_KEY,
    DEMO_REVOKED_KEY,
    DEMO_SECRET_KEY,
    DEMO_TEST_KEY,
)
from flitch.emulator.server import Emulator
from flitch.errors import AuthenticationFailed, InputError, KeyRejected, NotFound
from flitch.store.duckdb_store import DuckDBStore

SEED_FIX = (
    "The key was deleted or rolled in Stripe. Create a new restricted key and update the "
    "connection."
)
#: A key only these tests know: the emulator is told about it where a test needs it.
OWN_KEY = "rk_test_51OwnKeyOfTheConnectionTests0000Zq7"
OTHER_KEY = "rk_test_51ReplacementKeyForTheSameConn11Wx"


def files_under(home: Path) -> bytes:
    """Every byte of every file under FLITCH_HOME."""
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


def forms_of(secret: str) -> list[bytes]:
    """The key and what an encoding of it would look like on disk."""
    raw = secret.encode()
    body = secret.split("_", 2)[2].encode()
    return [
        raw,
        body,
        body[: len(body) // 2],
        body[len(body) // 2 :],
        secret.encode("utf-16-le"),
        raw.hex().encode(),
        base64.b64encode(raw),
        base64.urlsafe_b64encode(raw),
        base64.b64encode(body)[:-4],
    ]


def assert_nowhere(home: Path, *needles: bytes) -> None:
    data = files_under(home)
    for needle in needles:
        assert needle not in data, f"{needle[:12]!r}… found under FLITCH_HOME"


def test_full_key_saves_every_object_ok(settings: Settings, stripe: Emulator) -> None:
    with ConnectionService(settings) as service:
        saved = service.create("Shop", DEMO_TEST_KEY)
    info = saved.connection
    assert info.id.startswith("conn_")
    assert info.name == "Shop"
    assert info.mode == "test"
    assert info.objects == catalog.NAMES
    assert all(d.status is DatasetStatus.OK for d in info.datasets)
    assert info.blocked == ()
    assert info.can_read_events
    assert info.refresh == "off"
    assert info.last_test is not None
    assert info.last_test.authenticated
    assert (info.key_masked, info.key_last4) == ("rk_test_…T3st", "T3st")
    assert saved.probe.ok
    # The public record, as JSON, holds no secret.
    assert DEMO_TEST_KEY not in json.dumps(saved.to_dict())
    assert stripe.log.methods() == {"GET"}
    assert_nowhere(settings.home, *forms_of(DEMO_TEST_KEY))
    key_file = settings.home / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_limited_key_saves_blocked_objects_and_says_how_to_fix(settings: Settings) -> None:
    with ConnectionService(settings) as service:
        saved = service.create("Limited", DEMO_LIMITED_KEY)
        again = service.get("limited")
    for info in (saved.connection, again):
        assert info.objects == catalog.NAMES  # picked-but-blocked, never dropped
        assert [d.object for d in info.blocked] == ["subscriptions"]
        blocked = info.blocked[0]
        assert blocked.status is DatasetStatus.MISSING_PERMISSION
        assert blocked.reason is not None
        assert "Read Subscriptions" in blocked.reason
        assert blocked.fix is not None
        assert "Grant Read Subscriptions" in blocked.fix
        assert not info.can_read_events
        assert info.status == "blocked"
    assert saved.to_dict()["connection"]["blocked"] == ["subscriptions"]


@pytest.mark.parametrize("key", [DEMO_REVOKED_KEY, "rk_test_51NobodyEverIssuedThisKey000000Ab"])
def test_key_stripe_refuses_is_not_saved(settings: Settings, key: str) -> None:
    with ConnectionService(settings) as service:
        with pytest.raises(AuthenticationFailed) as caught:
            service.create("Shop", key)
        assert caught.value.message.startswith("Authentication failed")
        assert "Nothing was saved." in caught.value.message
        if key == DEMO_REVOKED_KEY:
            assert caught.value.fix == SEED_FIX
        assert service.list() == []
    assert_nowhere(settings.home, *forms_of(key))


@pytest.mark.parametrize("key", [DEMO_SECRET_KEY, DEMO_PUBLISHABLE_KEY, "hello"])
def test_unusable_key_is_refused_before_any_request(
    settings: Settings, stripe: Emulator, key: str
) -> None:
    with ConnectionService(settings) as service:
        with pytest.raises(KeyRejected):
            service.create("Shop", key)
        with pytest.raises(KeyRejected):
            service.test_key(key)
        assert service.list() == []
    assert len(stripe.log) == 0


def test_taken_name_is_refused_regardless_of_case_before_any_request(
    settings: Settings, stripe: Emulator
) -> None:
    with ConnectionService(settings) as service:
        service.create("My Shop", DEMO_TEST_KEY)
        sent = len(stripe.log)
        with pytest.raises(InputError, match="already exists"):
            service.create("  my SHOP ", DEMO_LIMITED_KEY)
        assert len(stripe.log) == sent
        assert [c.name for c in service.list()] == ["My Shop"]


@pytest.mark.parametrize(
    "name", ["", " ", "x" * 65, "shop/../etc", "-leading", "conn_abc", "emoji 🙂"]
)
def test_bad_names_are_refused_with_the_rule(settings: Settings, name: str) -> None:
    with ConnectionService(settings) as service, pytest.raises(InputError) as caught:
        service.create(name, DEMO_TEST_KEY)
    assert "1 to 64 characters" in caught.value.fix


def test_objects_and_refresh_are_checked(settings: Settings) -> None:
    with ConnectionService(settings) as service:
        with pytest.raises(InputError, match="Unknown object: refunds"):
            service.create("Shop", DEMO_TEST_KEY, objects="customers,refunds")
        with pytest.raises(InputError, match="not a refresh setting") as caught:
            service.create("Shop", DEMO_TEST_KEY, refresh="5m")
        assert "15m, 30m, 1h, 6h, 12h, 1d" in caught.value.fix
        saved = service.create("Shop", DEMO_TEST_KEY, objects="Charges, customers", refresh="6h")
    assert saved.connection.objects == ("customers", "charges")
    assert saved.connection.refresh_every == 6 * 3600
    assert saved.probe.requests == 3  # two objects and events


def test_set_refresh(settings: Settings) -> None:
    with ConnectionService(settings) as service:
        service.create("Shop", DEMO_TEST_KEY, objects="customers")
        on = service.set_refresh("shop", "1h")
        assert (on.refresh, on.refresh_every) == ("1h", 3600)
        assert on.datasets[0].next_due_at is not None
        assert service.db.due_datasets() == {on.id: ("customers",)}
        assert service.set_refresh("shop", "daily").refresh == "1d"
        off = service.set_refresh("shop", "off")
        assert off.refresh_every is None
        assert off.datasets[0].next_due_at is None
        with pytest.raises(InputError):
            service.set_refresh("shop", "every tuesday")
        with pytest.raises(NotFound, match="no connection called 'nope'"):
            service.set_refresh("nope", "1h")


def test_update_key_after_the_old_key_was_revoked(settings: Settings, stripe: Emulator) -> None:
    stripe.config.keys[OWN_KEY] = None
    with ConnectionService(settings) as service:
        service.create("Shop", OWN_KEY)
        # The key is rolled in Stripe: the old one stops working.
        del stripe.config.keys[OWN_KEY]
        stripe.config.revoked_keys.add(OWN_KEY)
        retested = service.retest("Shop")
        assert retested.connection.status == "auth_failed"
        assert retested.connection.last_test is not None
        assert retested.connection.last_test.fix == SEED_FIX
        # Pasting the revoked key again is refused, and the connection keeps it.
        with pytest.raises(AuthenticationFailed, match="keeps its old key"):
            service.update_key("Shop", OWN_KEY)
        stripe.config.keys[OTHER_KEY] = None
        updated = service.update_key("shop", OTHER_KEY)
        assert updated.connection.status == "ok"
        assert updated.connection.key_last4 == OTHER_KEY[-4:]
        assert service.key_for("Shop").secret == OTHER_KEY
    assert_nowhere(settings.home, *forms_of(OWN_KEY), *forms_of(OTHER_KEY))


def test_update_key_clears_objects_that_are_readable_now(
    settings: Settings, stripe: Emulator
) -> None:
    with ConnectionService(settings) as service:
        before = service.create("Shop", DEMO_LIMITED_KEY).connection
        assert [d.object for d in before.blocked] == ["subscriptions"]
        # The key is edited in Stripe: Read Subscriptions and Read Events granted.
        stripe.config.keys[DEMO_LIMITED_KEY] = None
        after = service.update_key("Shop", DEMO_LIMITED_KEY).connection
        assert after.blocked == ()
        assert after.can_read_events
        assert after.status == "ok"


def test_a_key_of_the_other_mode_needs_switch_mode(settings: Settings, stripe: Emulator) -> None:
    with ConnectionService(settings) as service:
        info = service.create("Shop", DEMO_TEST_KEY, objects="customers").connection
        cache = service.cache_dir(info.id)
        fill_cache(cache, stripe)
        with pytest.raises(InputError, match="reads test-mode data") as caught:
            service.update_key("Shop", DEMO_LIVE_KEY)
        assert "--switch-mode" in caught.value.fix
        assert service.get("Shop").mode == "test"
        switched = service.update_key("Shop", DEMO_LIVE_KEY, switch_mode=True).connection
        assert switched.mode == "live"
        assert not cache.exists()  # the test-mode data is gone


def test_set_objects_tests_new_ones_and_drops_unpicked(
    settings: Settings, stripe: Emulator
) -> None:
    with ConnectionService(settings) as service:
        info = service.create("Shop", DEMO_LIMITED_KEY, objects="customers,charges").connection
        fill_cache(service.cache_dir(info.id), stripe, ("customers", "charges"))
        changed = service.set_objects("Shop", "customers,subscriptions").connection
        assert changed.objects == ("customers", "subscriptions")
        assert [d.object for d in changed.blocked] == ["subscriptions"]
        cached = {d.name for d in DuckDBStore(service.cache_dir(info.id)).datasets()}
        assert cached == {"customers"}


def fill_cache(cache: Path, stripe: Emulator, objects: tuple[str, ...] = ("customers",)) -> None:
    """Cache records as a refresh would: every object of the account's test mode."""
    tx = DuckDBStore(cache).begin_refresh(full=True)
    for name in objects:
        spec = catalog.get(name)
        with tx.replace_dataset(spec) as writer:
            writer.add_page(stripe.account.test.ordered(spec.object_type).objects)
            writer.finish()
    tx.commit()


def customer_ids(stripe: Emulator) -> list[str]:
    ids = [str(c["id"]) for c in stripe.account.test.ordered("customer").objects]
    assert ids
    return ids


# The files of a SQLite install; with PostgreSQL the rows are the server's (and the key sealed).
@pytest.mark.parametrize("database_url", [None])
def test_disconnect_leaves_no_trace_under_flitch_home(settings: Settings, stripe: Emulator) -> None:
    stripe.config.keys[OWN_KEY] = None
    with ConnectionService(settings) as service:
        kept = service.create("Keeper", DEMO_TEST_KEY, objects="charges").connection
        info = service.create("Doomed Shop", OWN_KEY, refresh="1h").connection
        cache = service.cache_dir(info.id)
        fill_cache(cache, stripe)
        run = service.db.record_run_start(info.id, ["customers"], trigger="manual")
        records = customer_ids(stripe)
        service.db.record_dataset_refresh(info.id, "customers", rows=len(records))
        service.db.record_run_finish(run, "ok", records=len(records))
        sealed = service.table.get(info.id).key_sealed
        # Sanity: before deleting, the traces this test looks for are on disk.
        before = files_under(settings.home)
        assert info.id.encode() in before
        assert all(cid.encode() in before for cid in records)
        assert sealed in before
        deleted = service.delete("doomed shop")
        assert deleted.scrubbed
        assert "dashboard.stripe.com/apikeys" in deleted.reminder
        assert [c.name for c in service.list()] == ["Keeper"]
        with pytest.raises(NotFound):
            service.get(info.id)
    assert not cache.exists()
    assert_nowhere(
        settings.home,
        *forms_of(OWN_KEY),
        sealed,
        sealed[1:13],  # its nonce
        sealed[-16:],  # its tag
        info.id.encode(),
        b"Doomed Shop",
        b"doomed shop",
        info.key_masked.encode(),
        run.encode(),
        *(cid.encode() for cid in records),
    )
    # The other connection is untouched.
    with ConnectionService(settings) as service:
        assert service.get("Keeper").id == kept.id
        assert service.key_for("Keeper").secret == DEMO_TEST_KEY


def test_wrong_master_key_is_a_clear_error(settings: Settings, stripe: Emulator) -> None:
    first = Settings(**{**settings.__dict__, "secret_key": generate_secret_key()})
    second = Settings(**{**settings.__dict__, "secret_key": generate_secret_key()})
    with ConnectionService(first) as service:
        service.create("Shop", DEMO_TEST_KEY)
    with ConnectionService(second) as service:
        assert service.get("Shop").name == "Shop"  # records need no key
        with pytest.raises(MasterKeyMismatch) as caught:
            service.key_for("Shop")
        assert "another FLITCH_SECRET_KEY" in caught.value.message
        assert "flitch update-key" in caught.value.fix
        # Pasting the key again re-seals it under the master key in use.
        service.update_key("Shop", DEMO_TEST_KEY)
        assert service.key_for("Shop").secret == DEMO_TEST_KEY
    with ConnectionService(first) as service, pytest.raises(MasterKeyMismatch):
        service.key_for("Shop")
    assert not (settings.home / KEY_FILE).exists()


def test_damaged_sealed_key_is_reported_not_a_traceback(settings: Settings) -> None:
    with ConnectionService(settings) as service:
        info = service.create("Shop", DEMO_TEST_KEY).connection
        sealed = service.table.get(info.id).key_sealed
        with service.db.write() as db:
            db.execute(
                "UPDATE connections SET key_sealed = ? WHERE id = ?",
                (sealed[:-1] + bytes([sealed[-1] ^ 1]), info.id),
            )
        with pytest.raises(MasterKeyMismatch, match="cannot be decrypted"):
            service.key_for("Shop")


def test_test_key_saves_nothing(settings: Settings) -> None:
    with ConnectionService(settings) as service:
        report = service.test_key(DEMO_LIMITED_KEY, "customers,subscriptions")
        assert [o.name for o in report.missing] == ["subscriptions"]
        assert service.list() == []
