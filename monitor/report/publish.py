"""Publishing the weekly summary: written to the reports folder (HTML and Markdown), and posted
to the leadership channel when Slack is configured: a short Block Kit summary, the full HTML as
a file in its thread (``files_upload_v2``: scope ``files:write``).

``publish_due`` is what ``syncwatch run`` calls every hour: once Monday 08:00 Europe/London has
passed, last week's report is published, once (a claim in the store, given back if posting
fails so that the next hour tries again).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from monitor.config.loader import Config
from monitor.config.schedule import LONDON
from monitor.report.model import WeeklyReport
from monitor.report.render import to_html, to_markdown, to_slack
from monitor.report.weekly import build_weekly, iso_week
from monitor.store import Store

__all__ = ["Published", "write_weekly", "post_weekly", "publish_due", "due_week", "PUBLISH_AT"]

log = logging.getLogger("syncwatch.report")

PUBLISH_AT = time(8, 0)  # Monday, Europe/London


@dataclass(frozen=True)
class Published:
    week: str
    html: Path
    markdown: Path
    slack_channel: str | None = None  # the channel ID posted to, when posted
    slack_ts: str | None = None


def report_folder(config: Config) -> Path:
    folder = Path(config.settings.reports.folder)
    return folder if folder.is_absolute() else config.base_dir / folder


def write_weekly(report: WeeklyReport, folder: Path) -> tuple[Path, Path]:
    """Write ``weekly-<week>.html`` and ``.md`` into ``folder``; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    html = folder / f"weekly-{report.week.label}.html"
    markdown = folder / f"weekly-{report.week.label}.md"
    html.write_text(to_html(report), encoding="utf-8")
    markdown.write_text(to_markdown(report), encoding="utf-8")
    return html, markdown


def post_weekly(report: WeeklyReport, client: WebClient, channel: str, html: Path) -> tuple[str, str]:
    """Post the summary to ``channel`` and the HTML as a file in its thread; return (channel ID, ts)."""
    message = to_slack(report, html.name)
    answer = client.chat_postMessage(channel=channel, text=message.text, blocks=message.blocks,
                                     unfurl_links=False, unfurl_media=False)
    channel_id, ts = str(answer["channel"]), str(answer["ts"])
    client.files_upload_v2(channel=channel_id, thread_ts=ts, filename=html.name, content=html.read_text("utf-8"),
                           title=f"Integration health, {report.week.label}")
    return channel_id, ts


def due_week(now: datetime) -> str:
    """The week whose report is due at ``now``: last week once this Monday 08:00 London has passed,
    else the week before it."""
    local = now.astimezone(LONDON)
    monday = local.date() - timedelta(days=local.weekday())
    published_from = datetime.combine(monday, PUBLISH_AT, tzinfo=LONDON)
    reference = now if local >= published_from else now - timedelta(days=7)
    return iso_week(None, reference).label


def publish_due(store: Store, config: Config, now: datetime, client: WebClient | None) -> Published | None:
    """Publish the due week's report unless it has been already; None when there was nothing to do."""
    if not config.settings.reports.weekly:
        return None
    label = due_week(now)
    key = f"report:weekly:{label}"
    if not store.claim(key, now.isoformat()):
        return None
    try:
        report = build_weekly(store, config, iso_week(label, now), now)
        html, markdown = write_weekly(report, report_folder(config))
        channel = config.settings.reports.channel
        if client is None or channel is None:
            log.info("weekly report %s written to %s", label, html)
            return Published(label, html, markdown)
        channel_id, ts = post_weekly(report, client, channel, html)
    except (SlackApiError, OSError) as exc:
        store.release(key)  # the next hourly check tries again
        log.warning("weekly report %s not published yet (%s); trying again within the hour", label, exc)
        return None
    log.info("weekly report %s posted to %s and written to %s", label, channel, html)
    return Published(label, html, markdown, channel_id, ts)
