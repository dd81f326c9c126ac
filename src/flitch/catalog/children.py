"""The child tables: records nested in an object, kept as tables of their own.

Some objects carry lists of records of their own (a subscription's items, an invoice's lines).
A ``ChildSpec`` on the object describes them as a *child table*: written with the parent's rows,
typed like any dataset, one row per nested record, so metrics read columns instead of parsing
the JSON of every object on every query. Child tables are not datasets a user picks; they come
with their parent (``CHILDREN`` lists them, ``dataset_of`` names a child table's parent).
"""

from __future__ import annotations

from flitch.catalog.model import ChildSpec, T, _c

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
        _c(
            "quantity",
            T.INTEGER,
            "How many units were billed, decimals cut off (Stripe means to deprecate it for "
            "quantity_decimal).",
        ),
        _c(
            "quantity_decimal",
            T.FLOAT,
            "How many units were billed, with up to 12 decimals (Stripe's decimal string).",
        ),
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
