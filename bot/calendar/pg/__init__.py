"""The calendar store kept in PostgreSQL (DESIGN §11): `CALENDAR_URL=postgresql://…`.

`calendar` holds `PgCalendar` (the pool, the transactions, the write lock);
`connection` the psycopg connection as the store's `Db`; `schema` the tables and
their migrations; `watch` the change feed on LISTEN/NOTIFY; `errors` what is
said when the database cannot be used and `urls` the URL as shown, never its
password. Nothing is imported here, so the settings can use `urls` without
loading the driver.
"""
