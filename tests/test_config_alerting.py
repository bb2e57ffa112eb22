"""Configuration of alerting and Slack: what loads, the defaults, and every bad value named by file,
line and field with what would be valid; the environment's part in ``slack:``; secrets kept out of
reprs and error messages; the demo's config; ``syncwatch check`` on a bad ``alerting:``."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from monitor.cli import ExitCode, main
from monitor.config import Config, load_config
from monitor.demo.run import SECRETS, demo_config_dir
from monitor.errors import ConfigError, ConfigProblem

BASE = Path(__file__).parent / "fixtures" / "config" / "base"
ENV = {"TEST_SHOP_TOKEN": "s3cret-token"}  # the base fixture's one ${...}
MAIN = "syncwatch.yaml"
STOCK = "rules/contracts/stock.yaml"
CHANNEL_HINT = "expected a channel name such as '#stock-alerts' or a channel ID such as 'C04ABCDEF12'"


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of tests/fixtures/config/base (contracts orders, stock; systems erp, shop, wms)."""
    target = tmp_path / "cfg"
    shutil.copytree(BASE, target)
    monkeypatch.chdir(target)  # problems name files relative to the working directory
    return target


def _append(cfg: Path, relative: str, text: str) -> Path:
    path = cfg / relative
    path.write_text(path.read_text() + text)
    return cfg / MAIN


def _line(cfg: Path, relative: str, needle: str) -> int:
    """1-based line of the only line of the file containing ``needle``."""
    found = [n for n, line in enumerate((cfg / relative).read_text().splitlines(), 1) if needle in line]
    assert len(found) == 1, f"{needle!r} in {relative}: lines {found}"
    return found[0]


def _load(cfg: Path, environ: dict[str, str] | None = None) -> Config:
    return load_config(cfg / MAIN, environ=ENV if environ is None else environ)


def _only_problem(cfg: Path, environ: dict[str, str] | None = None) -> ConfigProblem:
    with pytest.raises(ConfigError) as info:
        _load(cfg, environ)
    assert len(info.value.problems) == 1, info.value.problems
    return info.value.problems[0]


# --- what loads ------------------------------------------------------------------------------------

FULL = """\
alerting:
  channel: "#sync-alerts"
  escalate_after: 30m
  escalation_channel: C04ESCALATE
  repeat_every: 4h
  snooze: 90m
  out_of_hours: {channel: "#on-call", mention: S04ONCALL1}
  maintenance:
    - {name: erp-batch, cron: "0 1 * * *", duration: 90m, systems: [erp], contracts: [orders]}
    - {name: friday, cron: "0 15 * * fri", duration: 45m}
  grafana_url: https://grafana.example.com/
slack:
  api_url: http://127.0.0.1:8765/api
  token: xoxb-file-token
  signing_secret: file-signing-secret
  timeout: 5s
"""


def test_full_alerting_and_slack_sections_load(cfg: Path) -> None:
    settings = _load(_append(cfg, MAIN, FULL).parent).settings
    alerting, slack = settings.alerting, settings.slack
    assert alerting.channel == "#sync-alerts"
    assert alerting.escalation_channel == "C04ESCALATE"
    assert alerting.escalate_after == timedelta(minutes=30)
    assert alerting.repeat_every == timedelta(hours=4)
    assert alerting.snooze == timedelta(minutes=90)
    assert alerting.grafana_url == "https://grafana.example.com"  # trailing slash stripped
    assert alerting.out_of_hours is not None
    assert alerting.out_of_hours.channel == "#on-call"
    assert alerting.out_of_hours.mention_text == "<!subteam^S04ONCALL1>"
    batch, friday = alerting.maintenance
    assert (batch.name, batch.cron, batch.duration) == ("erp-batch", "0 1 * * *", timedelta(minutes=90))
    assert (batch.systems, batch.contracts) == (["erp"], ["orders"])
    assert (friday.name, friday.duration, friday.systems, friday.contracts) == ("friday", timedelta(minutes=45), [], [])
    assert slack.api_url == "http://127.0.0.1:8765/api/"  # gains the trailing slash
    assert _secret(slack.token) == "xoxb-file-token"
    assert _secret(slack.signing_secret) == "file-signing-secret"
    assert slack.timeout == timedelta(seconds=5)


