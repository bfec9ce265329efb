"""The REST routes the fake models, and matching a request path to one of them."""

from __future__ import annotations

from urllib.parse import unquote

from tests.fakediscord.context import RouteSpec

_CH = "/channels/{channel_id}"
_MSG = _CH + "/messages/{message_id}"
_WH = "/webhooks/{application_id}/{token}"

# Literal routes (@me, @original) come before the variable ones they overlap.
ROUTES: list[RouteSpec] = [
    RouteSpec("GET", "/users/@me", "get_me"),
    RouteSpec("GET", "/users/{user_id}", "get_user"),
    RouteSpec("GET", "/oauth2/applications/@me", "get_application"),
    RouteSpec("GET", "/gateway", "get_gateway", auth=False),
    RouteSpec("GET", "/gateway/bot", "get_gateway_bot"),
    RouteSpec("GET", "/guilds/{guild_id}", "get_guild"),
    RouteSpec("GET", "/guilds/{guild_id}/channels", "list_channels"),
    RouteSpec(
        "POST",
        "/guilds/{guild_id}/channels",
        "create_channel",
        body="json",
        schema="create_guild_channel",
        spec_path="/guilds/{guild_id}/channels",
    ),
    RouteSpec("GET", "/guilds/{guild_id}/members", "list_members"),
    RouteSpec("GET", "/guilds/{guild_id}/members/{user_id}", "get_member"),
    RouteSpec("GET", "/guilds/{guild_id}/roles", "list_roles"),
    RouteSpec("GET", _CH, "get_channel"),
    RouteSpec(
        "PATCH",
        _CH,
        "modify_channel",
        body="json",
        schema="modify_channel",
        spec_path="/channels/{channel_id}",
    ),
    RouteSpec("DELETE", _CH, "delete_channel"),
    RouteSpec(
        "PUT",
        _CH + "/permissions/{overwrite_id}",
        "put_overwrite",
        body="json",
        schema="edit_channel_permissions",
        spec_path="/channels/{channel_id}/permissions/{overwrite_id}",
    ),
    RouteSpec("DELETE", _CH + "/permissions/{overwrite_id}", "delete_overwrite"),
    RouteSpec("POST", _CH + "/typing", "typing"),
    RouteSpec("GET", _CH + "/messages", "list_messages"),
    RouteSpec(
        "POST",
        _CH + "/messages",
        "create_message",
        body="json+multipart",
        schema="create_message",
        spec_path="/channels/{channel_id}/messages",
    ),
    RouteSpec("GET", _MSG, "get_message"),
    RouteSpec(
        "PATCH",
        _MSG,
        "edit_message",
        body="json+multipart",
        schema="edit_message",
        spec_path="/channels/{channel_id}/messages/{message_id}",
    ),
    RouteSpec("DELETE", _MSG, "delete_message"),
    RouteSpec("PUT", _MSG + "/reactions/{emoji}/@me", "add_reaction"),
    RouteSpec("DELETE", _MSG + "/reactions/{emoji}/@me", "remove_reaction"),
    RouteSpec("GET", "/applications/{application_id}/commands", "list_global_commands"),
    RouteSpec(
        "PUT",
        "/applications/{application_id}/commands",
        "put_global_commands",
        body="json",
        schema="bulk_overwrite_commands",
        spec_path="/applications/{application_id}/commands",
    ),
    RouteSpec(
        "GET", "/applications/{application_id}/guilds/{guild_id}/commands", "list_guild_commands"
    ),
    RouteSpec(
        "PUT",
        "/applications/{application_id}/guilds/{guild_id}/commands",
        "put_guild_commands",
        body="json",
        schema="bulk_overwrite_commands",
        spec_path="/applications/{application_id}/guilds/{guild_id}/commands",
    ),
    RouteSpec(
        "POST",
        "/interactions/{interaction_id}/{token}/callback",
        "interaction_callback",
        body="json+multipart",
        schema="interaction_callback",
        spec_path="/interactions/{interaction_id}/{interaction_token}/callback",
        auth=False,
    ),
    RouteSpec(
        "POST",
        _WH,
        "webhook_execute",
        body="json+multipart",
        schema="webhook_execute",
        spec_path="/webhooks/{webhook_id}/{webhook_token}",
        auth=False,
    ),
    RouteSpec("GET", _WH + "/messages/@original", "webhook_message", auth=False),
    RouteSpec(
        "PATCH",
        _WH + "/messages/@original",
        "webhook_message",
        body="json+multipart",
        schema="webhook_message_edit",
        spec_path="/webhooks/{webhook_id}/{webhook_token}/messages/@original",
        auth=False,
    ),
    RouteSpec("DELETE", _WH + "/messages/@original", "webhook_message", auth=False),
    RouteSpec("GET", _WH + "/messages/{message_id}", "webhook_message", auth=False),
    RouteSpec(
        "PATCH",
        _WH + "/messages/{message_id}",
        "webhook_message",
        body="json+multipart",
        schema="webhook_message_edit",
        spec_path="/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
        auth=False,
    ),
    RouteSpec("DELETE", _WH + "/messages/{message_id}", "webhook_message", auth=False),
]


def match_route(method: str, raw_path: str) -> tuple[RouteSpec | None, dict[str, str], bool]:
    """(route, params, path_known): path_known says some route had this path shape."""
    segments = raw_path.strip("/").split("/")
    path_known = False
    for route in ROUTES:
        tsegs = route.template.strip("/").split("/")
        if len(tsegs) != len(segments):
            continue
        params: dict[str, str] = {}
        for t, s in zip(tsegs, segments, strict=True):
            if t.startswith("{") and t.endswith("}"):
                if not s:
                    break
                params[t[1:-1]] = unquote(s)
            elif t != s:
                break
        else:
            path_known = True
            if route.method == method:
                return route, params, True
    return None, {}, path_known
