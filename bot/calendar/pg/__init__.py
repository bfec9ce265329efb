"""The calendar store kept in PostgreSQL (DESIGN §11): `CALENDAR_URL=postgresql://…`.

`calendar` holds `PgCalendar` (the pool, the transactions, the write lock);
`connection` the psycopg connection as the store's `Db`; `schema` the tables and
their migrations; `watch` the change feed on LISTEN/NOTIFY; `errors` what is
said when the database cannot be used, never its password.
"""

from bot.calendar.pg.calendar import PgCalendar
from bot.calendar.pg.errors import CalendarDatabaseRefused, shown_url

__all__ = ["CalendarDatabaseRefused", "PgCalendar", "shown_url"]