@pytest.mark.parametrize(
    ("mention", "text"),
    [("S04ONCALL1", "<!subteam^S04ONCALL1>"), ("U04PRIYA01", "<@U04PRIYA01>"), ("W04ENTERPR", "<@W04ENTERPR>")],
)
def test_out_of_hours_mention_text(cfg: Path, mention: str, text: str) -> None:
    _append(cfg, MAIN, f"alerting:\n  out_of_hours: {{mention: {mention}}}\n")
    out_of_hours = _load(cfg).settings.alerting.out_of_hours
    assert out_of_hours is not None
    assert out_of_hours.channel is None  # default: the contract's channel
    assert out_of_hours.mention_text == text


def test_defaults_when_alerting_and_slack_are_absent(cfg: Path) -> None:
    settings = _load(cfg).settings
    alerting, slack = settings.alerting, settings.slack
    assert alerting.channel == "#syncwatch-alerts"
    assert alerting.escalate_after == timedelta(minutes=30)
    assert alerting.repeat_every == timedelta(hours=4)
    assert alerting.snooze == timedelta(hours=2)
    assert alerting.escalation_channel is None
    assert alerting.out_of_hours is None
    assert alerting.maintenance == []
    assert alerting.grafana_url is None
    assert slack.api_url == "https://slack.com/api/"
    assert slack.token is None
    assert slack.signing_secret is None
    assert all(contract.channel is None for contract in _load(cfg).contracts.values())


@pytest.mark.parametrize("channel", ["#stock-alerts", "#ops.on_call-2", "C04ABCDEF12", "G0PRIVATE1"])
def test_valid_channels_load(cfg: Path, channel: str) -> None:
    _append(cfg, MAIN, f"alerting:\n  channel: '{channel}'\n  escalation_channel: '{channel}'\n")
    _append(cfg, STOCK, f"channel: '{channel}'\n")
    config = _load(cfg)
    assert config.settings.alerting.channel == config.settings.alerting.escalation_channel == channel
    assert config.contracts["stock"].channel == channel


# --- bad values: file, line, field, what would be valid ---------------------------------------------

CHANNEL_PLACES = {
    # place: (file, YAML appended (``{v}`` is the value), field)
    "alerting.channel": (MAIN, "alerting:\n  channel: {v}\n", "alerting.channel"),
    "escalation_channel": (MAIN, "alerting:\n  escalation_channel: {v}\n", "alerting.escalation_channel"),
    "out_of_hours.channel": (
        MAIN, "alerting:\n  out_of_hours:\n    mention: U04PRIYA01\n    channel: {v}\n", "alerting.out_of_hours.channel"
    ),
    "contract.channel": (STOCK, "channel: {v}\n", "channel"),
}


@pytest.mark.parametrize("place", list(CHANNEL_PLACES))
@pytest.mark.parametrize("value", ["stock alerts", "#Stock", "", "C12"])
def test_bad_channel_names_file_line_field_and_examples(cfg: Path, place: str, value: str) -> None:
    relative, yaml_text, field = CHANNEL_PLACES[place]
    _append(cfg, relative, yaml_text.format(v=f"'{value}'"))
    key = field.rsplit(".", 1)[-1] + ":"
    problem = _only_problem(cfg)
    assert problem == ConfigProblem(
        relative, _line(cfg, relative, key), field, f"{value!r} is not a Slack channel; {CHANNEL_HINT}"
    )
    assert "#stock-alerts" in problem.message and "C04ABCDEF12" in problem.message


@pytest.mark.parametrize("field", ["escalate_after", "repeat_every", "snooze"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0s", "must be more than 0, e.g. 30m"),
        ("0", "must be more than 0, e.g. 30m"),
        ("-5m", "'-5m' is negative; must be more than 0, e.g. 30m"),
    ],
)
def test_zero_or_negative_alerting_durations_are_errors(cfg: Path, field: str, value: str, message: str) -> None:
    _append(cfg, MAIN, f"alerting:\n  {field}: {value}\n")
    assert _only_problem(cfg) == ConfigProblem(MAIN, _line(cfg, MAIN, f"{field}:"), f"alerting.{field}", message)


