"""What one import did, said the same by the embedded calendar, the server and the client."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ImportOutcome:
    """Counts, and each event skipped (by name, e.g. its UID) with its reason."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
