"""The derived table of the instants customers became subscribers, with what they paid then.

``derived_mrr_starts`` holds, per customer and currency, each instant a span of theirs begins
with none of their spans in force just before it (they had no MRR, and now have some): their
first start, and each return after churning. With it, ``mrr``: their MRR just after (every span
in force at that instant), and ``first``: whether it is their first start (the instant their
cohort is dated by).

None of it depends on the period asked for: the instant a span begins, and whether another was
in force just before, are facts of the spans alone. So a refresh builds it once with the other
derived tables, and a load reads only the starts of its window (the average sale price) or the
first starts of its cohorts, instead of comparing every span with every other span of its
customer on each load.
"""

from __future__ import annotations

from flitch.store.derived import Derived


def mrr_starts(spans: str) -> Derived:
    """``derived_mrr_starts``, built from the MRR spans table named ``spans``."""
    return Derived(
        name="mrr_starts",
        inputs=(spans,),
        sql=f"""
WITH starts AS (
  SELECT DISTINCT n.customer, n.currency, n.span_from AS began_at FROM {spans} n
  WHERE NOT EXISTS (
    SELECT 1 FROM {spans} o WHERE o.customer = n.customer AND o.currency = n.currency
      AND o.span_from < n.span_from AND o.span_to >= n.span_from)
)
SELECT s.customer, s.currency, s.began_at, sum(t.mrr) AS mrr,
  s.began_at = min(s.began_at) OVER (PARTITION BY s.customer, s.currency) AS first
FROM starts s JOIN {spans} t ON t.customer = s.customer AND t.currency = s.currency
  AND t.span_from <= s.began_at AND t.span_to > s.began_at
GROUP BY s.customer, s.currency, s.began_at
""",  # noqa: S608
    )