def test_negative_number_duration_says_what_would_be_valid(cfg: Path) -> None:
    _append(cfg, MAIN, "alerting:\n  escalate_after: -300\n")
    problem = _only_problem(cfg)
    assert (problem.file, problem.line, problem.field) == (MAIN, _line(cfg, MAIN, "escalate_after:"),
                                                           "alerting.escalate_after")
    assert "0 or more" not in problem.message
    assert "more than 0" in problem.message


@pytest.mark.parametrize("mention", ["@oncall", "U12", "C04ABCDEF12", "s04oncall1"])
def test_out_of_hours_mention_must_be_a_user_or_group_id(cfg: Path, mention: str) -> None:
    _append(cfg, MAIN, f"alerting:\n  out_of_hours:\n    channel: '#on-call'\n    mention: '{mention}'\n")
    assert _only_problem(cfg) == ConfigProblem(
        MAIN,
        _line(cfg, MAIN, "mention:"),
        "alerting.out_of_hours.mention",
        f"{mention!r} is not a Slack user ID (U…) or user group ID (S…), e.g. S04ONCALL1",
    )


def _window(**fields: str) -> str:
    body = {"name": "nightly", "cron": "'0 1 * * *'", "duration": "1h", **fields}
    return "alerting:\n  maintenance:\n" + "".join(
        f"    {'- ' if i == 0 else '  '}{key}: {value}\n" for i, (key, value) in enumerate(body.items())
    )


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        (
            "0 1 * *",
            "cron '0 1 * *' has 4 field(s); expected 5 (minute hour day-of-month month day-of-week), e.g. '0 2 * * *'",
        ),
        ("61 1 * * *", "cron '61 1 * * *': minute field '61' is not valid: "),
        ("0 25 * * *", "cron '0 25 * * *': hour field '25' is not valid: "),
        (
            "0 1 * * 1",
            "cron '0 1 * * 1': write the day of week as names (e.g. mon-fri or sat,sun), not numbers: "
            "APScheduler 3 counts 0 as Monday where crontab counts 0 as Sunday",
        ),
        ("0 1 30 2 *", "cron '0 1 30 2 *' never fires (no date matches its day and month)"),
    ],
)
def test_bad_maintenance_cron_names_the_cron_field(cfg: Path, cron: str, message: str) -> None:
    _append(cfg, MAIN, _window(cron=f"'{cron}'"))
    problem = _only_problem(cfg)
    where = (problem.file, problem.line, problem.field)
    assert where == (MAIN, _line(cfg, MAIN, "cron:"), "alerting.maintenance[0].cron")
    assert problem.message.startswith(message)
    if "field '" in message:  # APScheduler's own words follow: they give the allowed range
        assert "maximum value" in problem.message


@pytest.mark.parametrize("duration", ["0m", "0"])
def test_maintenance_duration_must_be_positive(cfg: Path, duration: str) -> None:
    _append(cfg, MAIN, _window(duration=duration))
    assert _only_problem(cfg) == ConfigProblem(
        MAIN, _line(cfg, MAIN, "duration:"), "alerting.maintenance[0].duration",
        "duration must be more than 0, e.g. 45m",
    )


def test_maintenance_unknown_contract_names_the_known_ones(cfg: Path) -> None:
    _append(cfg, MAIN, _window(contracts="[stock, nope]"))
    assert _only_problem(cfg) == ConfigProblem(
        MAIN, _line(cfg, MAIN, "contracts:"), "alerting.maintenance[0].contracts",
        "'nope' is not a contract; known: orders, stock",
    )


def test_maintenance_unknown_system_names_the_known_ones(cfg: Path) -> None:
    _append(cfg, MAIN, _window(systems="[nope]"))
    assert _only_problem(cfg) == ConfigProblem(
        MAIN, _line(cfg, MAIN, "systems: [nope]"), "alerting.maintenance[0].systems",
        "'nope' is not a system; known: erp, shop, wms",
    )


