"""The HTTP kit every Vigil web surface shares: the key gate and its roles, the error shape,
rate limits, bounded form parsing, one-time login keys, and the admin and ops routes. The
upload API (connectors/api) and the dashboard (dashboards/web) both build on it; neither
imports the other."""
