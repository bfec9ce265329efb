"""The CalDAV calendar (DESIGN §10): a WebDAV/CalDAV client and the calendar built on it."""