@pytest.mark.parametrize(
    ("yaml_text", "key", "field", "valid"),
    [
        (
            "alerting:\n  escalate_afer: 1h\n",
            "escalate_afer:",
            "alerting.escalate_afer",
            "resolve_after, cooldown, channel, escalate_after, escalation_channel, repeat_every, snooze, "
            "out_of_hours, maintenance, grafana_url",
        ),
        ("slack:\n  tokn: xoxb-1\n", "tokn:", "slack.tokn", "api_url, token, signing_secret, timeout"),
        (
            "alerting:\n  out_of_hours:\n    chanel: '#on-call'\n",
            "chanel:",
            "alerting.out_of_hours.chanel",
            "channel, mention",
        ),
        (
            _window(sytems="[wms]"),
            "sytems:",
            "alerting.maintenance[0].sytems",
            "name, cron, duration, contracts, systems",
        ),
    ],
)
def test_unknown_key_lists_the_valid_keys(cfg: Path, yaml_text: str, key: str, field: str, valid: str) -> None:
    _append(cfg, MAIN, yaml_text)
    unknown = field.rsplit(".", 1)[-1]
    assert _only_problem(cfg) == ConfigProblem(
        MAIN, _line(cfg, MAIN, key), field, f"unknown field {unknown!r}; valid: {valid}"
    )


# --- the environment's part in slack: --------------------------------------------------------------


def test_slack_bot_token_and_signing_secret_fill_what_the_file_leaves_out(cfg: Path) -> None:
    slack = _load(cfg, {**ENV, "SLACK_BOT_TOKEN": " xoxb-env ", "SLACK_SIGNING_SECRET": "env-secret"}).settings.slack
    assert (_secret(slack.token), _secret(slack.signing_secret)) == ("xoxb-env", "env-secret")
    assert slack.api_url == "https://slack.com/api/"


def test_the_files_token_wins_over_slack_bot_token(cfg: Path) -> None:
    _append(cfg, MAIN, 'slack:\n  token: "${MY_TOKEN}"\n  signing_secret: "${MY_SECRET}"\n')
    env = {**ENV, "MY_TOKEN": "xoxb-file", "MY_SECRET": "file-secret",
           "SLACK_BOT_TOKEN": "xoxb-env", "SLACK_SIGNING_SECRET": "env-secret"}
    slack = _load(cfg, env).settings.slack
    assert (_secret(slack.token), _secret(slack.signing_secret)) == ("xoxb-file", "file-secret")


def test_syncwatch_slack_api_url_overrides_the_files(cfg: Path) -> None:
    _append(cfg, MAIN, "slack:\n  api_url: https://slack.example.com/api/\n")
    slack = _load(cfg, {**ENV, "SYNCWATCH_SLACK_API_URL": "http://127.0.0.1:8765/api"}).settings.slack
    assert slack.api_url == "http://127.0.0.1:8765/api/"


def test_empty_slack_variables_count_as_unset(cfg: Path) -> None:
    _append(cfg, MAIN, "slack:\n  api_url: https://slack.example.com/api\n")
    env = {**ENV, "SLACK_BOT_TOKEN": "", "SLACK_SIGNING_SECRET": "  ", "SYNCWATCH_SLACK_API_URL": ""}
    slack = _load(cfg, env).settings.slack
    assert (slack.token, slack.signing_secret, slack.api_url) == (None, None, "https://slack.example.com/api/")


