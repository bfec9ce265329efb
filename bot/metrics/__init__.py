"""The moderator's health and metrics (DESIGN §11): an edge beside the cogs, wired by the app.

`instruments` holds the Prometheus registry and fills it from the core's
events; `discord_http` counts discord.py's REST calls by route template and
follows the gateway connection; `server` serves `/healthz` and `/metrics` on
`METRICS_LISTEN`. The core knows none of it: it publishes events, and this
package listens.
"""

from bot.metrics.discord_http import attach_discord
from bot.metrics.instruments import ModeratorMetrics
from bot.metrics.server import health_report, serve_metrics

__all__ = ["ModeratorMetrics", "attach_discord", "health_report", "serve_metrics"]
