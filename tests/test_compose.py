"""The docker-compose stack: docker-compose 1.29 accepts the file (when it is on PATH), and the
pieces agree with each other (service names, ports, mounts, the scrape targets)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker-compose.yml"
TIMEOUT = 60

needs_compose = pytest.mark.skipif(
    shutil.which("docker-compose") is None,
    reason="docker-compose is not on PATH (apt-get install --no-install-recommends docker-compose; CI installs it)",
)


def _compose(*args: str, password: str | None = "not-a-secret") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "POSTGRES_PASSWORD"}
    if password is not None:
        env["POSTGRES_PASSWORD"] = password
    return subprocess.run(["docker-compose", "-f", str(COMPOSE), *args], capture_output=True, text=True,
                          timeout=TIMEOUT, cwd=REPO, env=env)


def _services() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"])


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path → host path of the bind mounts (named volumes left out)."""
    out = {}
    for volume in service.get("volumes", []):
        host, container = volume.split(":")[:2]
        if host.startswith("./"):
            out[container] = host
    return out


@needs_compose
def test_docker_compose_accepts_the_file() -> None:
    result = _compose("config", "-q")
    assert result.returncode == 0, result.stdout + result.stderr


@needs_compose
def test_docker_compose_refuses_to_start_without_a_database_password() -> None:
    result = _compose("config", "-q", password=None)
    assert result.returncode != 0 and "set POSTGRES_PASSWORD" in result.stdout + result.stderr


@needs_compose
def test_the_store_url_carries_the_password() -> None:
    result = _compose("config", password="s3cret")
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    url = resolved["syncwatch"]["environment"]["SYNCWATCH_STORE_URL"]
    assert url == "postgresql+psycopg://syncwatch:s3cret@postgres:5432/syncwatch"
    assert resolved["postgres"]["environment"]["POSTGRES_PASSWORD"] == "s3cret"


def test_services_and_the_demo_profile() -> None:
    services = _services()
    assert set(services) == {"syncwatch", "postgres", "prometheus", "grafana", "demo"}
    assert services["demo"]["profiles"] == ["demo"]
    assert services["demo"]["command"][:5] == ["demo", "--port", "9873", "--host", "0.0.0.0"]
    assert all("profiles" not in s for name, s in services.items() if name != "demo")
    assert services["postgres"]["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["syncwatch"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_bind_mounts_exist_and_match_what_the_configs_expect() -> None:
    services = _services()
    for name, service in services.items():
        for host in _mounts(service).values():
            assert (REPO / host).is_dir(), f"{name} mounts {host}, which is not a folder"
    assert _mounts(services["syncwatch"]) == {"/etc/syncwatch": "./deploy/syncwatch"}
    grafana = _mounts(services["grafana"])
    assert grafana["/etc/grafana/provisioning"] == "./dashboards/provisioning"
    assert grafana["/var/lib/grafana/dashboards"] == "./dashboards"
    env = services["grafana"]["environment"]
    assert (env["GF_AUTH_ANONYMOUS_ENABLED"], env["GF_AUTH_ANONYMOUS_ORG_ROLE"]) == ("true", "Viewer")
    # Prometheus sees the repository's layout, so the config's relative rule path resolves.
    prometheus = services["prometheus"]
    mounts = _mounts(prometheus)
    [config_flag] = [c for c in prometheus["command"] if c.startswith("--config.file=")]
    config_in_container = Path(config_flag.removeprefix("--config.file="))
    root = config_in_container.parent.parent.parent
    assert mounts[str(config_in_container.parent)] == "./deploy/prometheus"
    config = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text(encoding="utf-8"))
    for pattern in config["rule_files"]:
        in_container = Path(os.path.normpath(config_in_container.parent / pattern))
        assert mounts[str(in_container.parent)] == "./" + str(in_container.parent.relative_to(root))
        assert list((REPO / "deploy/prometheus" / pattern).parent.glob(Path(pattern).name)), pattern


def test_prometheus_scrapes_the_service_and_the_demo_as_one_job() -> None:
    config = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text(encoding="utf-8"))
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "syncwatch"]
    assert job["scrape_interval"] == "15s"
    static = [t for group in job["static_configs"] for t in group["targets"]]
    assert static == ["syncwatch:9873"]  # always expected: down shows as up == 0
    # The demo only while its profile runs: found by DNS, so no down target when it is not.
    [dns] = job["dns_sd_configs"]
    assert (dns["names"], dns["type"], dns["port"]) == (["demo"], "A", 9873)
    [relabel] = job["relabel_configs"]
    assert relabel["target_label"] == "instance" and relabel["replacement"] == "${1}:9873"
    assert {"syncwatch", *dns["names"]} <= set(_services())
    assert "9873" in str(_services()["demo"]["command"])


def test_dockerfile_runs_the_service_as_a_non_root_user() -> None:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines()]
    assert "FROM python:3.11-slim" in lines
    user = [line for line in lines if line.startswith("USER ")]
    assert user and user[-1] != "USER root"
    assert 'ENTRYPOINT ["syncwatch"]' in lines
    assert 'CMD ["run", "-c", "/etc/syncwatch/syncwatch.yaml", "--host", "0.0.0.0"]' in lines
    assert "EXPOSE 9873" in lines
    assert "/healthz" in text and "HEALTHCHECK" in text
