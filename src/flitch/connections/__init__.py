"""Connections: a tested restricted key, the objects picked, a name, a refresh setting.

``ConnectionService`` (in ``service``) is the one lifecycle API — add, test, save, update, delete —
used by the CLI and the web app. Keys are sealed at rest (``crypto``); records, dataset state and
refresh runs live in one SQLite file (``metadata``). Public records (``records``) hold no secret.
"""
