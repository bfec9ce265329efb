"""The wire side of the fake Discord: what discord.py talks to (REST routes and the gateway).

Tests do not call into this package; they use `FakeDiscord` (testkit/fakediscord/api.py,
inject.py) and read what the wire recorded.
"""
