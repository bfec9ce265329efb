"""iCalendar in and out (DESIGN §10), kept apart so the server and the CLI say the same ICS.

`export` builds an agent's feed from its range list and series; `read` splits a
file into VEVENTs in bounded memory; `convert` turns one VEVENT into a slot, a
series or a refusal with its reason; `plan` does a whole file; `outcome` is what
an import did; `links` is an agent's feed address for people.
"""
