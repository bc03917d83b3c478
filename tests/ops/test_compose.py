"""docker-compose.yml has the agreed shape (no Docker engine here: the file is checked as data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from alert_gateway.commands.serve import HTTP_SHUTDOWN_SECONDS
from alert_gateway.gateway import STOP_SECONDS
from alert_gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
GATEWAYS = ("gateway-1", "gateway-2")


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    """The services section, with YAML anchors and merge keys resolved."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    data: dict[str, Any] = compose["services"]
    return data


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Host path -> container path for a service's bind mounts and volumes."""
    return {v.split(":")[0]: v.split(":")[1] for v in service.get("volumes", [])}


MONITORING = ("prometheus", "alertmanager", "blackbox", "grafana")


def test_all_services_present(services: dict[str, Any]) -> None:
    """Broker, database, migration, two gateways, and the monitoring that pages people."""
    assert set(services) == {"mosquitto", "postgres", "migrate", *GATEWAYS, *MONITORING}


def test_mosquitto_uses_the_shipped_configuration(services: dict[str, Any]) -> None:
    """eclipse-mosquitto:2 runs config/mosquitto, with only the loopback listener opened up."""
    mosquitto = services["mosquitto"]
    assert mosquitto["image"] == "eclipse-mosquitto:2"
    assert mounts(mosquitto)["./config/mosquitto"] == "/mosquitto/config"
    command = " ".join(mosquitto["command"])
    assert "/mosquitto/config/mosquitto.conf" in command
    # The sed in the command rewrites this exact line; if it changes, gateways cannot connect.
    conf = (ROOT / "config/mosquitto/mosquitto.conf").read_text(encoding="utf-8")
    assert "\nlistener 1883 127.0.0.1\n" in conf
    assert "^listener 1883 127.0.0.1$$" in command


