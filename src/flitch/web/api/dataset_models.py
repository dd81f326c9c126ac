"""The JSON shapes of datasets, pages of rows and refresh progress (for the OpenAPI document)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool

from flitch.catalog import ObjectSpec
from flitch.connections.records import ConnectionInfo, DatasetInfo
from flitch.web import troubleshoot
from flitch.web.queries import sortable_columns


class ProblemOut(BaseModel):
    """A problem shown in place, from the seed's troubleshooting."""

    kind: str = Field(
        description="authentication_failed, missing_resource, no_data_in_mode or other."
    )
    title: str
    message: str = Field(description="What happened.")
    fix: str = Field(description="What to do next.")
    link: str | None = Field(default=None, description="Where the fix is done, if in Stripe.")

    @classmethod
    def of(cls, problem: troubleshoot.Problem) -> ProblemOut:
        return cls(**problem.to_dict())


class DatasetColumnOut(BaseModel):
    name: str
    type: str = Field(description="text, integer, amount (smallest currency unit), float, …")
    description: str
    sortable: bool


class DatasetOut(BaseModel):
    """One dataset of a connection (one picked Stripe object)."""

    name: str
    label: str
    permission_label: str
    status: str = Field(description="ok, missing_permission or failed.")
    reason: str | None
    fix: str | None
    rows: int | None = Field(description="Rows in the cache; null when read live.")
    served: Literal["live", "cache"] = Field(
        description="live: every load reads Stripe; cache: answered from the last refresh."
    )
    last_refresh_at: str | None
    next_due_at: str | None
    columns: list[DatasetColumnOut]
    problem: ProblemOut | None

    @classmethod
    def of(cls, conn: ConnectionInfo, dataset: DatasetInfo, spec: ObjectSpec) -> DatasetOut:
        sortable = set(sortable_columns(spec))
        info = dataset.to_dict()
        problem = troubleshoot.of_dataset(conn, dataset)
        cached = conn.refresh_every is not None and dataset.last_refresh_at is not None
        return cls(
            name=spec.name,
            label=spec.label,
            permission_label=spec.permission_label,
            status=info["status"],
            reason=info["reason"],
            fix=info["fix"],
            rows=dataset.rows if cached else None,
            served="cache" if cached else "live",
            last_refresh_at=info["last_refresh_at"],
            next_due_at=info["next_due_at"],
            columns=[
                DatasetColumnOut(
                    name=c.name,
                    type=c.type.value,
                    description=c.description,
                    sortable=c.name in sortable,
                )
                for c in spec.columns
            ],
            problem=ProblemOut.of(problem) if problem else None,
        )


class ConnectionBrief(BaseModel):
    id: str
    name: str
    mode: str
    refresh: str


class DatasetList(BaseModel):
    connection: ConnectionBrief
    datasets: list[DatasetOut]
    problems: list[ProblemOut] = Field(description="The connection's problems, worst first.")


class ResultColumnOut(BaseModel):
    name: str
    type: str


class RowsOut(BaseModel):
    """One page of a dataset's rows, and where they came from."""

    connection_id: str
    dataset: str
    columns: list[ResultColumnOut]
    rows: list[list[Any]]
    total: int = Field(description="Rows matching the time range, over every page.")
    limit: int
    offset: int
    sort: str
    order: Literal["asc", "desc"]
    created_from: str | None
    created_to: str | None
    source: Literal["live", "cache"]
    as_of: str | None = Field(description="When the data was read from Stripe.")
    requests: int = Field(description="Stripe requests made for this page (live only).")
    notes: list[str]
    problem: ProblemOut | None = Field(
        description="Set when there is nothing to show, with why (e.g. no data in this mode)."
    )


class DatasetProgressOut(BaseModel):
    object: str
    label: str
    strategy: str = Field(description="full, events, created or kept.")
    reason: str
    status: str = Field(description="waiting, reading, applying, done, blocked or failed.")
    records_read: int
    pages: int
    upserted: int
    deleted: int
    refetched: int
    rows: int | None
    seconds: float
    records_per_second: float
    error: str | None
    fix: str | None


class JobError(BaseModel):
    message: str
    fix: str


class RefreshJobOut(BaseModel):
    """A refresh started from the web app, and how far it has got."""

    id: str = Field(description="The id to poll at /api/v1/refreshes/{id}.")
    connection_id: str
    connection: str
    state: Literal["running", "ok", "partial", "failed", "stopped"]
    stage: str = Field(description="What the refresh is doing, in a few words.")
    full: bool
    started_at: str | None
    finished_at: str | None
    elapsed_seconds: float
    records: int
    requests: int
    records_per_second: float
    datasets: list[DatasetProgressOut]
    error: JobError | None
    run_id: str | None = Field(description="The run in the connection's history, once ended.")


class RefreshStart(BaseModel):
    full: StrictBool = Field(
        default=False,
        description="Read every object again in full instead of only what changed.",
    )


class RefreshState(BaseModel):
    """A connection's refresh as the page shows it: the web app's job and the last run."""

    job: RefreshJobOut | None = Field(description="The newest refresh this server started.")
    last_run: dict[str, Any] | None = Field(
        description="The newest run in the connection's history (also scheduled ones)."
    )
