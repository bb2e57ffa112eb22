"""The always-on service: scheduler, HTTP endpoints (metrics, health, status page, API)."""
