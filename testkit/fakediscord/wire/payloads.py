"""What the gateway and `GET /applications/@me` say about the application and the guild."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from testkit.fakediscord.wire.intents import GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT

if TYPE_CHECKING:
    from testkit.fakediscord.api import FakeDiscord


def app_flags(fake: FakeDiscord) -> int:
    flags = 1 << 23  # APPLICATION_COMMAND_BADGE
    if fake.rules.privileged_intents & GUILD_PRESENCES:
        flags |= 1 << 13
    if fake.rules.privileged_intents & GUILD_MEMBERS:
        flags |= 1 << 15
    if fake.rules.privileged_intents & MESSAGE_CONTENT:
        flags |= 1 << 19
    return flags


def application_payload(fake: FakeDiscord, *, full: bool) -> dict[str, Any]:
    if not full:
        return {"id": str(fake.application_id), "flags": app_flags(fake)}
    return {
        "id": str(fake.application_id),
        "name": fake.bot_user.name,
        "icon": None,
        "description": "",
        "summary": "",
        "type": None,
        "hook": True,
        "bot_public": False,
        "bot_require_code_grant": False,
        "verify_key": "0" * 64,
        "flags": app_flags(fake),
        "owner": fake.owner.payload(),
        "team": None,
        "bot": fake.bot_user.payload(),
        "interactions_endpoint_url": None,
        "role_connections_verification_url": None,
        "redirect_uris": [],
        "rpc_origins": [],
        "tags": [],
        "approximate_guild_count": 1,
        "approximate_user_install_count": 0,
        "integration_types_config": {"0": {}},
        "terms_of_service_url": None,
        "privacy_policy_url": None,
        "custom_install_url": None,
        "cover_image": None,
        "is_monetized": False,
    }


def ready_payload(fake: FakeDiscord, session: Any, shard: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "v": 10,
        "user": fake.bot_user.payload() | {"verified": True, "mfa_enabled": False, "email": None},
        "guilds": [{"id": str(fake.guild_id), "unavailable": True}],
        "session_id": session.id,
        "session_type": "normal",
        "resume_gateway_url": fake.resume_ws_url,
        "application": application_payload(fake, full=False),
        "private_channels": [],
        "relationships": [],
        "presences": [],
        "user_settings": {},
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": ["fake-loopback"],
        "_trace": ['["fake-discord",{"micros":0}]'],
    }
    if shard is not None:
        data["shard"] = shard
    return data


def guild_create_payload(fake: FakeDiscord) -> dict[str, Any]:
    model = fake.model
    bot_member = model.members[fake.bot_user.id]
    return model.guild_payload() | {
        "joined_at": bot_member.joined_at,
        "large": False,
        "unavailable": False,
        "member_count": len(model.members),
        "voice_states": [],
        # Only the bot's own member: Discord does not send everyone at connect.
        "members": [model.member_payload(fake.bot_user.id)],
        "channels": [model.channel_payload(cid, with_guild_id=False) for cid in model.channels],
        # The active threads the bot may see (a private one only as a member or manager).
        "threads": [
            model.channel_payload(tid)
            for tid in model.threads
            if fake.can_view(tid, fake.bot_user.id)
        ],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "embedded_activities": [],
    }
