"""Who may reach each route: the one table that says so.

Every route of the app has an entry here, under its route name. ``create_app`` refuses to build an
app with a route missing from this table, so a new route cannot slip in unguarded, and the test
that walks every route reads its expectations from here.

- ``PUBLIC``: anyone (the sign-in page and static files).
- ``SETUP``: anyone, but only while no user exists (first-run creation of the admin account).
- ``SIGNED_IN``: any signed-in user or API token (viewers see datasets and dashboards).
- ``ADMIN``: admins of the request's workspace only (its connections and dashboards).
- ``INSTANCE_ADMIN``: admins of the instance only (every account, creating workspaces).

Every signed-in request acts in one workspace (:mod:`flitch.web.tenancy`): a viewer or an
admin is a viewer or an admin *there*.
"""

from __future__ import annotations

from enum import StrEnum


class Access(StrEnum):
    PUBLIC = "public"
    SETUP = "setup"
    SIGNED_IN = "signed_in"
    ADMIN = "admin"
    INSTANCE_ADMIN = "instance_admin"


ROUTES: dict[str, Access] = {
    # open to anyone
    "static": Access.PUBLIC,
    "signin_page": Access.PUBLIC,
    "signin": Access.PUBLIC,
    # joining a workspace with an invitation code, creating one's account (flitch.web.pages_join)
    "join_page": Access.PUBLIC,
    "join": Access.PUBLIC,
    "signup_page": Access.PUBLIC,
    "signup": Access.PUBLIC,
    # health and readiness probes (no data, nothing secret: flitch.web.health)
    "healthz": Access.PUBLIC,
    "readyz": Access.PUBLIC,
    # first run
    "setup_page": Access.SETUP,
    "setup": Access.SETUP,
    # pages
    "home": Access.SIGNED_IN,
    "signout": Access.SIGNED_IN,
    "data_page": Access.SIGNED_IN,
    "connection_new_page": Access.ADMIN,
    "connection_page": Access.SIGNED_IN,
    "dataset_page": Access.SIGNED_IN,
    "customer_page": Access.SIGNED_IN,
    "dashboards_page": Access.SIGNED_IN,
    "dashboard_page": Access.SIGNED_IN,
    "account_page": Access.SIGNED_IN,
    "users_page": Access.INSTANCE_ADMIN,
    # JSON API
    "openapi": Access.SIGNED_IN,
    "api_me": Access.SIGNED_IN,
    "api_change_password": Access.SIGNED_IN,
    "api_list_objects": Access.SIGNED_IN,
    "api_list_users": Access.INSTANCE_ADMIN,
    "api_create_user": Access.INSTANCE_ADMIN,
    "api_update_user": Access.INSTANCE_ADMIN,
    "api_delete_user": Access.INSTANCE_ADMIN,
    # workspaces: yours, switching, members (owners), creating them (the instance's admins)
    "api_list_workspaces": Access.SIGNED_IN,
    "api_create_workspace": Access.INSTANCE_ADMIN,
    "api_workspace_usage": Access.INSTANCE_ADMIN,
    "api_switch_workspace": Access.SIGNED_IN,
    "api_join_workspace": Access.SIGNED_IN,
    "api_list_members": Access.ADMIN,
    "api_invite_member": Access.ADMIN,
    "api_update_member": Access.ADMIN,
    "api_remove_member": Access.SIGNED_IN,
    "api_delete_workspace": Access.ADMIN,
    "workspace_switch": Access.SIGNED_IN,
    "api_list_tokens": Access.SIGNED_IN,
    "api_create_token": Access.SIGNED_IN,
    "api_revoke_token": Access.SIGNED_IN,
    "api_list_connections": Access.SIGNED_IN,
    "api_get_connection": Access.SIGNED_IN,
    "api_test_key": Access.ADMIN,
    "api_retest_connection": Access.ADMIN,
    "api_test_objects": Access.ADMIN,
    "api_create_connection": Access.ADMIN,
    "api_update_connection": Access.ADMIN,
    "api_delete_connection": Access.ADMIN,
    "api_list_datasets": Access.SIGNED_IN,
    "api_get_dataset": Access.SIGNED_IN,
    "api_dataset_rows": Access.SIGNED_IN,
    "api_export_dataset": Access.SIGNED_IN,
    "api_start_refresh": Access.ADMIN,
    "api_refresh_state": Access.SIGNED_IN,
    "api_refresh_progress": Access.SIGNED_IN,
    # dashboards: viewers see them; admins make and change their own
    "api_list_dashboards": Access.SIGNED_IN,
    "api_dashboard_options": Access.SIGNED_IN,
    "api_get_dashboard": Access.SIGNED_IN,
    "api_export_dashboard": Access.SIGNED_IN,
    "api_dashboard_data": Access.SIGNED_IN,
    "api_dashboard_stream": Access.SIGNED_IN,
    "api_drill_rows": Access.SIGNED_IN,
    "api_cohort_members": Access.SIGNED_IN,
    "api_movement_customers": Access.SIGNED_IN,
    "api_customer": Access.SIGNED_IN,
    "api_create_dashboard": Access.ADMIN,
    "api_import_dashboard": Access.ADMIN,
    "api_save_dashboard": Access.ADMIN,
    "api_delete_dashboard": Access.ADMIN,
    "api_copy_dashboard": Access.ADMIN,
    "api_move_dashboard": Access.ADMIN,
    "api_add_chart": Access.ADMIN,
    "api_replace_chart": Access.ADMIN,
    "api_delete_chart": Access.ADMIN,
    "api_order_charts": Access.ADMIN,
}

#: What an unknown path (no route matched) is treated as: only the signed-in learn it is a 404.
UNMATCHED = Access.SIGNED_IN


def access_of(route_name: str | None) -> Access:
    """The access rule of a route by name (``UNMATCHED`` when no route matched).

    A route missing from the table (added after ``create_app`` checked it) is for admins only:
    the rule fails closed.
    """
    if route_name is None:
        return UNMATCHED
    return ROUTES.get(route_name, Access.ADMIN)
