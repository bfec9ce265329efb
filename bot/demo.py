"""`python -m bot demo`: a self-contained tour for newcomers."""

from __future__ import annotations


def run_demo(agents: int = 3, seconds: float = 20.0) -> int:
    print("The demo is not built yet.")
    return 0
