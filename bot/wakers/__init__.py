"""Wakers: the ways an agent can be woken for a slot."""
