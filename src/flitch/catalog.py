"""The twelve Stripe objects Flitch reads, as data.

This module is the one place that knows what a Stripe object looks like to Flitch: its list
endpoint, the restricted-key permission that guards it (with the label Stripe's dashboard shows),
the list parameters needed to see *every* record (Stripe hides some by default), the filters a
live query can push down to Stripe, the events that announce its changes, and the dataset columns
with their types and where each value lives in the JSON of the pinned API version.

Adding an object is one entry in ``OBJECTS``; tests and docs iterate over it.

Some objects carry lists of records of their own (a subscription's items, an invoice's lines).
A ``ChildSpec`` on the object describes them as a *child table*: written with the parent's rows,
typed like any dataset, one row per nested record, so metrics read columns instead of parsing
the JSON of every object on every query. Child tables are not datasets a user picks; they come
with their parent (``CHILDREN`` lists them, ``dataset_of`` names a child table's parent).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class ColumnType(StrEnum):
    """How a dataset column is typed at rest."""

    TEXT = "text"
    INTEGER = "integer"
    #: an integer in the currency's smallest unit (cents; whole yen for JPY)
    AMOUNT = "amount"
    FLOAT = "float"
    BOOLEAN = "boolean"
    #: Unix seconds in Stripe, a UTC timestamp at rest
    TIMESTAMP = "timestamp"
    JSON = "json"


@dataclass(frozen=True)
class Column:
    """One dataset column: its name, type and where it lives in the Stripe object.

    ``path`` is a dotted path into the object; a numeric part indexes a list
    (``items.data.0.price.id``); an empty path is the whole object. When a text column finds an
    expanded object, its ``id`` is used. ``flitch.store.flatten`` reads the values (in DuckDB,
    from each object's JSON) and says exactly how each type is read.
    """

    name: str
    type: ColumnType
    path: str
    description: str
    #: Paths tried in turn when ``path`` holds nothing: where older API versions kept the value.
    fallbacks: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChildSpec:
    """Records nested in each object of a dataset, kept as a table of their own.

    The table has the column ``key`` (the parent object's id) first, then ``parent_fields``
    (read from the parent: e.g. when it was created, so its records can be narrowed by that
    date without a join), then ``fields`` read from each record (paths relative to the record),
    and, for a ``paged`` list, ``truncated``. A record that is a bare id (an expandable field
    left unexpanded) is read as ``{"id": …}``.

    ``path`` is where the list is in the parent. A ``paged`` list is Stripe's list envelope
    (``{"data": […], "has_more": …}``): when ``has_more`` is true Stripe embedded only the first
    records and the others are not in the table; ``truncated`` is true on the rows of such a
    parent. Otherwise ``path`` is a plain array.
    """

    name: str
    label: str
    description: str
    path: str
    key: str
    key_description: str
    fields: tuple[Column, ...]
    paged: bool = False
    parent_fields: tuple[Column, ...] = ()

    @property
    def columns(self) -> tuple[Column, ...]:
        key = Column(self.key, ColumnType.TEXT, "id", self.key_description)
        if not self.paged:
            return (key, *self.parent_fields, *self.fields)
        truncated = Column(
            "truncated",
            ColumnType.BOOLEAN,
            f"{self.path}.has_more",
            "True when Stripe embedded only part of the parent's list (has_more): the other "
            "records are not in this table.",
        )
        return (key, *self.parent_fields, *self.fields, truncated)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True)
class Filter:
    """A list parameter a live query can push down to Stripe: ``column = value``."""

    column: str
    param: str


@dataclass(frozen=True)
class ObjectSpec:
    """One of the objects a connection can pick; each becomes a dataset."""

    name: str
    label: str
    object_type: str
    list_path: str
    permission: str
    permission_label: str
    columns: tuple[Column, ...]
    #: One parameter set per read needed to see every record; the reads' results are disjoint.
    #: Stripe hides canceled subscriptions without ``status=all`` and inactive prices without
    #: ``active``, so those objects need these to be complete.
    list_variants: tuple[Mapping[str, str], ...] = ({},)
    filters: tuple[Filter, ...] = ()
    #: ``expand[]`` values every read asks for, so dashboards have what they need in one list
    #: (subscription discounts as objects; the tiers of tiered prices).
    expand: tuple[str, ...] = ()
    #: Event types whose ``data.object`` is this object. Empty: no events (never changes).
    event_types: tuple[str, ...] = ()
    #: The event type that announces a deletion, if Stripe deletes this object.
    deleted_event: str | None = None
    #: Whether a record can change after it is created (balance transactions never do).
    mutable: bool = True
    #: Words the seed uses for this object's fields (Records, email, balance, …).
    seed_fields: tuple[str, ...] = field(default=())
    #: Records nested in the object kept as child tables, written with the dataset's rows.
    children: tuple[ChildSpec, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


T = ColumnType


def _c(
    name: str,
    type_: ColumnType,
    description: str,
    path: str | None = None,
    fallbacks: tuple[str, ...] = (),
) -> Column:
    return Column(
        name=name, type=type_, path=path or name, description=description, fallbacks=fallbacks
    )


def _common_head() -> tuple[Column, ...]:
    return (
        _c("id", T.TEXT, "Stripe's identifier; the dataset's primary key."),
        _c("created", T.TIMESTAMP, "When the object was created (UTC)."),
        _c("livemode", T.BOOLEAN, "True for live-mode data, false for test mode."),
    )


def _common_tail() -> tuple[Column, ...]:
    return (
        _c("metadata", T.JSON, "Your own key-value pairs set on the object."),
        Column("raw", T.JSON, "", "The whole object as Stripe returned it."),
    )


def _columns(*middle: Column) -> tuple[Column, ...]:
    return (*_common_head(), *middle, *_common_tail())


# -- child tables ----------------------------------------------------------------------------------
INVOICE_LINES = ChildSpec(
    name="invoice_lines",
    label="Invoice lines",
    description="One row per line of each invoice: what was billed, for which price and period.",
    path="lines",
    key="invoice",
    key_description="The invoice's id.",
    paged=True,
    parent_fields=(
        _c(
            "invoice_created",
            T.TIMESTAMP,
            "When the invoice was created (narrows lines by the invoice's date without a join).",
            "created",
        ),
    ),
    fields=(
        _c("id", T.TEXT, "The line's id."),
        _c(
            "type",
            T.TEXT,
            "subscription_item_details or invoice_item_details (before API 2025-03-31: "
            "subscription or invoiceitem).",
            "parent.type",
            ("type",),
        ),
        _c(
            "subscription",
            T.TEXT,
            "The subscription that billed the line, if any.",
            "parent.subscription_item_details.subscription",
            ("parent.invoice_item_details.subscription", "subscription"),
        ),
        _c(
            "subscription_item",
            T.TEXT,
            "The subscription item that billed the line, if any.",
            "parent.subscription_item_details.subscription_item",
            ("subscription_item",),
        ),
        _c(
            "price",
            T.TEXT,
            "The price billed (under pricing since API 2025-03-31).",
            "pricing.price_details.price",
            ("price", "plan"),
        ),
        _c(
            "product",
            T.TEXT,
            "The price's product.",
            "pricing.price_details.product",
            ("price.product", "plan.product"),
        ),
        _c("amount", T.AMOUNT, "The line's amount, before discounts and taxes."),
        _c("currency", T.TEXT, "Three-letter ISO currency code, lowercase."),
        _c("quantity", T.INTEGER, "How many units were billed."),
        _c("period_start", T.TIMESTAMP, "Start of the period the line bills.", "period.start"),
        _c("period_end", T.TIMESTAMP, "End of the period the line bills.", "period.end"),
        _c(
            "proration",
            T.BOOLEAN,
            "True for a proration (a plan change part-way through a period).",
            "parent.subscription_item_details.proration",
            ("parent.invoice_item_details.proration", "proration"),
        ),
        _c("description", T.TEXT, "The text customers see on the line."),
    ),
)

INVOICE_DISCOUNT_AMOUNTS = ChildSpec(
    name="invoice_discount_amounts",
    label="Invoice discount amounts",
    description="How much each discount took off each invoice (total_discount_amounts).",
    path="total_discount_amounts",
    key="invoice",
    key_description="The invoice's id (amounts are in its currency).",
    fields=(
        _c("discount", T.TEXT, "The discount's id (a subscription's discount, for instance)."),
        _c("amount", T.AMOUNT, "The amount taken off, in the invoice's currency."),
    ),
)

SUBSCRIPTION_ITEMS = ChildSpec(
    name="subscription_items",
    label="Subscription items",
    description="One row per item of each subscription: its price as the subscription embeds "
    "it, quantity and current period.",
    path="items",
    key="subscription",
    key_description="The subscription's id.",
    paged=True,
    fields=(
        _c("id", T.TEXT, "The item's id."),
        _c("created", T.TIMESTAMP, "When the item was added."),
        _c("price", T.TEXT, "The price's id."),
        _c("product", T.TEXT, "The price's product.", "price.product"),
        _c("currency", T.TEXT, "The price's currency.", "price.currency"),
        _c(
            "unit_amount",
            T.AMOUNT,
            "Amount per unit (empty for tiered prices).",
            "price.unit_amount",
        ),
        _c("billing_scheme", T.TEXT, "per_unit or tiered.", "price.billing_scheme"),
        _c(
            "tiers_mode",
            T.TEXT,
            "graduated or volume, for tiered prices (their tiers are in prices).",
            "price.tiers_mode",
        ),
        _c("price_type", T.TEXT, "one_time or recurring.", "price.type"),
        _c(
            "recurring_interval",
            T.TEXT,
            "day, week, month or year.",
            "price.recurring.interval",
        ),
        _c(
            "recurring_interval_count",
            T.INTEGER,
            "Intervals between bills (3 with month: quarterly).",
            "price.recurring.interval_count",
        ),
        _c(
            "recurring_usage_type",
            T.TEXT,
            "licensed (per seat) or metered (per use).",
            "price.recurring.usage_type",
        ),
        _c("quantity", T.INTEGER, "How many units of the price."),
        _c(
            "current_period_start",
            T.TIMESTAMP,
            "Start of the item's current period (on items since API 2025-03-31).",
        ),
        _c("current_period_end", T.TIMESTAMP, "End of the item's current period."),
    ),
)

SUBSCRIPTION_DISCOUNTS = ChildSpec(
    name="subscription_discounts",
    label="Subscription discounts",
    description="One row per discount applied to each subscription, with its coupon.",
    path="discounts",
    key="subscription",
    key_description="The subscription's id.",
    fields=(
        _c("id", T.TEXT, "The discount's id."),
        _c(
            "coupon",
            T.TEXT,
            "The coupon's id (source.coupon in the pinned API version; coupon before).",
            "source.coupon",
            ("coupon",),
        ),
        _c("started_at", T.TIMESTAMP, "When the discount started.", "start"),
        _c(
            "ends_at",
            T.TIMESTAMP,
            "When a repeating coupon's discount ends (empty otherwise).",
            "end",
        ),
    ),
)


OBJECTS: tuple[ObjectSpec, ...] = (
    ObjectSpec(
        name="customers",
        label="Customers",
        object_type="customer",
        list_path="/v1/customers",
        permission="rak_customer_read",
        permission_label="Read Customers",
        seed_fields=("Records", "email", "balance", "currency", "timestamps"),
        columns=_columns(
            _c("email", T.TEXT, "The customer's email address."),
            _c("name", T.TEXT, "The customer's full name or business name."),
            _c("balance", T.AMOUNT, "Credit (negative) or amount owed (positive) on invoices."),
            _c("currency", T.TEXT, "Default currency for recurring billing."),
            _c("delinquent", T.BOOLEAN, "Whether the latest invoice payment failed."),
            _c("description", T.TEXT, "Free-text description."),
        ),
        filters=(Filter("email", "email"),),
        event_types=("customer.created", "customer.updated", "customer.deleted"),
        deleted_event="customer.deleted",
    ),
    ObjectSpec(
        name="charges",
        label="Charges",
        object_type="charge",
        list_path="/v1/charges",
        permission="rak_charge_read",
        permission_label="Read Charges",
        seed_fields=("Records", "amount", "status", "customer", "timestamps"),
        columns=_columns(
            _c("amount", T.AMOUNT, "Amount intended to be collected."),
            _c("amount_captured", T.AMOUNT, "Amount actually captured."),
            _c("amount_refunded", T.AMOUNT, "Amount refunded so far (partial refunds included)."),
            _c("currency", T.TEXT, "Three-letter ISO currency code, lowercase."),
            _c("status", T.TEXT, "succeeded, pending or failed."),
            _c("paid", T.BOOLEAN, "True if the charge succeeded or was authorised."),
            _c("refunded", T.BOOLEAN, "True only when fully refunded."),
            _c("disputed", T.BOOLEAN, "True if the charge has been disputed."),
            _c("captured", T.BOOLEAN, "True if the charge has been captured."),
            _c("customer", T.TEXT, "The customer's id."),
            _c("payment_intent", T.TEXT, "The payment intent's id."),
            _c("balance_transaction", T.TEXT, "The balance transaction that moved the money."),
            _c("failure_code", T.TEXT, "Why the charge failed, if it did."),
            _c("description", T.TEXT, "Free-text description."),
        ),
        filters=(Filter("customer", "customer"), Filter("payment_intent", "payment_intent")),
        event_types=(
            "charge.captured",
            "charge.expired",
            "charge.failed",
            "charge.pending",
            "charge.refunded",
            "charge.succeeded",
            "charge.updated",
        ),
    ),
    ObjectSpec(
        name="payment_intents",
        label="Payment Intents",
        object_type="payment_intent",
        list_path="/v1/payment_intents",
        permission="rak_payment_intent_read",
        permission_label="Read PaymentIntents",
        seed_fields=("Records", "amount", "status", "customer", "timestamps"),
        columns=_columns(
            _c("amount", T.AMOUNT, "Amount intended to be collected."),
            _c("amount_received", T.AMOUNT, "Amount received."),
            _c("currency", T.TEXT, "Three-letter ISO currency code, lowercase."),
            _c("status", T.TEXT, "requires_payment_method, processing, succeeded, canceled, …"),
            _c("customer", T.TEXT, "The customer's id."),
            _c("latest_charge", T.TEXT, "The most recent charge's id."),
            _c("description", T.TEXT, "Free-text description."),
        ),
        filters=(Filter("customer", "customer"),),
        event_types=(
            "payment_intent.amount_capturable_updated",
            "payment_intent.canceled",
            "payment_intent.created",
            "payment_intent.partially_funded",
            "payment_intent.payment_failed",
            "payment_intent.processing",
            "payment_intent.requires_action",
            "payment_intent.succeeded",
        ),
    ),
    ObjectSpec(
        name="invoices",
        label="Invoices",
        object_type="invoice",
        list_path="/v1/invoices",
        permission="rak_invoice_read",
        permission_label="Read Invoices",
        seed_fields=("Records", "total", "status", "customer", "timestamps"),
        columns=_columns(
            _c("total", T.AMOUNT, "Total after discounts and taxes."),
            _c("subtotal", T.AMOUNT, "Total before discounts and taxes."),
            _c("amount_due", T.AMOUNT, "Final amount due."),
            _c("amount_paid", T.AMOUNT, "Amount paid."),
            _c("amount_remaining", T.AMOUNT, "Amount still to be paid."),
            _c("currency", T.TEXT, "Three-letter ISO currency code, lowercase."),
            _c("status", T.TEXT, "draft, open, paid, uncollectible or void."),
            _c("customer", T.TEXT, "The customer's id."),
            _c(
                "subscription",
                T.TEXT,
                "The subscription billed, if any (moved under parent in API 2025-03-31).",
                "parent.subscription_details.subscription",
            ),
            _c("number", T.TEXT, "The invoice number customers see."),
            _c("billing_reason", T.TEXT, "Why the invoice was created."),
            _c("period_start", T.TIMESTAMP, "Start of the usage period billed."),
            _c("period_end", T.TIMESTAMP, "End of the usage period billed."),
            _c("due_date", T.TIMESTAMP, "When payment is due (send_invoice collection)."),
            _c(
                "finalized_at",
                T.TIMESTAMP,
                "When it left draft.",
                "status_transitions.finalized_at",
            ),
            _c("paid_at", T.TIMESTAMP, "When it was paid.", "status_transitions.paid_at"),
            _c("voided_at", T.TIMESTAMP, "When it was voided.", "status_transitions.voided_at"),
            _c(
                "attempted",
                T.BOOLEAN,
                "Whether a payment was attempted (an open one charged automatically: it failed).",
            ),
        ),
        filters=(
            Filter("status", "status"),
            Filter("subscription", "subscription"),
            Filter("customer", "customer"),
        ),
        event_types=(
            "invoice.created",
            "invoice.deleted",
            "invoice.finalization_failed",
            "invoice.finalized",
            "invoice.marked_uncollectible",
            "invoice.overdue",
            "invoice.overpaid",
            "invoice.paid",
            "invoice.payment_action_required",
            "invoice.payment_failed",
            "invoice.payment_succeeded",
            "invoice.sent",
            "invoice.updated",
            "invoice.voided",
            "invoice.will_be_due",
        ),
        deleted_event="invoice.deleted",
        children=(INVOICE_LINES, INVOICE_DISCOUNT_AMOUNTS),
    ),
    ObjectSpec(
        name="subscriptions",
        label="Subscriptions",
        object_type="subscription",
        list_path="/v1/subscriptions",
        permission="rak_subscription_read",
        permission_label="Read Subscriptions",
        seed_fields=("Records", "status", "plan", "customer", "timestamps"),
        list_variants=({"status": "all"},),
        expand=("data.discounts",),
        columns=_columns(
            _c("status", T.TEXT, "incomplete, trialing, active, past_due, canceled, unpaid, …"),
            _c("customer", T.TEXT, "The customer's id."),
            _c("currency", T.TEXT, "Three-letter ISO currency code, lowercase."),
            _c("price", T.TEXT, "The first item's price (the plan).", "items.data.0.price.id"),
            _c("product", T.TEXT, "The first item's product.", "items.data.0.price.product"),
            _c("quantity", T.INTEGER, "The first item's quantity.", "items.data.0.quantity"),
            _c(
                "current_period_start",
                T.TIMESTAMP,
                "Start of the first item's current period (on items since API 2025-03-31).",
                "items.data.0.current_period_start",
            ),
            _c(
                "current_period_end",
                T.TIMESTAMP,
                "End of the first item's current period.",
                "items.data.0.current_period_end",
            ),
            _c("start_date", T.TIMESTAMP, "When the subscription started."),
            _c("cancel_at", T.TIMESTAMP, "When it is scheduled to cancel."),
            _c("cancel_at_period_end", T.BOOLEAN, "Cancels at the end of the period."),
            _c("canceled_at", T.TIMESTAMP, "When cancellation was requested."),
            _c("ended_at", T.TIMESTAMP, "When it ended."),
            _c("trial_start", T.TIMESTAMP, "Start of the trial."),
            _c("trial_end", T.TIMESTAMP, "End of the trial."),
            _c("items", T.JSON, "Every item: price, quantity, period.", "items.data"),
            _c("discounts", T.JSON, "Discounts applied, with the coupon of each (source.coupon)."),
        ),
        filters=(
            Filter("status", "status"),
            Filter("price", "price"),
            Filter("customer", "customer"),
        ),
        event_types=(
            "customer.subscription.created",
            "customer.subscription.deleted",
            "customer.subscription.paused",
            "customer.subscription.pending_update_applied",
            "customer.subscription.pending_update_expired",
            "customer.subscription.resumed",
            "customer.subscription.trial_will_end",
            "customer.subscription.updated",
        ),
        children=(SUBSCRIPTION_ITEMS, SUBSCRIPTION_DISCOUNTS),
    ),
    ObjectSpec(
        name="products",
        label="Products",
        object_type="product",
        list_path="/v1/products",
        permission="rak_product_read",
        permission_label="Read Products",
        seed_fields=("Records", "name", "active", "timestamps"),
        columns=_columns(
            _c("name", T.TEXT, "The product's name, shown to customers."),
            _c("active", T.BOOLEAN, "Whether it can be bought."),
            _c("description", T.TEXT, "Free-text description."),
            _c("updated", T.TIMESTAMP, "When it was last changed."),
        ),
        filters=(Filter("active", "active"),),
        event_types=("product.created", "product.updated", "product.deleted"),
        deleted_event="product.deleted",
    ),
    ObjectSpec(
        name="prices",
        label="Prices",
        object_type="price",
        list_path="/v1/prices",
        permission="rak_plan_read",
        permission_label="Read Prices",
        seed_fields=("Records", "amount", "currency", "product", "timestamps"),
        list_variants=({"active": "true"}, {"active": "false"}),
        expand=("data.tiers",),
        columns=_columns(
            _c("unit_amount", T.AMOUNT, "Amount per unit (empty for tiered prices)."),
            _c("currency", T.TEXT, "Three-letter ISO currency code, lowercase."),
            _c("product", T.TEXT, "The product's id."),
            _c("active", T.BOOLEAN, "Whether it can be used for new purchases."),
            _c("type", T.TEXT, "one_time or recurring."),
            _c("billing_scheme", T.TEXT, "per_unit or tiered."),
            _c("recurring_interval", T.TEXT, "day, week, month or year.", "recurring.interval"),
            _c(
                "recurring_interval_count",
                T.INTEGER,
                "Intervals between bills (3 with month: quarterly).",
                "recurring.interval_count",
            ),
            _c(
                "recurring_usage_type",
                T.TEXT,
                "licensed (per seat) or metered (per use).",
                "recurring.usage_type",
            ),
            _c("tiers_mode", T.TEXT, "graduated or volume, for tiered prices."),
            _c("tiers", T.JSON, "The tiers of a tiered price."),
            _c("nickname", T.TEXT, "A name for the price, hidden from customers."),
        ),
        filters=(Filter("active", "active"), Filter("product", "product")),
        event_types=("price.created", "price.updated", "price.deleted"),
        deleted_event="price.deleted",
    ),
    ObjectSpec(
        name="payouts",
        label="Payouts",
        object_type="payout",
        list_path="/v1/payouts",
        permission="rak_payout_read",
        permission_label="Read Payouts",
        seed_fields=("Records", "amount", "status", "arrival date", "timestamps"),
        columns=_columns(
            _c("amount", T.AMOUNT, "Amount paid out to the bank account."),
            _c("currency", T.TEXT, "Three-letter ISO currency code, lowercase."),
            _c("status", T.TEXT, "paid, pending, in_transit, canceled or failed."),
            _c("arrival_date", T.TIMESTAMP, "When it is expected in the bank."),
            _c("automatic", T.BOOLEAN, "Made by Stripe's automatic schedule."),
            _c("method", T.TEXT, "standard or instant."),
            _c("balance_transaction", T.TEXT, "The balance transaction of the payout."),
        ),
        filters=(Filter("status", "status"),),
        event_types=(
            "payout.canceled",
            "payout.created",
            "payout.failed",
            "payout.paid",
            "payout.reconciliation_completed",
            "payout.updated",
        ),
    ),
    ObjectSpec(
        name="balance_transactions",
        label="Balance Transactions",
        object_type="balance_transaction",
        list_path="/v1/balance_transactions",
        permission="rak_balance_transaction_source_read",
        permission_label="Read Balance",
        seed_fields=("Records", "amount", "type", "fee", "net", "timestamps"),
        columns=_columns(
            _c("amount", T.AMOUNT, "Gross amount, signed (negative for money out)."),
            _c("fee", T.AMOUNT, "Fees paid for this transaction."),
            _c("net", T.AMOUNT, "amount − fee."),
            _c("currency", T.TEXT, "Three-letter ISO currency code, lowercase."),
            _c("type", T.TEXT, "charge, refund, adjustment, payout, stripe_fee, …"),
            _c("reporting_category", T.TEXT, "charge, refund, dispute, payout, fee, …"),
            _c("status", T.TEXT, "available or pending."),
            _c("available_on", T.TIMESTAMP, "When the money becomes available."),
            _c("source", T.TEXT, "The charge, refund, dispute or payout behind it."),
            _c("description", T.TEXT, "Free-text description."),
        ),
        filters=(Filter("type", "type"),),
        mutable=False,
    ),
    ObjectSpec(
        name="disputes",
        label="Disputes",
        object_type="dispute",
        list_path="/v1/disputes",
        permission="rak_dispute_read",
        permission_label="Read Disputes",
        seed_fields=("Records", "amount", "status", "reason", "timestamps"),
        columns=_columns(
            _c("amount", T.AMOUNT, "Disputed amount."),
            _c("currency", T.TEXT, "Three-letter ISO currency code, lowercase."),
            _c("status", T.TEXT, "needs_response, under_review, won, lost, …"),
            _c("reason", T.TEXT, "fraudulent, duplicate, product_not_received, …"),
            _c("charge", T.TEXT, "The disputed charge."),
            _c("payment_intent", T.TEXT, "The disputed payment intent."),
        ),
        filters=(Filter("charge", "charge"), Filter("payment_intent", "payment_intent")),
        event_types=(
            "charge.dispute.closed",
            "charge.dispute.created",
            "charge.dispute.funds_reinstated",
            "charge.dispute.funds_withdrawn",
            "charge.dispute.updated",
        ),
    ),
    ObjectSpec(
        name="credit_notes",
        label="Credit Notes",
        object_type="credit_note",
        list_path="/v1/credit_notes",
        permission="rak_credit_note_read",
        permission_label="Read Credit notes",
        seed_fields=("Records", "total", "status", "invoice", "timestamps"),
        columns=_columns(
            _c("total", T.AMOUNT, "Total credited, tax included."),
            _c("amount", T.AMOUNT, "Amount credited."),
            _c("currency", T.TEXT, "Three-letter ISO currency code, lowercase."),
            _c("status", T.TEXT, "issued or void."),
            _c("type", T.TEXT, "pre_payment or post_payment."),
            _c("reason", T.TEXT, "duplicate, fraudulent, order_change, product_unsatisfactory."),
            _c("invoice", T.TEXT, "The invoice credited."),
            _c("customer", T.TEXT, "The customer's id."),
            _c("voided_at", T.TIMESTAMP, "When it was voided."),
        ),
        filters=(Filter("invoice", "invoice"), Filter("customer", "customer")),
        event_types=("credit_note.created", "credit_note.updated", "credit_note.voided"),
    ),
    ObjectSpec(
        name="coupons",
        label="Coupons",
        object_type="coupon",
        list_path="/v1/coupons",
        permission="rak_coupon_read",
        permission_label="Read Coupons",
        seed_fields=("Records", "amount off", "percent off", "duration", "timestamps"),
        columns=_columns(
            _c("name", T.TEXT, "The coupon's name, shown to customers."),
            _c("amount_off", T.AMOUNT, "Amount taken off, in the coupon's currency."),
            _c("currency", T.TEXT, "Currency of amount_off."),
            _c("percent_off", T.FLOAT, "Percentage taken off."),
            _c("duration", T.TEXT, "forever, once or repeating."),
            _c("duration_in_months", T.INTEGER, "Months a repeating coupon lasts."),
            _c("valid", T.BOOLEAN, "Whether it can still be applied."),
            _c("times_redeemed", T.INTEGER, "How many times it has been applied."),
            _c("max_redemptions", T.INTEGER, "The most times it may be applied."),
        ),
        event_types=("coupon.created", "coupon.updated", "coupon.deleted"),
        deleted_event="coupon.deleted",
    ),
)

#: Read Events is not a dataset, but a key that has it allows exact incremental refreshes.
EVENTS_PATH = "/v1/events"
EVENTS_PERMISSION = "rak_event_read"
EVENTS_PERMISSION_LABEL = "Read Events"
#: Stripe keeps events for this many days; an older refresh cursor needs a full read.
EVENTS_RETENTION_DAYS = 30

BY_NAME: Mapping[str, ObjectSpec] = {o.name: o for o in OBJECTS}
BY_OBJECT_TYPE: Mapping[str, ObjectSpec] = {o.object_type: o for o in OBJECTS}
BY_EVENT_TYPE: Mapping[str, ObjectSpec] = {e: o for o in OBJECTS for e in o.event_types}
NAMES: tuple[str, ...] = tuple(o.name for o in OBJECTS)
#: Every child table, and the dataset each belongs to.
CHILDREN: tuple[ChildSpec, ...] = tuple(c for o in OBJECTS for c in o.children)
PARENT_OF: Mapping[str, ObjectSpec] = {c.name: o for o in OBJECTS for c in o.children}


def get(name: str) -> ObjectSpec:
    """The object called ``name`` (e.g. ``"charges"``), or a ``KeyError`` listing valid names."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown object {name!r}; expected one of: {', '.join(NAMES)}") from None


def dataset_of(table: str) -> ObjectSpec | None:
    """The dataset a table belongs to: itself for a dataset, the parent for a child table."""
    return BY_NAME.get(table) or PARENT_OF.get(table)