def test_environ_given_means_the_process_environment_is_not_read(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-shell")
    monkeypatch.setenv("SYNCWATCH_SLACK_API_URL", "not a url")
    slack = _load(cfg).settings.slack
    assert (slack.token, slack.api_url) == (None, "https://slack.com/api/")


@pytest.mark.parametrize("url", ["ftp://slack.example.com/api/", "127.0.0.1:8765/api", "http://local host/api"])
def test_invalid_syncwatch_slack_api_url_names_the_variable(cfg: Path, url: str) -> None:
    assert _only_problem(cfg, {**ENV, "SYNCWATCH_SLACK_API_URL": url}) == ConfigProblem(
        "environment", None, "SYNCWATCH_SLACK_API_URL",
        f"{url!r} is not an http(s) URL, e.g. http://127.0.0.1:8765/api/",
    )


# --- secrets ---------------------------------------------------------------------------------------

TOKEN, SIGNING_SECRET = "xoxb-1111-2222-supersecret", "f00dfeedsigningsecret"


def test_slack_secrets_stay_out_of_error_messages(cfg: Path) -> None:
    _append(cfg, MAIN, f"slack:\n  token: {TOKEN}\n  signing_secret: {SIGNING_SECRET}\n  api_url: not a url\n")
    env = {**ENV, "SLACK_BOT_TOKEN": TOKEN, "SYNCWATCH_SLACK_API_URL": "ftp://x"}
    with pytest.raises(ConfigError) as info:
        _load(cfg, env)
    assert [p.field for p in info.value.problems] == ["slack.api_url"]
    main_file = cfg / MAIN
    main_file.write_text(main_file.read_text().replace("  api_url: not a url\n", ""))
    with pytest.raises(ConfigError) as from_env:
        _load(cfg, env)
    assert [p.field for p in from_env.value.problems] == ["SYNCWATCH_SLACK_API_URL"]
    for error in (info.value, from_env.value):
        assert TOKEN not in str(error) and SIGNING_SECRET not in str(error)


def test_slack_secrets_stay_out_of_reprs(cfg: Path) -> None:
    _append(cfg, MAIN, f"slack:\n  token: {TOKEN}\n")
    config = _load(cfg, {**ENV, "SLACK_SIGNING_SECRET": SIGNING_SECRET})
    for text in (repr(config.settings), str(config.settings), repr(config.settings.slack), repr(config)):
        assert TOKEN not in text and SIGNING_SECRET not in text


def test_a_numeric_secret_is_not_echoed_in_its_error(cfg: Path) -> None:
    secret = "471147114711471147114711"
    _append(cfg, MAIN, f"slack:\n  signing_secret: {secret}\n")
    problem = _only_problem(cfg)
    assert (problem.file, problem.line, problem.field) == (MAIN, _line(cfg, MAIN, "signing_secret:"),
                                                           "slack.signing_secret")
    assert secret not in str(problem)


# --- the demo's config -----------------------------------------------------------------------------


def test_demo_config_validates_with_its_windows_and_channels(tmp_path: Path) -> None:
    # As monitor.demo.run.open_demo loads it (without any Slack variables).
    env = {**SECRETS, "DEMO_URL": "http://127.0.0.1:9", "DEMO_ERP_URL": f"sqlite:///{tmp_path / 'erp.db'}"}
    config = load_config(demo_config_dir() / MAIN, environ=env)
    alerting = config.settings.alerting
    windows = {w.name: w for w in alerting.maintenance}
    assert list(windows) == ["erp-nightly-batch", "wms-friday-maintenance"]
    assert windows["erp-nightly-batch"].systems == ["erp"]
    assert windows["wms-friday-maintenance"].systems == ["wms"]
    assert alerting.channel == "#sync-alerts" and alerting.escalation_channel == "#ops-escalations"
    assert alerting.grafana_url == "http://localhost:3000"
    assert config.contracts and all(c.channel for c in config.contracts.values())
    assert config.settings.slack.token is None


# --- syncwatch check -------------------------------------------------------------------------------


def test_check_on_a_bad_alerting_section_exits_config_with_file_and_line(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _append(cfg, MAIN, "alerting:\n  channel: stock alerts\n  escalate_after: 0m\n")
    # Config errors exit 3 (ExitCode.CONFIG); 2 is a bad command line (ExitCode.USAGE).
    assert main(["check", "--config", str(cfg / MAIN)]) == ExitCode.CONFIG
    err = capsys.readouterr().err
    channel_line = _line(cfg, MAIN, "channel:")
    assert f"syncwatch.yaml:{channel_line}: alerting.channel: 'stock alerts' is not a Slack channel" in err
    assert f"syncwatch.yaml:{_line(cfg, MAIN, 'escalate_after:')}: alerting.escalate_after: must be more than 0" in err
    assert "Traceback" not in err


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()
