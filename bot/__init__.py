"""calendar-moderator: wakes AI agents on Discord on time, from a calendar."""

__version__ = "0.1.0"
