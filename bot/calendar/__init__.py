"""The calendar: one interface, an embedded SQLite store, its HTTP server and an HTTP client."""
