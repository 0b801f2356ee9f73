"""Dockerfile, compose file, Kubernetes manifests and systemd units reference only commands,
settings, ports and files that exist in the project, and keep the fields that matter: probes on
/healthz and /readyz, resources, non-root, secrets never inlined.

Docker's engine is not available where these tests run, so the compose file is checked by
parsing and cross-checking, not by starting it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from newswatch.streams.embedded import free_port
from newswatch.streams.settings import ConfigError, load_settings
from newswatch.streams.web import start_health_server
from tests.support.deploy import DEPLOY, ROOT, cli_commands, env_name_known, which

COMPOSE = DEPLOY / "compose.yaml"
K8S = DEPLOY / "k8s"
SYSTEMD = DEPLOY / "systemd"
WEB_PORT = "6066"
SAMPLE_TOKEN = "sample-api-token-0123456789"
# compose's required-variable interpolation: ${NAME:?message}
REQUIRED_VARIABLE = re.compile(r"^\$\{(NEWSWATCH_\w+):\?[^}]+\}$")
# Values that look like credentials: a password in a URL, a whsec_ key, a PEM block.
SECRET_VALUE = re.compile(r"://[^/\s:@]*:[^@\s]+@|whsec_[A-Za-z0-9+/=]{8,}|-----BEGIN")


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _newswatch_services() -> dict[str, dict]:
    return {
        name: service
        for name, service in _compose()["services"].items()
        if service.get("image", "").startswith("newswatch")
    }


def _assert_settings_valid(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables name real settings, and their values pass the settings' validation."""
    unknown = sorted(name for name in env if not env_name_known(name))
    assert not unknown, f"not settings of newswatch: {unknown}"
    for name in list(os.environ):
        if name.startswith("NEWSWATCH_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        load_settings()
    except ConfigError as exc:
        pytest.fail(f"configuration rejected by newswatch: {exc}")


# ---- Dockerfile -----------------------------------------------------------------------------


def test_dockerfile() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    stages = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert stages and all(image.startswith("python:3.11-slim") for image in stages)
    assert re.search(r"pip install -c constraints\.txt \.$", text, re.M), (
        "the project is installed with `pip install -c constraints.txt .` (pinned versions)"
    )
    runtime = text.rsplit("\nFROM ", 1)[1]
    user = re.findall(r"^USER\s+(\S+)", runtime, re.M)
    assert user and not user[-1].startswith(("root", "0")), "the runtime stage must not run as root"
    assert re.search(r"^HEALTHCHECK .*", runtime, re.M | re.S) and "/healthz" in runtime
    assert f"NEWSWATCH_WEB_PORT={WEB_PORT}" in runtime and f"EXPOSE {WEB_PORT}" in runtime
    assert "NEWSWATCH_WEB_HOST=0.0.0.0" in runtime, "containers must listen beyond loopback"
    assert "NEWSWATCH_API_TOKEN" not in re.sub(r"#.*", "", runtime), "no token in the image"
    assert re.search(r'ENTRYPOINT \["newswatch"\]', runtime)
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), f"COPY of {path}, which is not in the repository"
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text()
    assert ".venv" not in ignore or "!" in ignore  # allow-list style: only what the build needs
    for needed in ("LICENSE", "constraints.txt"):  # license-files; the pinned versions
        assert f"!{needed}" in ignore.split() and needed in text


def _dockerfile_env() -> dict[str, str]:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    runtime = text.rsplit("\nFROM ", 1)[1]
    env = {}
    for line in re.findall(r"^ENV (.+)$", runtime, re.M):
        env.update(dict(re.findall(r"(\w+)=(\S+)", line)))
    return {name: value for name, value in env.items() if name.startswith("NEWSWATCH_")}


def test_dockerfile_image_requires_an_api_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """The image listens on 0.0.0.0: started without NEWSWATCH_API_TOKEN it refuses to run,
    naming the setting; with one it starts."""
    env = _dockerfile_env()
    assert env["NEWSWATCH_WEB_HOST"] == "0.0.0.0"
    with pytest.raises(pytest.fail.Exception, match="NEWSWATCH_API_TOKEN"):
        _assert_settings_valid(env, monkeypatch)
    _assert_settings_valid({**env, "NEWSWATCH_API_TOKEN": SAMPLE_TOKEN}, monkeypatch)


