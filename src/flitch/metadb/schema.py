"""Every metadata table, for both engines: one list of forward migrations per part of Flitch.

Three parts keep tables in the metadata database, each with its migrations numbered on their
own and recorded in its own version table, as SQLite installs have had them from the start:
the connections (``schema_version``), the web app's users, sessions, tokens and sign-in
throttle (``web_schema_migrations``; tables ``web_*``) and the user-made dashboards
(``dash_schema_migrations``; tables ``dash_*``). The same steps build the same tables on
SQLite and on PostgreSQL; where the engines need different words the step says ``{float}``,
``{bytes}`` and so on (:mod:`flitch.metadb.dialect`), and where one engine needs a statement
the other does not, the step is an :class:`Only`.

Append only: a released step is never edited, since installs have run it already.
"""

from __future__ import annotations

from dataclasses import dataclass

from flitch.metadb.dialect import POSTGRES, SQLITE


@dataclass(frozen=True)
class Only:
    """A statement one engine runs and the other skips."""

    engine: str
    sql: str


Statement = str | Only


@dataclass(frozen=True)
class Track:
    """One part's migrations and the table that records which have run."""

    name: str
    version_table: str
    #: (version, statements), in order
    steps: tuple[tuple[int, tuple[Statement, ...]], ...]
    #: the version table's ``applied_at`` is text filled in by SQL (the web tables' habit)
    text_stamp: bool = False

    @property
    def latest(self) -> int:
        return self.steps[-1][0]


CONNECTIONS = Track(
    "connections",
    "schema_version",
    (
        (
            1,
            (
                """CREATE TABLE connections (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                name_key TEXT NOT NULL UNIQUE,
                mode TEXT NOT NULL CHECK (mode IN ('test', 'live')),
                key_sealed {bytes} NOT NULL,
                key_fingerprint TEXT NOT NULL,
                key_masked TEXT NOT NULL,
                key_last4 TEXT NOT NULL,
                can_read_events INTEGER NOT NULL DEFAULT 0,
                refresh_every INTEGER CHECK (refresh_every IS NULL OR refresh_every > 0),
                created_at {float} NOT NULL,
                updated_at {float} NOT NULL,
                last_tested_at {float},
                last_test_ok INTEGER,
                last_test_message TEXT,
                last_test_fix TEXT
            )""",
                """CREATE TABLE datasets (
                connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
                object TEXT NOT NULL,
                position INTEGER NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('ok', 'missing_permission', 'failed')),
                reason TEXT,
                fix TEXT,
                status_at {float} NOT NULL,
                last_refresh_at {float},
                next_due_at {float},
                rows {int8},
                PRIMARY KEY (connection_id, object)
            ){without_rowid}""",
                "CREATE INDEX datasets_due ON datasets (next_due_at) WHERE next_due_at IS NOT NULL",
                """CREATE TABLE refresh_runs (
                id TEXT PRIMARY KEY,
                connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
                objects TEXT NOT NULL,
                trigger TEXT NOT NULL,
                started_at {float} NOT NULL,
                finished_at {float},
                outcome TEXT NOT NULL
                    CHECK (outcome IN ('running', 'ok', 'partial', 'failed')),
                records {int8},
                requests {int8},
                error TEXT,
                fix TEXT{rowid}
            )""",
                "CREATE INDEX refresh_runs_by_connection"
                " ON refresh_runs (connection_id, started_at)",
            ),
        ),
        # 2: the work queue of refresh workers (server mode, flitch.refresh.jobs): one row a
        # job, leased by the worker running it; at most one running job per connection, and one
        # waiting job per connection and kind, kept by the two partial unique indexes.
        (
            2,
            (
                """CREATE TABLE refresh_jobs (
                id TEXT PRIMARY KEY,
                connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
                kind TEXT NOT NULL CHECK (kind IN ('refresh', 'full', 'verify')),
                objects TEXT NOT NULL DEFAULT '',
                requested_by TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
                lease_owner TEXT,
                lease_expires_at {float},
                attempts INTEGER NOT NULL DEFAULT 0,
                requested_at {float} NOT NULL,
                started_at {float},
                heartbeat_at {float},
                finished_at {float},
                run_id TEXT,
                outcome TEXT,
                progress TEXT,
                error TEXT,
                fix TEXT
            )""",
                "CREATE UNIQUE INDEX refresh_jobs_one_running"
                " ON refresh_jobs (connection_id) WHERE state = 'running'",
                "CREATE UNIQUE INDEX refresh_jobs_one_queued"
                " ON refresh_jobs (connection_id, kind) WHERE state = 'queued'",
                "CREATE INDEX refresh_jobs_by_state ON refresh_jobs (state, requested_at)",
            ),
        ),
        # 3: Stripe request budgets shared by every process using a key (server mode,
        # flitch.stripe_source.shared_budget): a bucket per key and scope, named by a keyed hash
        # of the key under the one random secret beside them; ``tat`` is when the bucket is
        # next free, on the database server's clock.
        (
            3,
            (
                """CREATE TABLE stripe_budgets (
                bucket TEXT PRIMARY KEY,
                tat {float} NOT NULL,
                updated_at {float} NOT NULL
            )""",
                """CREATE TABLE stripe_budget_secret (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                secret {bytes} NOT NULL
            )""",
            ),
        ),
        # 4: shared caches (FLITCH_CACHE_URL, flitch.store.versions): each cache's current
        # version and the last number handed out, and the leases of the processes reading one.
        (
            4,
            (
                """CREATE TABLE cache_versions (
                cache TEXT PRIMARY KEY,
                version INTEGER,
                last_number INTEGER NOT NULL,
                published_at {float}
            )""",
                """CREATE TABLE cache_readers (
                cache TEXT NOT NULL,
                version INTEGER NOT NULL,
                holder TEXT NOT NULL,
                expires_at {float} NOT NULL,
                PRIMARY KEY (cache, version, holder)
            )""",
            ),
        ),
        # 5: live reads shared by replicas on several machines (flitch.query.read_leases,
        # flitch.query.page_counts): the lease of the process reading a list for everyone, named
        # by a hash of the connection and the read; and the pages each shape of read took last,
        # by connection (the next load's estimate), gone with the connection.
        (
            5,
            (
                """CREATE TABLE live_read_leases (
                read_key TEXT PRIMARY KEY,
                token TEXT NOT NULL,
                holder TEXT NOT NULL,
                taken_at {float} NOT NULL,
                expires_at {float} NOT NULL
            )""",
                """CREATE TABLE live_read_pages (
                connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
                shape TEXT NOT NULL,
                pages INTEGER NOT NULL,
                recorded_at {float} NOT NULL,
                PRIMARY KEY (connection_id, shape)
            )""",
            ),
        ),
    ),
)

