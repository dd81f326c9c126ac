"""The values Stripe's list filters accept, for the filters whose values are enumerated.

Stripe answers a list request whose filter holds any other value with a 400 (``status=Active``
and ``status=bogus`` on subscriptions, ``status=deleted`` on invoices), so a live query pushes
``column = value`` down only for a value listed here and leaves every other to its SQL, which
then answers what is true: no rows. Values are compared as given: Stripe is case-sensitive, and
so is the SQL.

Each set is the values the pinned API version's list parameter accepts *and* the column can
hold. Subscriptions' ``status`` also takes ``all`` and ``ended``, but no subscription has either
status: pushed down, ``WHERE status = 'all'`` would read every subscription to find none.
Payouts' ``status`` is documented for four of a payout's five statuses (not ``in_transit``).

Why a copy, not a read of the SDK at run time: the SDK keeps these values in the annotations of
its private ``stripe.params._<object>_list_params`` modules (and, for payouts' ``status`` and
balance transactions' ``type``, only in a docstring); code importing those would break on an SDK
release that moves them, and would change what Flitch sends when the SDK is upgraded without the
pinned API version changing. A copy changes only with a deliberate edit, and
``tests/test_catalog_sdk.py`` compares it with the SDK's definitions, so it cannot drift
unnoticed.
"""

from __future__ import annotations

#: A boolean filter (``active``), as Stripe's query string writes it.
BOOLEAN: frozenset[str] = frozenset({"true", "false"})

SUBSCRIPTION_STATUSES: frozenset[str] = frozenset(
    {
        "active",
        "canceled",
        "incomplete",
        "incomplete_expired",
        "past_due",
        "paused",
        "trialing",
        "unpaid",
    }
)

INVOICE_STATUSES: frozenset[str] = frozenset({"draft", "open", "paid", "uncollectible", "void"})

PAYOUT_STATUSES: frozenset[str] = frozenset({"canceled", "failed", "paid", "pending"})

BALANCE_TRANSACTION_TYPES: frozenset[str] = frozenset(
    {
        "adjustment",
        "advance",
        "advance_funding",
        "anticipation_repayment",
        "application_fee",
        "application_fee_refund",
        "charge",
        "climate_order_purchase",
        "climate_order_refund",
        "connect_collection_transfer",
        "contribution",
        "fee_credit_funding",
        "inbound_transfer",
        "inbound_transfer_reversal",
        "issuing_authorization_hold",
        "issuing_authorization_release",
        "issuing_dispute",
        "issuing_dispute_provisional_credit",
        "issuing_dispute_provisional_credit_reversal",
        "issuing_transaction",
        "obligation_outbound",
        "obligation_reversal_inbound",
        "payment",
        "payment_failure_refund",
        "payment_network_reserve_hold",
        "payment_network_reserve_release",
        "payment_refund",
        "payment_reversal",
        "payment_unreconciled",
        "payout",
        "payout_cancel",
        "payout_failure",
        "payout_minimum_balance_hold",
        "payout_minimum_balance_release",
        "refund",
        "refund_failure",
        "reserve_hold",
        "reserve_release",
        "reserve_transaction",
        "reserved_funds",
        "stripe_balance_payment_debit",
        "stripe_balance_payment_debit_reversal",
        "stripe_fee",
        "stripe_fx_fee",
        "tax_fee",
        "tax_fund",
        "topup",
        "topup_reversal",
        "transfer",
        "transfer_cancel",
        "transfer_failure",
        "transfer_refund",
    }
)
