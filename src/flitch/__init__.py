"""Flitch: self-hosted dashboards on Stripe data, read through a read-only restricted key."""

__version__ = "0.1.0"
