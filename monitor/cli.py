"""The ``syncwatch`` command line: check the config, probe a contract, run the bundled example.

Exit codes (``ExitCode``) are part of the interface, so scripts and CI can act on them:

    0  OK          config valid / probe within budget
    1  BREACH      a probe found the contract out of budget (held for ``hold`` runs)
    2  USAGE       bad command line
    3  CONFIG      the configuration is invalid (each problem printed with file:line)
    4  PROBE_ERROR a system could not be read: "can't see", not "out of sync"
    5  STORE       the measurement store failed
    70 INTERNAL    a bug: please report it with the --debug output

User errors print one line each and no traceback, unless ``--debug``.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from monitor.clock import SystemClock
from monitor.config import Config, load_config
from monitor.errors import ConfigError, StoreError, SyncwatchError
from monitor.render_cli import print_check, print_probe, print_problems, result_json
from monitor.results import Outcome, ProbeResult
from probes.base import ConnectorContext

if TYPE_CHECKING:
    from datetime import datetime

    from monitor.alerting.actions import Done
    from monitor.store import Store

__all__ = ["ExitCode", "app", "main"]


class ExitCode(IntEnum):
    OK = 0
    BREACH = 1
    USAGE = 2
    CONFIG = 3
    PROBE_ERROR = 4
    STORE = 5
    INTERNAL = 70


app = typer.Typer(
    name="syncwatch",
    help="Sync-health monitor for ecommerce integrations: lag and drift against per-workflow budgets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Path to syncwatch.yaml.", envvar="SYNCWATCH_CONFIG")
]
_state = {"debug": False}


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False) -> None:
    _state["debug"] = debug
    # httpx logs every URL at INFO, query string included (API keys, emails in lookup filters).
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _out() -> Console:
    # Piped or captured output gets a wide page: tables would otherwise be cut at 80 columns.
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else 160)


@app.command()
def check(config: ConfigOption = Path("syncwatch.yaml")) -> None:
    """Validate the configuration and print the ownership map (entity field → system of record → targets)."""
    loaded = load_config(config, secrets_optional=True)
    print_check(_out(), loaded)


@app.command()
def probe(
    contract: Annotated[str, typer.Argument(help="Contract name (the `contract:` of its file).")],
    config: ConfigOption = Path("syncwatch.yaml"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
) -> None:
    """Run one contract now: sample, compare, record; show divergences, lag and the budget verdict."""
    loaded = load_config(config)
    result = _probe(loaded, [contract], quiet=as_json)[0]
    if as_json:
        typer.echo(result_json(result))
    else:
        print_probe(_out(), result, loaded.contracts[contract])
    raise typer.Exit(_exit_for([result]))


@app.command()
def example(
    config: ConfigOption = Path("syncwatch.yaml"),
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="Keep the example systems up (Ctrl-C to stop) for `syncwatch probe`.")
    ] = False,
    port: Annotated[int, typer.Option(help="Port for the example shop and CRM (0: any free port).")] = 0,
) -> None:
    """Start the bundled example systems, check the shipped config and probe every contract.

    The example world has divergences injected on purpose; the command ends by
    comparing what the probes found with that ground truth (exit 0 when they agree).
    """
    from monitor.example.run import run_example

    code = run_example(config, _out(), _err(), keep_running=keep_running, port=port)
    raise typer.Exit(code)


@app.command()
def run(
    config: ConfigOption = Path("syncwatch.yaml"),
    host: Annotated[str | None, typer.Option(help="Address to serve on (default: service.host, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to serve on (default: service.port, 9873).")] = None,
) -> None:
    """Run the service: probe every contract on its schedule and serve /metrics, /healthz, /readyz,
    the status page (/) and /api/contracts. SIGHUP (or editing a contract) reloads; SIGTERM stops cleanly."""
    from monitor.service.main import serve

    raise typer.Exit(serve(load_config(config), host, port))


@app.command()
def demo(
    simulate: Annotated[
        str | None, typer.Option("--simulate", help="Replay this long (e.g. 7d) on a simulated clock, then score it.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the simulated world.")] = 1,
    out: Annotated[Path, typer.Option(help="Folder for the store, the ground truth and the scorecard.")] = Path(
        ".syncwatch/demo"
    ),
    port: Annotated[int, typer.Option(help="Live: port of the status page, /metrics and the health endpoints "
                                            "(0: any free port).")] = 9873,
    host: Annotated[str, typer.Option(help="Live: address to serve on.")] = "127.0.0.1",
    speed: Annotated[float, typer.Option(help="Live: simulated seconds per real second.")] = 15.0,
    minutes: Annotated[float, typer.Option(help="Live: simulated minutes to run (0: until stopped).")] = 32.0,
) -> None:
    """Run the demo world (simulated Shopify, WMS, ERP, CRM) with the monitor, live and narrated.

    With --simulate 7d, replay a week on a simulated clock in about a minute and write
    DIR/scorecard.json: recall, time to breach, false breaches, lag accuracy, API share.
    """
    if simulate is None:
        import signal
        import threading

        from monitor.demo.live import run_live

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        raise typer.Exit(run_live(out, _out(), speed=speed, minutes=minutes, seed=seed, port=port, host=host,
                                  stop=stop))
    from monitor.demo.report import print_scorecard
    from monitor.demo.run import simulate as replay
    from monitor.units import parse_duration

    try:
        duration = parse_duration(simulate)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--simulate") from None
    console = _err()
    with console.status("replaying the demo world …") as status:
        card = replay(out, duration, seed, progress=lambda at: status.update(f"replaying: simulated {at:%a %d %b %H:%M}"))
    print_scorecard(_out(), card, out)


incidents_app = typer.Typer(help="Incidents: breaches followed from opened to resolved.", no_args_is_help=True)
silence_app = typer.Typer(help="Silences: hold notifications back for a while; measuring goes on.",
                          no_args_is_help=True)
outbox_app = typer.Typer(help="The outbox: notifications waiting to be sent, or refused by Slack.",
                         no_args_is_help=True)
app.add_typer(incidents_app, name="incidents")
app.add_typer(silence_app, name="silence")
app.add_typer(outbox_app, name="outbox")
report_app = typer.Typer(help="Reports for people who do not open Grafana.", no_args_is_help=True)
app.add_typer(report_app, name="report")
IncidentId = Annotated[int, typer.Argument(help="The incident's number (see `syncwatch incidents list`).")]
ByOption = Annotated[str, typer.Option("--by", help="Who (an owner's name in rules/owners.yaml, or free text).")]


@incidents_app.command("list")
def incidents_list(
    config: ConfigOption = Path("syncwatch.yaml"),
    show_all: Annotated[bool, typer.Option("--all", help="Resolved ones too.")] = False,
    contract: Annotated[str | None, typer.Option(help="Only this contract.")] = None,
) -> None:
    """Open and acknowledged incidents, newest first (--all: resolved ones too)."""
    from monitor.render_cli import print_incidents
    from monitor.results import IncidentState

    with _store(load_config(config, secrets_optional=True)) as store:
        states = None if show_all else [IncidentState.OPEN, IncidentState.ACKNOWLEDGED]
        print_incidents(_out(), store.incidents(states, contract), SystemClock().now())


@incidents_app.command("ack")
def incidents_ack(incident: IncidentId, by: ByOption = "cli", config: ConfigOption = Path("syncwatch.yaml")) -> None:
    """Acknowledge an incident: someone is on it (stops escalation and reminders; the thread still hears of changes)."""
    from monitor.alerting.actions import acknowledge

    _act(config, lambda store, now: acknowledge(store, incident, by, now))


@incidents_app.command("resolve")
def incidents_resolve(incident: IncidentId, by: ByOption = "cli", config: ConfigOption = Path("syncwatch.yaml")) -> None:
    """Resolve an incident by hand (a breach in the next runs opens a new one, or reopens this one)."""
    from monitor.alerting.actions import resolve

    _act(config, lambda store, now: resolve(store, incident, by, now))


@incidents_app.command("snooze")
def incidents_snooze(
    incident: IncidentId,
    duration: Annotated[str, typer.Option("--for", help="How long, e.g. 2h or 30m.")] = "1h",
    by: ByOption = "cli",
    config: ConfigOption = Path("syncwatch.yaml"),
) -> None:
    """Hold back escalation and reminders about an incident for a while (it stays open and measured)."""
    from monitor.alerting.actions import snooze
    from monitor.units import parse_duration

    try:
        length = parse_duration(duration)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--for") from None
    _act(config, lambda store, now: snooze(store, incident, by, now, length))


@silence_app.command("add")
def silence_add(
    duration: Annotated[str, typer.Option("--for", help="How long, e.g. 2h.")],
    comment: Annotated[str, typer.Option(help="Why (shown with the silence).")],
    contract: Annotated[str | None, typer.Option(help="Only this contract (default: all).")] = None,
    target: Annotated[str | None, typer.Option(help="Only this target system (default: all).")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this breach kind: out_of_budget, conflict, "
                                                   "schema_change, probe_failing (default: all).")] = None,
    by: ByOption = "cli",
    config: ConfigOption = Path("syncwatch.yaml"),
) -> None:
    """Silence notifications matching contract/target/kind for a while."""
    from monitor.results import BreachKind, Silence
    from monitor.units import format_duration, parse_duration

    loaded = load_config(config, secrets_optional=True)
    try:
        length = parse_duration(duration)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--for") from None
    if contract is not None and contract not in loaded.contracts:
        raise typer.BadParameter(f"{contract!r} is not a contract; known: {', '.join(sorted(loaded.contracts))}",
                                 param_hint="--contract")
    try:
        breach = BreachKind(kind) if kind is not None else None
    except ValueError:
        raise typer.BadParameter(f"{kind!r} is not a breach kind; valid: {', '.join(k.value for k in BreachKind)}",
                                 param_hint="--kind") from None
    now = SystemClock().now()
    with _store(loaded) as store:
        silence = store.add_silence(Silence(None, now, now + length, by, comment, contract, target, breach))
    _out().print(f"silence {silence.id} until {silence.ends_at:%Y-%m-%d %H:%M} UTC ({format_duration(length)})")


@silence_app.command("list")
def silence_list(config: ConfigOption = Path("syncwatch.yaml")) -> None:
    """Silences in force now."""
    from monitor.render_cli import print_silences

    with _store(load_config(config, secrets_optional=True)) as store:
        print_silences(_out(), store.silences(active_at=SystemClock().now()))


@silence_app.command("remove")
def silence_remove(
    silence: Annotated[int, typer.Argument(help="The silence's number (see `syncwatch silence list`).")],
    config: ConfigOption = Path("syncwatch.yaml"),
) -> None:
    """Remove a silence."""
    with _store(load_config(config, secrets_optional=True)) as store:
        if not store.remove_silence(silence):
            raise typer.BadParameter(f"there is no silence {silence}", param_hint="SILENCE")
    _out().print(f"silence {silence} removed")


@outbox_app.command("list")
def outbox_list(
    config: ConfigOption = Path("syncwatch.yaml"),
    show_all: Annotated[bool, typer.Option("--all", help="Delivered ones too (the last 200).")] = False,
) -> None:
    """Notifications not delivered yet (waiting to try again) or refused by Slack for good."""
    from monitor.alerting.notices import Delivery
    from monitor.render_cli import print_notices

    with _store(load_config(config, secrets_optional=True)) as store:
        if show_all:
            notices = store.notices(limit=200, latest=True)
        else:
            notices = store.notices([Delivery.PENDING, Delivery.FAILED])
        print_notices(_out(), notices, SystemClock().now())


@outbox_app.command("retry")
def outbox_retry(config: ConfigOption = Path("syncwatch.yaml")) -> None:
    """Queue the notifications Slack refused again (after fixing the channel, the app's scopes, ...);
    the running service sends them."""
    with _store(load_config(config, secrets_optional=True)) as store:
        count = store.retry_failed_notices(SystemClock().now())
    _out().print(f"{count} notification(s) queued again" if count else "no failed notifications")


@report_app.command("weekly")
def report_weekly(
    config: ConfigOption = Path("syncwatch.yaml"),
    week: Annotated[str | None, typer.Option(help="ISO week, e.g. 2026-W48 (default: last complete week, "
                                                  "Europe/London).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="html, md or slack (the Block Kit summary, as JSON).")] = "html",
    out: Annotated[Path | None, typer.Option(help="Write to this file (default: print).")] = None,
    post: Annotated[bool, typer.Option("--post", help="Also post it to reports.channel in Slack (summary + HTML "
                                                      "file); needs SLACK_BOT_TOKEN.")] = False,
) -> None:
    """The weekly health summary from the store: kept budgets, incidents, what was at stake, what to fix first."""
    import json

    from monitor.report.render import to_html, to_markdown, to_slack
    from monitor.report.weekly import build_weekly, iso_week

    if fmt not in ("html", "md", "slack"):
        raise typer.BadParameter(f"{fmt!r} is not a format; valid: html, md, slack", param_hint="--format")
    loaded = load_config(config, secrets_optional=not post)
    now = SystemClock().now()
    try:
        chosen = iso_week(week, now)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--week") from None
    with _store(loaded) as store:
        report = build_weekly(store, loaded, chosen, now)
    if fmt == "html":
        text = to_html(report)
    elif fmt == "md":
        text = to_markdown(report)
    else:
        message = to_slack(report)
        text = json.dumps({"text": message.text, "blocks": message.blocks}, indent=2) + "\n"
    if out is not None:
        out.write_text(text, encoding="utf-8")
        _err().print(f"weekly report {chosen.label} written to {out}")
    else:
        sys.stdout.write(text)
    if post:
        _post_report(loaded, report)


def _post_report(config: Config, report: Any) -> None:
    import tempfile

    from slack_sdk.errors import SlackApiError

    from monitor.alerting.slack import SlackSender
    from monitor.report.publish import post_weekly, write_weekly

    channel, token = config.settings.reports.channel, config.settings.slack.token
    if channel is None or token is None:
        raise typer.BadParameter("--post needs reports.channel in the config and SLACK_BOT_TOKEN", param_hint="--post")
    with tempfile.TemporaryDirectory() as folder:
        html, _ = write_weekly(report, Path(folder))
        try:
            channel_id, _ts = post_weekly(report, SlackSender(config.settings.slack).client, channel, html)
        except SlackApiError as exc:
            _err().print(f"error: Slack refused the report: {exc.response.get('error')}")
            raise typer.Exit(ExitCode.INTERNAL) from None
        except OSError as exc:
            _err().print(f"error: Slack could not be reached: {exc}")
            raise typer.Exit(ExitCode.INTERNAL) from None
    _err().print(f"weekly report {report.week.label} posted to {channel} ({channel_id})")


@app.command()
def audit(
    config: ConfigOption = Path("syncwatch.yaml"),
    fmt: Annotated[str, typer.Option("--format", help="html or md.")] = "html",
    out: Annotated[Path | None, typer.Option(help="Write to this file (default: print).")] = None,
    days: Annotated[int, typer.Option(min=1, max=90, help="Days of measurements to judge by.")] = 7,
) -> None:
    """The integration risk register: every field's system of record, flows, budgets and owners, what was
    measured, and the risks with evidence and a suggested action."""
    from monitor.report.audit import audit_cli_summary, build_audit
    from monitor.report.audit_render import to_html as audit_html
    from monitor.report.audit_render import to_markdown as audit_markdown

    if fmt not in ("html", "md"):
        raise typer.BadParameter(f"{fmt!r} is not a format; valid: html, md", param_hint="--format")
    loaded = load_config(config, secrets_optional=True)
    with _store(loaded) as store:
        register = build_audit(store, loaded, SystemClock().now(), days)
    text = audit_html(register) if fmt == "html" else audit_markdown(register)
    if out is not None:
        out.write_text(text, encoding="utf-8")
        _err().print(f"{audit_cli_summary(register)}; written to {out}")
    else:
        sys.stdout.write(text)


@contextmanager
def _store(config: Config) -> Iterator[Store]:
    from monitor.store import Store

    store = Store.open(config.storage_url)
    try:
        yield store
    finally:
        store.close()


def _act(config_path: Path, action: Callable[[Store, datetime], Done]) -> None:
    """Apply an incident action; the running service tells the incident's Slack thread."""
    from monitor.alerting.actions import ActionRefused

    with _store(load_config(config_path, secrets_optional=True)) as store:
        try:
            done = action(store, SystemClock().now())
        except ActionRefused as exc:
            raise typer.BadParameter(str(exc), param_hint="INCIDENT") from None
    _out().print(done.said)


def _probe(config: Config, names: list[str], quiet: bool = False) -> list[ProbeResult]:
    from monitor.runner import Prober
    from monitor.store import Store

    store = Store.open(config.storage_url)
    ctx = ConnectorContext(sleep=time.sleep, monotonic=time.monotonic, base_dir=config.base_dir)
    prober = Prober(config, store, SystemClock(), ctx, random.Random())
    console = _err()
    try:
        results = []
        for name in names:
            if quiet or not console.is_terminal:
                results.append(prober.probe(name))
            else:
                with console.status(f"probing {name} …"):
                    results.append(prober.probe(name))
        return results
    finally:
        prober.close()
        store.close()


def _exit_for(results: list[ProbeResult]) -> ExitCode:
    if any(r.outcome is Outcome.ERROR for r in results):
        return ExitCode.PROBE_ERROR
    if any(t.verdict.breaching for r in results for t in r.targets):
        return ExitCode.BREACH
    return ExitCode.OK


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: run the app, translate our errors into one line and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("SYNCWATCH_DEBUG") == "1"
    try:
        code = app(args=args, standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except ConfigError as exc:
        if debug:
            raise
        print_problems(_err(), exc.problems)
        return ExitCode.CONFIG
    except StoreError as exc:
        if debug:
            raise
        _err().print(f"[red]store error[/]: {exc}")
        return ExitCode.STORE
    except SyncwatchError as exc:
        if debug:
            raise
        _err().print(f"[red]error[/]: {exc}")
        return ExitCode.PROBE_ERROR
    except (KeyboardInterrupt, typer.Abort):
        return 130
    except typer.TyperException as exc:  # bad command line: typer says what and how to use it
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            _err().print(f"error: {exc.format_message()}")
        return ExitCode.USAGE
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, then the exit code
        if debug:
            raise
        _err().print(f"[red]internal error[/]: {type(exc).__name__}: {exc} (rerun with --debug for details)")
        return ExitCode.INTERNAL
    # Outside standalone mode click returns a command's exit code instead of raising.
    return int(code) if isinstance(code, int) else ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
