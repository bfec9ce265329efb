"""Every REST endpoint the fake models, with Discord's permission and limit rules.

Each handler enforces what Discord's docs say the endpoint requires; the
answers use Discord's codes (50001 Missing Access, 50013 Missing Permissions,
10003 Unknown Channel, 30013 guild channel cap, 50035 for the 50-per-category
cap). A denial is also noted in `FakeDiscord.denials` with the permissions that
were missing, since Discord's own message never names them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from testkit.fakediscord.wire.interaction_routes import InteractionRoutes
from testkit.fakediscord.wire.rest_guild import GuildRoutes
from testkit.fakediscord.wire.rest_messages import MessageRoutes

if TYPE_CHECKING:
    from testkit.fakediscord.api import FakeDiscord


class RestHandlers(GuildRoutes, MessageRoutes):
    """Every modelled endpoint; `RouteSpec.handler` names the method."""

    def __init__(self, fake: FakeDiscord) -> None:
        super().__init__(fake)
        self.interactions = InteractionRoutes(fake.interaction_service)