# ---- compose -------------------------------------------------------------------------------


def test_compose_has_the_stack() -> None:
    services = _compose()["services"]
    assert {"kafka", "redis", "prometheus", "alertmanager", "grafana", "poller", "worker"} <= set(
        services
    )
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    kafka_env = services["kafka"]["environment"]
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller", "single node in KRaft mode"
    redis_command = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_command
    for name, service in services.items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image tag"


def test_compose_newswatch_services(monkeypatch: pytest.MonkeyPatch) -> None:
    services = _newswatch_services()
    assert {"poller", "worker"} <= set(services)
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["poller"]["deploy"]["replicas"] == 2
    commands = cli_commands()
    for name, service in services.items():
        assert service["command"][0] in commands, f"{name}: no such command"
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).exists()
        env = {k: str(v) for k, v in service["environment"].items()}
        assert env["NEWSWATCH_WEB_PORT"] == WEB_PORT
        # Listening on 0.0.0.0 requires the API token, from the environment or deploy/.env:
        # compose refuses to start when it is unset (${VAR:?message}).
        assert env["NEWSWATCH_WEB_HOST"] == "0.0.0.0"
        required = REQUIRED_VARIABLE.match(env["NEWSWATCH_API_TOKEN"])
        assert required and required.group(1) == "NEWSWATCH_API_TOKEN", f"{name}: token optional"
        env["NEWSWATCH_API_TOKEN"] = SAMPLE_TOKEN
        kafka = env["NEWSWATCH_KAFKA_SERVERS"].split(":")[0]
        redis = env["NEWSWATCH_REDIS_URL"].split("//")[1].split(":")[0]
        assert {kafka, redis} <= set(_compose()["services"]), "Kafka/Redis host is not a service"
        _assert_settings_valid(env, monkeypatch)


def test_compose_partitions_cover_the_workers() -> None:
    worker = _newswatch_services()["worker"]
    partitions = int(worker["environment"]["NEWSWATCH_TOPIC_PARTITIONS"])
    assert worker["deploy"]["replicas"] <= partitions


def test_compose_pollers_share_the_feeds() -> None:
    """Several pollers run sharded (else each polls every feed), no more of them than the
    feeds topic has partitions, and each one is scraped (DNS: one A record per replica)."""
    poller = _newswatch_services()["poller"]
    env = {k: str(v) for k, v in poller["environment"].items()}
    assert poller["deploy"]["replicas"] >= 2
    assert env["NEWSWATCH_POLLER__SHARDING"] == "true"
    assert poller["deploy"]["replicas"] <= int(env["NEWSWATCH_TOPIC_PARTITIONS"])
    # The rest of the shared environment is kept (the merge key did not replace it).
    worker_env = _newswatch_services()["worker"]["environment"]
    assert worker_env.items() <= poller["environment"].items()
    prom = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    (job,) = [job for job in prom["scrape_configs"] if job["job_name"] == "newswatch-poller"]
    assert job["dns_sd_configs"][0]["names"] == ["poller"]
    assert "static_configs" not in job, "a static target scrapes only one of the pollers"


def test_compose_mounts_exist_and_match_the_configs() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"
    grafana_targets = {v.split(":")[1] for v in services["grafana"]["volumes"]}
    provider = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/newswatch.yaml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] in grafana_targets
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert Path(home).name in os.listdir(DEPLOY / "grafana" / "dashboards")
    datasource = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text()
    )
    assert datasource["datasources"][0]["url"].startswith("http://prometheus:9090")
    prom = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    targets = {
        target
        for job in prom["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    assert "localhost:9090" in targets
    for service in ("poller", "worker"):
        dns = [job for job in prom["scrape_configs"] if job["job_name"] == f"newswatch-{service}"]
        assert dns[0]["dns_sd_configs"][0] == {
            "names": [service],
            "type": "A",
            "port": int(WEB_PORT),
            "refresh_interval": "30s",
        }
    assert prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"
    ]


def test_alertmanager_config_routes_to_defined_receivers() -> None:
    config = yaml.safe_load((DEPLOY / "alertmanager/alertmanager.yml").read_text())
    receivers = {receiver["name"] for receiver in config["receivers"]}
    routes = [config["route"], *config["route"].get("routes", [])]
    assert all(route.get("receiver", "default") in receivers for route in routes)


# ---- Kubernetes ----------------------------------------------------------------------------


def _k8s_documents() -> list[dict]:
    documents = []
    for path in sorted(K8S.rglob("*.yaml")):
        documents.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return documents


def _deployments() -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in _k8s_documents() if d.get("kind") == "Deployment"}


