"""The seeded account's catalog: products, prices (in usd, eur, gbp and jpy) and coupons.

Plans come in families (Starter, Pro, Team…) billed weekly, monthly, quarterly or yearly; some
per seat, some tiered (graduated and volume), some metered. A few prices and products are
retired (inactive) but still billed to the subscriptions that started on them. Coupons cover
every duration and both kinds (percent off, amount off in one currency); one is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flitch.emulator import shapes
from flitch.emulator.operations import DAY, Sink
from flitch.emulator.shapes import Obj, new_id

CURRENCIES = ("usd", "eur", "gbp", "jpy")
#: Rough exchange rates from US cents to each currency's minor unit.
RATES = {"usd": 1.0, "eur": 0.92, "gbp": 0.79, "jpy": 1.5}


def convert(usd_cents: int, currency: str) -> int:
    """A price point in another currency, rounded the way people price things."""
    raw = usd_cents * RATES[currency]
    if currency == "usd" or usd_cents < 100:
        return max(1, round(raw))
    step = 100 if currency != "jpy" else (10 if raw < 1000 else 100)
    return max(step, round(raw / step) * step)


@dataclass(frozen=True)
class Family:
    """One product and how it is priced."""

    key: str
    name: str
    description: str
    #: (interval, interval_count, amount in US cents); interval None: a one-time price.
    points: tuple[tuple[str | None, int, int], ...]
    currencies: tuple[str, ...] = CURRENCIES
    unit_label: str | None = None
    seats: bool = False
    metered: bool = False
    #: (up_to, unit amount, flat amount) in US cents; with ``tiers_mode``.
    tiers: tuple[tuple[int | None, int, int | None], ...] = ()
    tiers_mode: str | None = None
    #: Days before ``now`` the product was made (and its prices), and retired (None: still sold).
    made: int = 760
    retired: int | None = None
    weight: int = 0


FAMILIES: tuple[Family, ...] = (
    Family("starter", "Starter", "For individuals getting started.",
           (("month", 1, 1200), ("year", 1, 12000)), weight=30),
    Family("pro_2024", "Pro", "For growing teams that need more.",
           (("month", 1, 3900),), retired=300, weight=26),
    Family("pro", "Pro", "For growing teams that need more.",
           (("month", 1, 4900), ("year", 1, 49000), ("month", 3, 13900)), made=300, weight=26),
    Family("team", "Team", "Per-seat plan for teams.",
           (("month", 1, 1500), ("year", 1, 15000)), unit_label="seat", seats=True, weight=14),
    Family("enterprise", "Enterprise", "Volume seats with graduated pricing.",
           (("month", 1, 0),), currencies=("usd", "eur", "gbp"), unit_label="seat", seats=True,
           tiers=((10, 3000, 5000), (50, 2500, None), (None, 2000, None)),
           tiers_mode="graduated", weight=3),
    Family("digest", "Weekly Insights", "A weekly report of your numbers.",
           (("week", 1, 500),), currencies=("usd", "eur"), weight=6),
    Family("legacy", "Basic (legacy)", "The original plan, no longer sold.",
           (("month", 1, 900),), currencies=("usd", "eur", "gbp"), retired=420, weight=8),
    Family("support", "Priority Support", "Add-on: answers within four hours.",
           (("month", 1, 9900),)),
    Family("api", "API Requests", "Metered: per thousand API requests.",
           (("month", 1, 0),), currencies=("usd", "eur", "gbp"), unit_label="1k requests",
           metered=True, tiers=((100, 50, None), (1000, 40, None), (None, 30, None)),
           tiers_mode="volume"),
    Family("storage", "Extra Storage", "Metered: per GB-month stored.",
           (("month", 1, 25),), currencies=("usd", "jpy"), unit_label="GB", metered=True),
    Family("onboarding", "Onboarding Session", "A one-hour guided setup call.",
           ((None, 1, 25000),)),
    Family("analytics", "Analytics Add-on", "Dashboards for your own customers.",
           (("month", 1, 1900),), currencies=("usd", "eur"), made=20),
)  # fmt: skip


@dataclass
class PriceInfo:
    """A price with what the generator needs to bill it."""

    stored: Obj
    public: Obj
    plan: Obj
    family: Family
    interval: str | None
    count: int
    since: int
    until: int | None

    @property
    def id(self) -> str:
        return str(self.stored["id"])

    @property
    def currency(self) -> str:
        return str(self.stored["currency"])

    def usable(self, t: int) -> bool:
        return self.since <= t and (self.until is None or t < self.until)


@dataclass
class CouponInfo:
    obj: Obj
    deleted_at: int | None = None
    redeemed: int = 0

    def usable(self, t: int, currency: str) -> bool:
        c = self.obj
        if c["created"] > t or (c["redeem_by"] is not None and t >= c["redeem_by"]):
            return False
        if self.deleted_at is not None and t >= self.deleted_at:
            return False
        if c["max_redemptions"] is not None and self.redeemed >= c["max_redemptions"]:
            return False
        return c["amount_off"] is None or c["currency"] == currency


@dataclass
class Catalog:
    products: dict[str, Obj] = field(default_factory=dict)
    prices: list[PriceInfo] = field(default_factory=list)
    coupons: list[CouponInfo] = field(default_factory=list)
    #: Products Stripe let us delete (no prices): (product, deleted at).
    deleted_products: list[tuple[Obj, int]] = field(default_factory=list)
    by_id: dict[str, PriceInfo] = field(default_factory=dict)

    def price(self, price_id: str) -> PriceInfo:
        return self.by_id[price_id]

    def find(
        self, family: str, currency: str, t: int, interval: str | None = None
    ) -> list[PriceInfo]:
        return [
            p
            for p in self.prices
            if p.family.key == family
            and p.currency == currency
            and p.usable(t)
            and (interval is None or p.interval == interval)
        ]


def build_catalog(sink: Sink, now: int, customers: int) -> Catalog:
    catalog = Catalog()
    rng = sink.rng
    product_ids: dict[str, str] = {}
    for fam in FAMILIES:
        made = now - fam.made * DAY - rng.randrange(DAY)
        retired = None if fam.retired is None else now - fam.retired * DAY
        product_id = product_ids.get(fam.name)
        if product_id is None:
            product_id = product_ids[fam.name] = new_id(rng, "prod_", 14)
            product = shapes.product(
                id=product_id,
                created=made,
                livemode=sink.livemode,
                name=fam.name,
                description=fam.description,
                active=retired is None or fam.key == "pro_2024",
                unit_label=fam.unit_label,
            )
            catalog.products[product_id] = product
            sink.add(product)
            sink.emit("product.created", product, made)
        for currency in fam.currencies:
            for interval, count, usd in fam.points:
                _add_price(
                    sink, catalog, fam, product_id, currency, interval, count, usd, made, retired
                )
    _extra_products(sink, catalog, now)
    _coupons(sink, catalog, now, customers)
    return catalog


def _add_price(
    sink: Sink,
    catalog: Catalog,
    fam: Family,
    product_id: str,
    currency: str,
    interval: str | None,
    count: int,
    usd: int,
    made: int,
    retired: int | None,
) -> None:
    tiers = [
        shapes.tier(
            up_to, convert(unit, currency), None if flat is None else convert(flat, currency)
        )
        for up_to, unit, flat in fam.tiers
    ]
    period = {None: "once", "week": "weekly", "year": "yearly"}.get(interval, "monthly")
    if interval == "month" and count == 3:
        period = "quarterly"
    stored = shapes.price(
        id=new_id(sink.rng, "price_"),
        created=made,
        livemode=sink.livemode,
        product=product_id,
        currency=currency,
        unit_amount=None if tiers else convert(usd, currency),
        interval=interval,
        interval_count=count,
        usage_type="metered" if fam.metered else "licensed",
        meter=new_id(sink.rng, "mtr_") if fam.metered else None,
        tiers_mode=fam.tiers_mode,
        tiers=tiers or None,
        nickname=f"{fam.name} {period}" + (" (2024)" if fam.key == "pro_2024" else ""),
        lookup_key=None if retired else f"{fam.key}_{period}_{currency}",
        active=retired is None,
    )
    public = shapes.public_price(stored)
    info = PriceInfo(
        stored=stored,
        public=public,
        plan=shapes.plan_of(public) if interval else {},
        family=fam,
        interval=interval,
        count=count,
        since=made,
        until=retired,
    )
    catalog.prices.append(info)
    catalog.by_id[info.id] = info
    sink.add(stored)
    sink.emit("price.created", stored, made)
    product = catalog.products[product_id]
    if product["default_price"] is None and currency == "usd" and retired is None:
        product["default_price"] = stored["id"]


def _extra_products(sink: Sink, catalog: Catalog, now: int) -> None:
    """A product never priced (deletable) and one deleted recently."""
    for name, days, deleted in (("Mobile App (beta)", 200, None), ("Desktop App", 90, 12)):
        made = now - days * DAY
        product = shapes.product(
            id=new_id(sink.rng, "prod_", 14),
            created=made,
            livemode=sink.livemode,
            name=name,
            description="Not for sale yet.",
            active=False,
        )
        catalog.products[product["id"]] = product
        sink.add(product)
        if deleted is not None:
            catalog.deleted_products.append((product, now - deleted * DAY))
            sink.emit("product.deleted", product, now - deleted * DAY)


@dataclass(frozen=True)
class CouponSpec:
    id: str | None  # None: a random id, as the dashboard makes
    name: str
    duration: str
    percent_off: float | None = None
    amount_off: int | None = None
    currency: str | None = None
    months: int | None = None
    #: Most redemptions allowed, per 1,000 customers.
    max_per_thousand: int | None = None
    made: int = 600  # days ago
    redeemable_days: int | None = None
    deleted: int | None = None  # days ago


COUPONS: tuple[CouponSpec, ...] = (
    CouponSpec("SUMMER25", "Summer sale", "once", 25.0, made=520, redeemable_days=90),
    CouponSpec("WELCOME10", "Welcome discount", "repeating", 10.0, months=3, made=700),
    CouponSpec("LAUNCH50", "Launch week", "repeating", 50.0, months=6, max_per_thousand=15,
               made=730, redeemable_days=45),
    CouponSpec("PARTNER20", "Partner program", "forever", 20.0, made=650),
    CouponSpec("5OFF", "$5 off your first month", "once", amount_off=500, currency="usd", made=400),
    CouponSpec("EURO10", "€10 off for three months", "repeating", amount_off=1000,
               currency="eur", months=3, made=380),
    CouponSpec(None, "Annual loyalty", "forever", 15.0, made=300),
    CouponSpec("JPY1000", "¥1,000 off", "forever", amount_off=1000, currency="jpy", made=500),
    CouponSpec("BLACKFRIDAY", "Black Friday", "once", 30.0, made=370, redeemable_days=6,
               deleted=12),
    CouponSpec("CYBER15", "Cyber week", "once", 15.0, made=9, redeemable_days=20),
)  # fmt: skip


def _coupons(sink: Sink, catalog: Catalog, now: int, customers: int) -> None:
    for spec in COUPONS:
        created = now - spec.made * DAY - sink.rng.randrange(DAY)
        max_redemptions = None
        if spec.max_per_thousand is not None:
            max_redemptions = max(3, spec.max_per_thousand * customers // 1000)
        obj = shapes.coupon(
            id=spec.id or new_id(sink.rng, "", 8),
            created=created,
            livemode=sink.livemode,
            name=spec.name,
            duration=spec.duration,
            percent_off=spec.percent_off,
            amount_off=spec.amount_off,
            currency=spec.currency,
            duration_in_months=spec.months,
            max_redemptions=max_redemptions,
            redeem_by=None
            if spec.redeemable_days is None
            else created + spec.redeemable_days * DAY,
        )
        info = CouponInfo(obj, None if spec.deleted is None else now - spec.deleted * DAY)
        catalog.coupons.append(info)
        sink.add(obj)
        sink.emit("coupon.created", obj, created)
        if info.deleted_at is not None:
            sink.emit("coupon.deleted", obj, info.deleted_at)


def settle_coupons(catalog: Catalog, now: int) -> None:
    """Final ``times_redeemed`` and ``valid`` (an expired or used-up coupon is not valid)."""
    for info in catalog.coupons:
        c = info.obj
        c["times_redeemed"] = info.redeemed
        expired = c["redeem_by"] is not None and c["redeem_by"] <= now
        used_up = c["max_redemptions"] is not None and info.redeemed >= c["max_redemptions"]
        c["valid"] = not (expired or used_up)
