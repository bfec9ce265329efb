"""iCalendar in and out (DESIGN §10): `export` builds an agent's feed, `read` streams a file in.

Kept apart from the server and the CLI so both serve and write the same ICS.
"""