WEB = Track(
    "web",
    "web_schema_migrations",
    (
        (
            1,
            (
                """CREATE TABLE web_users (
                id {serial},
                name TEXT NOT NULL UNIQUE{nocase},
                role TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
                password_hash TEXT NOT NULL,
                created_at {float} NOT NULL
            )""",
                Only(
                    POSTGRES, "CREATE UNIQUE INDEX web_users_name_nocase ON web_users (lower(name))"
                ),
                """CREATE TABLE web_sessions (
                token_hash TEXT PRIMARY KEY,
                user_id INTEGER NOT NULL REFERENCES web_users(id) ON DELETE CASCADE,
                csrf_token TEXT NOT NULL,
                created_at {float} NOT NULL,
                last_seen {float} NOT NULL
            )""",
                "CREATE INDEX web_sessions_user ON web_sessions(user_id)",
                """CREATE TABLE web_api_tokens (
                id {serial},
                user_id INTEGER NOT NULL REFERENCES web_users(id) ON DELETE CASCADE,
                label TEXT NOT NULL,
                prefix TEXT NOT NULL,
                token_hash TEXT NOT NULL UNIQUE,
                created_at {float} NOT NULL,
                last_used_at {float}
            )""",
                """CREATE TABLE web_signin_failures (
                subject TEXT NOT NULL,
                at {float} NOT NULL{rowid}
            )""",
                "CREATE INDEX web_signin_failures_subject ON web_signin_failures(subject, at)",
            ),
        ),
        # 2: where each API token was last used from (its last use is shown with its time).
        (2, ("ALTER TABLE web_api_tokens ADD COLUMN last_used_from TEXT",)),
        # 3: the one-time code first-run setup asks for (one row, while no account exists).
        (
            3,
            (
                """CREATE TABLE web_setup_code (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                code TEXT NOT NULL,
                created_at {float} NOT NULL
            )""",
            ),
        ),
    ),
    text_stamp=True,
)

DASHBOARDS = Track(
    "dashboards",
    "dash_schema_migrations",
    (
        (
            1,
            (
                """CREATE TABLE dash_dashboards (
                name TEXT PRIMARY KEY{nocase},
                title TEXT NOT NULL,
                body TEXT NOT NULL,
                position INTEGER NOT NULL,
                created_at {float} NOT NULL,
                updated_at {float} NOT NULL
            )""",
                Only(
                    POSTGRES,
                    "CREATE UNIQUE INDEX dash_dashboards_name_nocase"
                    " ON dash_dashboards (lower(name))",
                ),
            ),
        ),
    ),
)

#: The one workspace an install made before workspaces becomes (and a new install starts with);
#: the steps below write it out, as a released step never changes.
DEFAULT_WORKSPACE = "ws_default"