def test_k8s_deployments(monkeypatch: pytest.MonkeyPatch) -> None:
    deployments = _deployments()
    assert set(deployments) == {"newswatch-poller", "newswatch-worker"}
    configmap = next(d for d in _k8s_documents() if d.get("kind") == "ConfigMap")
    commands = cli_commands()
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        (container,) = pod["containers"]
        assert container["image"] == "newswatch", "the image is set by kustomize `images`"
        assert container["args"][0] in commands, f"{name}: no such command"
        port = container["ports"][0]
        assert (port["name"], str(port["containerPort"])) == ("http", WEB_PORT)
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        resources = container["resources"]
        assert resources["requests"]["cpu"] and resources["requests"]["memory"]
        assert resources["limits"]["memory"]
        assert container["envFrom"][0]["configMapRef"]["name"] == configmap["metadata"]["name"]
        for variable in container["env"]:
            assert "value" not in variable, f"{name}: {variable['name']} inlined; use a Secret"
            assert variable["valueFrom"]["secretKeyRef"]["name"] == "newswatch-secrets"
        token = [v for v in container["env"] if v["name"] == "NEWSWATCH_API_TOKEN"]
        assert token, f"{name}: listens on 0.0.0.0 without NEWSWATCH_API_TOKEN"
        assert not token[0]["valueFrom"]["secretKeyRef"].get("optional"), "the token is required"
        names = {v["name"] for v in container["env"]} | set(configmap["data"])
        unknown = sorted(n for n in names if not env_name_known(n))
        assert not unknown, f"not settings of newswatch: {unknown}"
    partitions = int(configmap["data"]["NEWSWATCH_TOPIC_PARTITIONS"])
    # Pollers scale like workers: sharded through the feeds topic's partitions, so a rolling
    # update (one down at a time, no surge) never has two pollers on one feed.
    poller = deployments["newswatch-poller"]["spec"]
    assert configmap["data"]["NEWSWATCH_POLLER__SHARDING"] == "true"
    assert 2 <= poller["replicas"] <= partitions
    assert poller["strategy"]["type"] == "RollingUpdate"
    assert poller["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    replicas = deployments["newswatch-worker"]["spec"]["replicas"]
    assert replicas <= partitions
    overlay = yaml.safe_load((K8S / "overlays/production/kustomization.yaml").read_text())
    counts = {item["name"]: item["count"] for item in overlay["replicas"]}
    assert set(counts) == {"newswatch-poller", "newswatch-worker"}
    assert all(1 <= count <= partitions for count in counts.values())
    assert configmap["data"]["NEWSWATCH_WEB_HOST"] == "0.0.0.0"
    _assert_settings_valid(
        {
            **configmap["data"],
            "NEWSWATCH_REDIS_URL": "redis://redis:6379/0",
            "NEWSWATCH_API_TOKEN": SAMPLE_TOKEN,
        },
        monkeypatch,
    )


def test_k8s_network_policy_limits_ingress() -> None:
    """The base has a NetworkPolicy selecting every newswatch pod: ingress only to the http
    port, only from Prometheus pods and labelled API clients; never from everywhere."""
    policies = [d for d in _k8s_documents() if d.get("kind") == "NetworkPolicy"]
    assert len(policies) == 1
    (policy,) = policies
    base = yaml.safe_load((K8S / "base/kustomization.yaml").read_text())
    assert "networkpolicy.yaml" in base["resources"]
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    for deployment in _deployments().values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert spec["podSelector"]["matchLabels"].items() <= labels.items()
    assert spec["ingress"], "an empty ingress list would drop the probes' and scrapes' peers"
    for rule in spec["ingress"]:
        assert rule.get("from"), "a rule without `from` admits every peer"
        for peer in rule["from"]:
            assert peer.get("podSelector", {}).get("matchLabels"), "peers are selected pods"
            assert "ipBlock" not in peer
        assert [(p["protocol"], p["port"]) for p in rule["ports"]] == [("TCP", "http")]
    peers = [peer["podSelector"]["matchLabels"] for r in spec["ingress"] for peer in r["from"]]
    assert {"app.kubernetes.io/name": "prometheus"} in peers


def test_k8s_services_are_scraped() -> None:
    services = {d["metadata"]["name"]: d for d in _k8s_documents() if d.get("kind") == "Service"}
    deployments = _deployments()
    assert set(services) == set(deployments)
    for name, service in services.items():
        annotations = service["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == WEB_PORT
        assert annotations["prometheus.io/path"] == "/metrics"
        pod_labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items()
    scrape = yaml.safe_load((DEPLOY / "prometheus/kubernetes.yml").read_text())
    jobs = {job["job_name"]: job for job in scrape["scrape_configs"]}
    for job_name, service_name in (
        ("newswatch-poller", "newswatch-poller"),
        ("newswatch-worker", "newswatch-worker"),
    ):
        keep = jobs[job_name]["relabel_configs"][0]
        assert keep["regex"] == service_name and keep["action"] == "keep"


def test_k8s_secrets_are_not_inlined() -> None:
    for document in _k8s_documents():
        assert document.get("kind") != "Secret", "no Secret manifests: use the secretGenerator"
    for path in K8S.rglob("*"):
        if path.is_file() and path.name != "secrets.env.example":
            assert not SECRET_VALUE.search(path.read_text()), f"{path}: looks like a secret"
    overlay = yaml.safe_load((K8S / "overlays/production/kustomization.yaml").read_text())
    example_text = (K8S / "overlays/production/secrets.env.example").read_text()
    assert re.search(r"^api-token=CHANGE-ME$", example_text, re.M)
    (generator,) = overlay["secretGenerator"]
    assert generator["name"] == "newswatch-secrets"
    assert "literals" not in generator
    ignore = (K8S / "overlays/production/.gitignore").read_text().split()
    assert all(env_file in ignore for env_file in generator["envs"])
    example = (K8S / "overlays/production/secrets.env.example").read_text()
    keys = {line.split("=", 1)[0].lstrip("# ") for line in example.splitlines() if "=" in line}
    referenced = {
        v["valueFrom"]["secretKeyRef"]["key"]
        for d in _deployments().values()
        for v in d["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert referenced <= keys, f"secret keys not documented in the example: {referenced - keys}"


def test_kustomize_builds(tmp_path: Path) -> None:
    kubectl = which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed; manifests were checked by parsing only")
    base = subprocess.run([kubectl, "kustomize", str(K8S / "base")], capture_output=True, text=True)
    assert base.returncode == 0, base.stderr
    kinds = sorted(doc["kind"] for doc in yaml.safe_load_all(base.stdout))
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "Deployment",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Service",
        "Service",
    ]
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    overlay = copy / "overlays/production"
    shutil.copy(overlay / "secrets.env.example", overlay / "secrets.env")
    built = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    documents = list(yaml.safe_load_all(built.stdout))
    (secret,) = [d for d in documents if d["kind"] == "Secret"]
    for deployment in (d for d in documents if d["kind"] == "Deployment"):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["image"].endswith("/newswatch:0.1.0")
        refs = {v["valueFrom"]["secretKeyRef"]["name"] for v in container["env"]}
        assert refs == {secret["metadata"]["name"]}, "the generated (hashed) name is referenced"
        assert deployment["metadata"]["namespace"] == "newswatch"


# ---- systemd -------------------------------------------------------------------------------


def _unit(name: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in (SYSTEMD / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            values.setdefault(key.strip(), []).append(value.strip())
    return values


@pytest.mark.parametrize("unit", ["newswatch-poll.service", "newswatch-worker@.service"])
def test_systemd_unit(unit: str) -> None:
    values = _unit(unit)
    assert values["EnvironmentFile"] == ["/etc/newswatch/newswatch.env"]
    executable, command = values["ExecStart"][0].split()[:2]
    assert executable.endswith("/newswatch") and command in cli_commands()
    assert values["User"] == ["newswatch"]
    assert values["Restart"] == ["on-failure"]
    assert values["KillSignal"] == ["SIGTERM"]
    names = {v.split("=", 1)[0] for v in values.get("Environment", [])}
    assert {"NEWSWATCH_WEB_PORT", "NEWSWATCH_STATE_DIR"} <= names
    assert all(env_name_known(name) for name in names)
    if unit.endswith("@.service"):
        assert "NEWSWATCH_WEB_PORT=%i" in values["Environment"]


def test_systemd_env_example(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example binds 0.0.0.0, so its token placeholder must be replaced before the units
    start: as shipped, newswatch refuses it; with a real token the file is valid."""
    env = {}
    for line in (SYSTEMD / "newswatch.env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key] = value
    assert env["NEWSWATCH_WEB_HOST"] == "0.0.0.0"
    assert env["NEWSWATCH_API_TOKEN"] == "CHANGE-ME"
    with pytest.raises(pytest.fail.Exception, match="api_token"):
        _assert_settings_valid(env, monkeypatch)
    _assert_settings_valid({**env, "NEWSWATCH_API_TOKEN": SAMPLE_TOKEN}, monkeypatch)


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = which("systemd-analyze")
    newswatch = shutil.which("newswatch") or str(Path(sys.executable).parent / "newswatch")
    if analyze is None or not Path(newswatch).exists():
        pytest.skip("systemd-analyze or the newswatch script is not available")
    units = []
    for path in SYSTEMD.glob("*.service"):
        text = path.read_text().replace("/opt/newswatch/bin/newswatch", newswatch)
        name = path.name.replace("@.service", "@6066.service")
        (tmp_path / path.name).write_text(text)
        (tmp_path / name).write_text(text)
        units.append(str(tmp_path / name))
    result = subprocess.run(
        [analyze, "verify", *units], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    problems = [line for line in result.stderr.splitlines() if str(tmp_path) in line]
    assert not problems, "\n".join(problems)


def test_k8s_worker_disruption_budget() -> None:
    (pdb,) = [d for d in _k8s_documents() if d.get("kind") == "PodDisruptionBudget"]
    pod_labels = _deployments()["newswatch-worker"]["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1


def _healthcheck_argv() -> list[str]:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    match = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])$", text, re.M)
    assert match, "no exec-form HEALTHCHECK"
    return json.loads(match.group(1))


def test_dockerfile_healthcheck_command_probes_healthz() -> None:
    """The image's HEALTHCHECK command, run as is: 0 against a live /healthz, non-zero when
    nothing listens."""
    argv = _healthcheck_argv()
    assert argv[0] == "python"
    argv[0] = sys.executable
    port = free_port()
    ready = threading.Event()
    loop = asyncio.new_event_loop()

    async def serve():
        runner = await start_health_server("127.0.0.1", port, lambda: (True, "ok"))
        ready.set()
        return runner

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = asyncio.run_coroutine_threadsafe(serve(), loop).result(10)
    env = {**os.environ, "NEWSWATCH_WEB_PORT": str(port)}
    try:
        assert ready.is_set()
        healthy = subprocess.run(argv, env=env, capture_output=True, timeout=30)
        assert healthy.returncode == 0, healthy.stderr
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
    dead = subprocess.run(
        argv, env={**env, "NEWSWATCH_WEB_PORT": str(free_port())}, capture_output=True, timeout=30
    )
    assert dead.returncode != 0


def test_documented_commands_exist() -> None:
    """Every `newswatch ...` command named in the deploy README, the alert annotations and
    the unit files is a real (sub)command of the CLI."""
    import click

    from newswatch.streams.cli import main

    texts = [(DEPLOY / "README.md").read_text()]
    texts += [path.read_text() for path in (DEPLOY / "prometheus" / "rules").glob("*.yml")]
    texts += [path.read_text() for path in SYSTEMD.glob("*.service")]
    found = set()
    for text in texts:
        found |= set(re.findall(r"(?:^|[`/])newswatch((?: [a-z][a-z-]*)+)", text, re.M))
    checked = 0
    for words in found:
        command: click.Command = main
        for word in words.split():
            if not isinstance(command, click.Group) or word not in command.commands:
                break
            command = command.commands[word]
            checked += 1
        else:
            continue
        if isinstance(command, click.Group):
            pytest.fail(f"`newswatch{words}`: {word!r} is not a command of {command.name!r}")
    assert checked >= 5
