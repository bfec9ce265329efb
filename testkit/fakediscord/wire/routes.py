"""The REST routes the fake models, and matching a request path to one of them."""

from __future__ import annotations

from urllib.parse import unquote

from testkit.fakediscord.context import BodyCheck, RouteSpec

_CH = "/channels/{channel_id}"
_MSG = _CH + "/messages/{message_id}"
_WH = "/webhooks/{application_id}/{token}"
# The OpenAPI description names the webhook path's parameters differently.
_WH_SPEC = "/webhooks/{webhook_id}/{webhook_token}"
_GUILD_COMMANDS = "/applications/{application_id}/guilds/{guild_id}/commands"


def _checked(
    method: str,
    template: str,
    handler: str,
    schema: str,
    *,
    multipart: bool = False,
    spec_path: str | None = None,
    auth: bool = True,
) -> RouteSpec:
    """A route with a body: checked against its schema and its OpenAPI operation.

    The OpenAPI path is the template unless the description names a parameter
    differently, so most rows need not spell it twice.
    """
    check = BodyCheck(schema, spec_path or template, multipart)
    return RouteSpec(method, template, handler, body=check, auth=auth)


# Literal routes (@me, @original) come before the variable ones they overlap.
ROUTES: list[RouteSpec] = [
    RouteSpec("GET", "/users/@me", "get_me"),
    RouteSpec("GET", "/users/{user_id}", "get_user"),
    RouteSpec("GET", "/oauth2/applications/@me", "get_application"),
    RouteSpec("GET", "/gateway", "get_gateway", auth=False),
    RouteSpec("GET", "/gateway/bot", "get_gateway_bot"),
    RouteSpec("GET", "/guilds/{guild_id}", "get_guild"),
    RouteSpec("GET", "/guilds/{guild_id}/channels", "list_channels"),
    _checked("POST", "/guilds/{guild_id}/channels", "create_channel", "create_guild_channel"),
    RouteSpec("GET", "/guilds/{guild_id}/members", "list_members"),
    RouteSpec("GET", "/guilds/{guild_id}/members/{user_id}", "get_member"),
    RouteSpec("GET", "/guilds/{guild_id}/roles", "list_roles"),
    RouteSpec("GET", _CH, "get_channel"),
    _checked("PATCH", _CH, "modify_channel", "modify_channel"),
    RouteSpec("DELETE", _CH, "delete_channel"),
    _checked(
        "PUT", _CH + "/permissions/{overwrite_id}", "put_overwrite", "edit_channel_permissions"
    ),
    RouteSpec("DELETE", _CH + "/permissions/{overwrite_id}", "delete_overwrite"),
    RouteSpec("POST", _CH + "/typing", "typing"),
    RouteSpec("GET", _CH + "/messages", "list_messages"),
    _checked("POST", _CH + "/messages", "create_message", "create_message", multipart=True),
    RouteSpec("GET", _MSG, "get_message"),
    _checked("PATCH", _MSG, "edit_message", "edit_message", multipart=True),
    RouteSpec("DELETE", _MSG, "delete_message"),
    RouteSpec("PUT", _MSG + "/reactions/{emoji}/@me", "add_reaction"),
    RouteSpec("DELETE", _MSG + "/reactions/{emoji}/@me", "remove_reaction"),
    RouteSpec("GET", "/applications/{application_id}/commands", "list_global_commands"),
    _checked(
        "PUT",
        "/applications/{application_id}/commands",
        "put_global_commands",
        "bulk_overwrite_commands",
    ),
    RouteSpec("GET", _GUILD_COMMANDS, "list_guild_commands"),
    _checked("PUT", _GUILD_COMMANDS, "put_guild_commands", "bulk_overwrite_commands"),
    _checked(
        "POST",
        "/interactions/{interaction_id}/{token}/callback",
        "interaction_callback",
        "interaction_callback",
        multipart=True,
        spec_path="/interactions/{interaction_id}/{interaction_token}/callback",
        auth=False,
    ),
    _checked(
        "POST",
        _WH,
        "webhook_execute",
        "webhook_execute",
        multipart=True,
        spec_path=_WH_SPEC,
        auth=False,
    ),
]
# A webhook's own messages: the original response (@original) and any followup.
for _which in ("@original", "{message_id}"):
    ROUTES += [
        RouteSpec("GET", f"{_WH}/messages/{_which}", "webhook_message", auth=False),
        _checked(
            "PATCH",
            f"{_WH}/messages/{_which}",
            "webhook_message",
            "webhook_message_edit",
            multipart=True,
            spec_path=f"{_WH_SPEC}/messages/{_which}",
            auth=False,
        ),
        RouteSpec("DELETE", f"{_WH}/messages/{_which}", "webhook_message", auth=False),
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
