"""`CALENDAR_URL=caldav+http(s)://[user[:password]@]host[:port]/path/` as the client needs it.

The account may be in the URL or in `CALENDAR_USERNAME` / `CALENDAR_PASSWORD`
(DESIGN §8); the URL's own wins, as a person reading it would expect. What
the client is given is the plain http(s) home, without the account, so no
URL it logs or names in an error can carry the password.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit


@dataclass(frozen=True, slots=True)
class CaldavAccount:
    home_url: str
    username: str | None
    password: str | None


def caldav_account(url: str, username: str | None, password: str | None) -> CaldavAccount:
    """The home (http(s), ending in "/") and the account to use for `url`."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower().removeprefix("caldav+")
    host = parts.netloc.rpartition("@")[2]
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    home = urlunsplit((scheme, host, path, "", ""))
    if parts.username:
        username = unquote(parts.username)
        password = unquote(parts.password) if parts.password is not None else password
    return CaldavAccount(home, username, password)