#: Workspaces (flitch.workspaces): who may see which connections, dashboards and tokens. Its
#: own part, run after the three above, so that it can point at their tables and move their rows
#: into the default workspace in the same step that creates it (the upgrade of an existing
#: install: everything it holds, every user with the role they had; admins become its owners).
WORKSPACES = Track(
    "workspaces",
    "workspace_schema_migrations",
    (
        (
            1,
            (
                """CREATE TABLE workspaces (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                name_key TEXT NOT NULL UNIQUE,
                created_at {float} NOT NULL
            )""",
                Only(
                    SQLITE,
                    "INSERT INTO workspaces (id, name, name_key, created_at) VALUES"
                    " ('ws_default', 'default', 'default',"
                    " CAST(strftime('%s', 'now') AS REAL))",
                ),
                Only(
                    POSTGRES,
                    "INSERT INTO workspaces (id, name, name_key, created_at) VALUES"
                    " ('ws_default', 'default', 'default', extract(epoch from now()))",
                ),
                """CREATE TABLE workspace_members (
                workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
                user_id INTEGER NOT NULL REFERENCES web_users(id) ON DELETE CASCADE,
                role TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
                owner INTEGER NOT NULL DEFAULT 0 CHECK (owner IN (0, 1)),
                joined_at {float} NOT NULL,
                PRIMARY KEY (workspace_id, user_id),
                CHECK (owner = 0 OR role = 'admin')
            )""",
                "CREATE INDEX workspace_members_by_user ON workspace_members (user_id)",
                "INSERT INTO workspace_members (workspace_id, user_id, role, owner, joined_at)"
                " SELECT 'ws_default', id, role,"
                " CASE WHEN role = 'admin' THEN 1 ELSE 0 END, created_at FROM web_users",
                """CREATE TABLE workspace_invites (
                code_hash TEXT PRIMARY KEY,
                workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
                role TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
                created_by INTEGER REFERENCES web_users(id) ON DELETE SET NULL,
                created_at {float} NOT NULL,
                expires_at {float} NOT NULL
            )""",
                # connections: a workspace each (no cascade: a workspace is emptied connection
                # by connection, as disconnect does, before its row goes); names are unique
                # within a workspace, so the unique name_key is prefixed with the workspace id
                "ALTER TABLE connections ADD COLUMN workspace_id TEXT REFERENCES workspaces(id)",
                "UPDATE connections SET workspace_id = 'ws_default',"
                " name_key = 'ws_default/' || name_key",
                "CREATE INDEX connections_by_workspace ON connections (workspace_id, name_key)",
                # API tokens act in one workspace; a session remembers the one it switched to
                "ALTER TABLE web_api_tokens ADD COLUMN workspace_id TEXT"
                " REFERENCES workspaces(id) ON DELETE CASCADE",
                "UPDATE web_api_tokens SET workspace_id = 'ws_default'",
                "ALTER TABLE web_sessions ADD COLUMN workspace_id TEXT"
                " REFERENCES workspaces(id) ON DELETE SET NULL",
                # dashboards: unique names per workspace (a new key, so the table is rebuilt)
                """CREATE TABLE dash_boards (
                workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
                name TEXT NOT NULL{nocase},
                title TEXT NOT NULL,
                body TEXT NOT NULL,
                position INTEGER NOT NULL,
                created_at {float} NOT NULL,
                updated_at {float} NOT NULL,
                PRIMARY KEY (workspace_id, name)
            )""",
                "INSERT INTO dash_boards (workspace_id, name, title, body, position, created_at,"
                " updated_at) SELECT 'ws_default', name, title, body, position,"
                " created_at, updated_at FROM dash_dashboards",
                "DROP TABLE dash_dashboards",
                "ALTER TABLE dash_boards RENAME TO dash_dashboards",
                Only(
                    POSTGRES,
                    "CREATE UNIQUE INDEX dash_dashboards_workspace_name_nocase"
                    " ON dash_dashboards (workspace_id, lower(name))",
                ),
            ),
        ),
    ),
)

#: In the order they are brought up to date (and their tables copied by migrate-to-postgres).
TRACKS: tuple[Track, ...] = (CONNECTIONS, WEB, DASHBOARDS, WORKSPACES)

#: Every table with rows worth keeping, parents before children.
TABLES: tuple[str, ...] = (
    "workspaces",
    "connections",
    "datasets",
    "refresh_runs",
    "web_users",
    "web_sessions",
    "web_api_tokens",
    "web_signin_failures",
    "web_setup_code",
    "dash_dashboards",
    "workspace_members",
    "workspace_invites",
    "cache_versions",
    "live_read_pages",
)


def statements(steps: tuple[Statement, ...], engine: str) -> list[str]:
    """A step's statements as ``engine`` runs them."""
    out: list[str] = []
    for s in steps:
        if isinstance(s, Only):
            if s.engine == engine:
                out.append(s.sql)
        else:
            out.append(s)
    return out


__all__ = [
    "DASHBOARDS",
    "DEFAULT_WORKSPACE",
    "POSTGRES",
    "SQLITE",
    "TABLES",
    "TRACKS",
    "WEB",
    "WORKSPACES",
    "Only",
    "Track",
]