def test_postgres_has_a_volume_and_health_check(services: dict[str, Any]) -> None:
    """PostgreSQL 16 keeps its data in a named volume and reports readiness."""
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:16"
    assert mounts(postgres)["postgres-data"] == "/var/lib/postgresql/data"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_migrate_runs_once_before_the_gateways(services: dict[str, Any]) -> None:
    """`db upgrade` runs once PostgreSQL is healthy; the gateways wait for it to succeed."""
    migrate = services["migrate"]
    assert migrate["command"] == ["db", "upgrade"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in GATEWAYS:
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully"


def test_gateway_health_is_readiness_without_the_broker(services: dict[str, Any]) -> None:
    """Each replica's health check asks /readyz (database, not broker); the one-shot has none."""
    for name in GATEWAYS:
        check = " ".join(services[name]["healthcheck"]["test"])
        assert "http://127.0.0.1:8080/readyz" in check, check
    assert services["migrate"]["healthcheck"] == {"disable": True}


def test_gateway_replicas_share_the_load(services: dict[str, Any]) -> None:
    """Distinct client ids, one MQTT v5 share group, PostgreSQL, and HTTP on all interfaces."""
    envs = [services[name]["environment"] for name in GATEWAYS]
    assert len({env["ALERT_GATEWAY_MQTT_CLIENT_ID"] for env in envs}) == len(GATEWAYS)
    for env in envs:
        assert env["ALERT_GATEWAY_MQTT_SHARE_GROUP"] == "gateways"
        assert str(env["ALERT_GATEWAY_MQTT_PROTOCOL"]) == "5"
        assert env["ALERT_GATEWAY_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert env["ALERT_GATEWAY_HTTP_HOST"] == "0.0.0.0"
        assert env["ALERT_GATEWAY_MQTT_URL"] == "mqtt://mosquitto:1883"
    assert (
        services["migrate"]["environment"]["ALERT_GATEWAY_DATABASE_URL"]
        == (envs[0]["ALERT_GATEWAY_DATABASE_URL"])
    )


def test_every_gateway_variable_is_a_setting(services: dict[str, Any]) -> None:
    """Each ALERT_GATEWAY_* name in compose and .env.example is a real Settings field."""
    fields = {f"ALERT_GATEWAY_{name.upper()}" for name in Settings.model_fields}
    names = {k for name in GATEWAYS for k in services[name]["environment"]}
    names |= set(env_example())
    unknown = {n for n in names if n.startswith("ALERT_GATEWAY_")} - fields
    assert not unknown


def env_example() -> dict[str, str]:
    """The variables set in .env.example."""
    pairs = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def test_secrets_come_from_the_env_file(services: dict[str, Any]) -> None:
    """Gateways read .env; compose itself sets no password or token; the example holds none."""
    for name in ("migrate", *GATEWAYS):
        assert services[name]["env_file"] == ".env"
        for key in services[name]["environment"]:
            assert not any(word in key for word in ("PASSWORD", "TOKEN", "SECRET")), key
    example = env_example()
    for key in (
        "POSTGRES_PASSWORD",
        "ALERT_GATEWAY_MQTT_PASSWORD",
        "ALERT_GATEWAY_TWILIO_AUTH_TOKEN",
    ):
        assert example[key] == "change-me"


def test_prometheus_scrapes_both_replicas(services: dict[str, Any]) -> None:
    """Prometheus mounts config/prometheus, whose scrape targets are the two gateway services."""
    assert mounts(services["prometheus"])["./config/prometheus"] == "/etc/prometheus"
    config = yaml.safe_load((ROOT / "config/prometheus/prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "alert-gateway")
    targets = {t for group in job["static_configs"] for t in group["targets"]}
    assert targets == {f"{name}:8080" for name in GATEWAYS}


def load(path: str) -> Any:
    """A YAML file of the repository, parsed."""
    return yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))


def test_monitoring_is_reachable_only_from_the_host(services: dict[str, Any]) -> None:
    """Prometheus, Alertmanager and Grafana publish their ports on 127.0.0.1 only."""
    for name in MONITORING:
        for port in services[name].get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} to the network"


def test_alertmanager_runs_the_shipped_configuration(services: dict[str, Any]) -> None:
    """Alertmanager mounts config/alertmanager, keeps its state in a volume, Prometheus waits."""
    alertmanager = services["alertmanager"]
    assert mounts(alertmanager)["./config/alertmanager"] == "/etc/alertmanager"
    assert mounts(alertmanager)["alertmanager-data"] == "/alertmanager"
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in alertmanager["command"]
    assert (ROOT / "config/alertmanager/alertmanager.yml").is_file()
    assert "alertmanager" in services["prometheus"]["depends_on"]


def test_blackbox_probes_each_replica_readiness(services: dict[str, Any]) -> None:
    """The alert-gateway-ready job probes /readyz of both gateways through the blackbox service."""
    blackbox = services["blackbox"]
    assert mounts(blackbox)["./config/blackbox"] == "/etc/blackbox"
    assert "--config.file=/etc/blackbox/blackbox.yml" in blackbox["command"]
    job = next(
        j for j in load("config/prometheus/prometheus.yml")["scrape_configs"]
        if j["job_name"] == "alert-gateway-ready"
    )
    targets = {t for group in job["static_configs"] for t in group["targets"]}
    assert targets == {f"{name}:8080" for name in GATEWAYS}
    relabel = {r.get("target_label"): r.get("replacement") for r in job["relabel_configs"]}
    assert relabel["__param_target"] == "http://${1}/readyz"
    assert relabel["__address__"] == "blackbox:9115"
    [module] = job["params"]["module"]
    probe = load("config/blackbox/blackbox.yml")["modules"][module]
    assert probe["prober"] == "http"
    assert probe["http"]["valid_status_codes"] == [200]  # /readyz answers 503 when not ready


def test_grafana_provisions_prometheus_and_the_dashboard(services: dict[str, Any]) -> None:
    """Grafana gets the compose Prometheus as default data source and the repository's dashboard."""
    grafana = services["grafana"]
    volumes = mounts(grafana)
    assert volumes["./config/grafana/provisioning"] == "/etc/grafana/provisioning"
    dashboard_path = volumes["./config/grafana/alert-gateway-dashboard.json"]
    [source] = load("config/grafana/provisioning/datasources/prometheus.yml")["datasources"]
    assert (source["type"], source["url"], source["isDefault"]) == (
        "prometheus", "http://prometheus:9090", True
    )
    [provider] = load("config/grafana/provisioning/dashboards/alert-gateway.yml")["providers"]
    assert provider["options"]["path"] == str(Path(dashboard_path).parent)
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith(
        "${GRAFANA_ADMIN_PASSWORD:?"
    )
    assert env_example()["GRAFANA_ADMIN_PASSWORD"] == "change-me"
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "false"


def test_compose_waits_for_a_gateway_to_stop_before_killing_it(services: dict[str, Any]) -> None:
    """A gateway's whole stop (its tasks, then its HTTP server) ends before Compose's SIGKILL."""
    for name in GATEWAYS:
        grace = services[name]["stop_grace_period"]
        assert grace.endswith("s") and float(grace[:-1]) > STOP_SECONDS + HTTP_SHUTDOWN_SECONDS
