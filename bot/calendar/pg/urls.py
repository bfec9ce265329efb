"""A PostgreSQL URL as it may be shown: in a log, an error, `check-config` (never its password).

Kept free of the driver, so the settings can use it without loading psycopg.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit


def shown_url(url: str) -> str:
    """`url` with any password replaced by `***` (and the query, which may hold one, dropped)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            auth, _, host = netloc.rpartition("@")
            user = auth.partition(":")[0]
            netloc = f"{user}{':***' if ':' in auth else ''}@{host}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "postgresql://(unreadable URL)"


def without_secret(text: str, url: str) -> str:
    """`text` with the URL's password blanked, wherever a driver might have echoed it."""
    for secret in url_passwords(url):
        text = text.replace(secret, "***")
    return text


def url_passwords(url: str) -> list[str]:
    """The URL's password as written and decoded (to keep out of logs and errors), or []."""
    try:
        written = urlsplit(url).password
    except ValueError:
        return []
    return [] if not written else sorted({written, unquote(written)}, key=len, reverse=True)
