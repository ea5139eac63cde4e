"""The Kubernetes manifests in ``deploy/`` agree with the code they deploy.

Static checks (no cluster needed): every service has a Deployment and a Service on its port from
``shared.config``, probes on ``/readyz`` and ``/healthz``, a restricted security context and
resource limits; each container's environment is a valid configuration for
``shared.config.load_settings`` (and the example Secret's placeholders are not); the key
encryption key reaches the keys service only; ``kustomization.yaml`` lists every manifest but
the examples; the Ingress routes like ``shared.routing`` (the same regular expressions, the
same services, and the same first match once ingress-nginx has sorted them), with
``/internal/`` and ``/metrics`` denied; ``docs/deploy.md``'s routing table is ``ROUTES``.

Two checks use tools when they are installed and skip otherwise: ``kubectl kustomize`` renders
the kustomization, and a real nginx (the engine behind ingress-nginx) loaded with the Ingress
paths as ingress-nginx renders them answers every path like ``shared.routing.service_for``.

Needs PyYAML (``pyyaml`` in the test extra).
"""
from __future__ import annotations

import base64
import http.client
import re
import secrets
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest
import yaml

from tests.support.tools import require_tool

from shared.config import DEFAULT_PORTS, SERVICES, ConfigError, load_settings
from shared.routing import ROUTES, service_for

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
NAMESPACE = "tessera"
# Private signing keys (keys) and password hashes in events (authn) are sealed under the KEK.
KEK_USERS = ("keys", "authn")
KEK_SECRET = "tessera-key-encryption"
DENY = "DENY"
DENYLIST = "nginx.ingress.kubernetes.io/denylist-source-range"
USE_REGEX = "nginx.ingress.kubernetes.io/use-regex"
# What deploy/ingress.yaml may add to a ROUTES regex (see the comment at its top): a guard
# after the first slash of app-scoped rules, and case sensitivity for everything after it.
GUARD = "(?!(?:admin|internal|metrics)/)"
CASE_SENSITIVE = re.compile(r"^/\(\?-i:(?P<body>.*)\)$")
# Never public, whatever their case-sensitive spelling.
MUST_DENY = re.compile(r"^/(internal|metrics)(/|$)")


# -- loading ------------------------------------------------------------------------------------

def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.fixture(scope="module")
def kustomization() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())


@pytest.fixture(scope="module")
def objects(kustomization) -> list[dict[str, Any]]:
    return [doc for name in kustomization["resources"] for doc in _documents(DEPLOY / name)]


def _one(objects, kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected exactly one {kind} {name}, found {len(found)}"
    return found[0]


def _all(objects, kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def _pod(deployment) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]


def _main_container(deployment, service: str) -> dict[str, Any]:
    containers = _pod(deployment)["containers"]
    assert [c["name"] for c in containers] == [service]
    return containers[0]


def _all_containers(deployment) -> list[dict[str, Any]]:
    pod = _pod(deployment)
    return pod.get("initContainers", []) + pod["containers"]


def _config_map(objects) -> dict[str, str]:
    return _one(objects, "ConfigMap", "tessera-config")["data"]


def _example_secrets() -> dict[str, dict[str, str]]:
    docs = _documents(DEPLOY / "secret.example.yaml")
    assert all(d["kind"] == "Secret" for d in docs)
    return {d["metadata"]["name"]: d["stringData"] for d in docs}


def _container_env(objects, container, secrets_by_name) -> dict[str, str]:
    """The environment a container gets: envFrom in order, then env (which wins)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(_one(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
        else:
            env.update(secrets_by_name[source["secretRef"]["name"]])
    for var in container.get("env", []):
        assert "value" in var, f"{var['name']}: only literal values are expected here"
        env[var["name"]] = var["value"]
    return env


def _valid_secrets(secrets_by_name) -> dict[str, dict[str, str]]:
    """The example Secrets with real-looking values in place of the placeholders."""
    values = {
        "TESSERA_DATABASE_URL": "postgresql://tessera:pw@postgres.db.svc:5432/tessera",
        "TESSERA_REDIS_URL": "rediss://:pw@redis.db.svc:6380/0",
        "TESSERA_NATS_URL": "tls://tessera:pw@nats.db.svc:4222",
        "TESSERA_SECRET_PEPPER": base64.b64encode(secrets.token_bytes(32)).decode(),
        "TESSERA_INTERNAL_TOKEN": base64.b64encode(secrets.token_bytes(32)).decode(),
        "TESSERA_KEY_ENCRYPTION_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    return {name: {k: values[k] for k in data} for name, data in secrets_by_name.items()}


def _referenced_secrets(deployment) -> set[str]:
    names: set[str] = set()
    for container in _all_containers(deployment):
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                names.add(source["secretRef"]["name"])
        for var in container.get("env", []):
            ref = var.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                names.add(ref["name"])
    for volume in _pod(deployment).get("volumes", []):
        if "secret" in volume:
            names.add(volume["secret"]["secretName"])
        for source in volume.get("projected", {}).get("sources", []):
            if "secret" in source:
                names.add(source["secret"]["name"])
    return names


# -- kustomization ------------------------------------------------------------------------------

def test_kustomization_lists_every_manifest_but_the_examples(kustomization):
    manifests = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    examples = {name for name in manifests if name.endswith(".example.yaml")}
    assert "secret.example.yaml" in examples
    resources = kustomization["resources"]
    assert len(resources) == len(set(resources))
    assert set(resources) == manifests - examples
    assert kustomization["namespace"] == NAMESPACE
    assert {"namespace.yaml", "configmap.yaml", "hpa.yaml", "pdb.yaml", "ingress.yaml",
            "networkpolicy.yaml"} <= set(resources)


def test_no_secret_is_applied_and_the_example_holds_both(objects):
    assert _all(objects, "Secret") == []
    example = _example_secrets()
    assert set(example) == {"tessera-secrets", KEK_SECRET}
    assert set(example["tessera-secrets"]) == {
        "TESSERA_DATABASE_URL", "TESSERA_REDIS_URL", "TESSERA_NATS_URL",
        "TESSERA_SECRET_PEPPER", "TESSERA_INTERNAL_TOKEN"}
    assert set(example[KEK_SECRET]) == {"TESSERA_KEY_ENCRYPTION_KEY"}
    assert "openssl rand -base64 32" in (DEPLOY / "secret.example.yaml").read_text()


def test_kubectl_kustomize_renders_everything(objects):
    kubectl = require_tool("kubectl", "apt-get install kubernetes-client")
    out = subprocess.run([kubectl, "kustomize", str(DEPLOY)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    rendered = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert sorted((d["kind"], d["metadata"]["name"]) for d in rendered) == \
        sorted((d["kind"], d["metadata"]["name"]) for d in objects)
    for doc in rendered:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]["name"]


# -- one Deployment and one Service per service -------------------------------------------------

def test_exactly_the_services_are_deployed(objects):
    expected = {f"tessera-{service}" for service in SERVICES}
    assert {d["metadata"]["name"] for d in _all(objects, "Deployment")} == expected
    assert {s["metadata"]["name"] for s in _all(objects, "Service")} == expected


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_and_service(objects, service):
    deployment = _one(objects, "Deployment", f"tessera-{service}")
    svc = _one(objects, "Service", f"tessera-{service}")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    assert labels["app.kubernetes.io/component"] == service
    assert svc["spec"]["selector"] == selector
    port = DEFAULT_PORTS[service]
    container = _main_container(deployment, service)
    assert container["image"].split(":")[0] == "tessera"
    assert container["args"] == ["python", "-m", f"services.{service}", "serve"]
    assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    assert {"name": "TESSERA_PORT", "value": str(port)} in container["env"]
    assert svc["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http",
                                     "protocol": "TCP"}]


@pytest.mark.parametrize("service", SERVICES)
def test_probes(objects, service):
    container = _main_container(_one(objects, "Deployment", f"tessera-{service}"), service)
    expected = {"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": "/healthz"}
    for probe, path in expected.items():
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}, probe
    # Startup covers migrations and first connections; liveness must not kill a slow start.
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60


@pytest.mark.parametrize("service", SERVICES)
def test_security_and_resources(objects, service):
    deployment = _one(objects, "Deployment", f"tessera-{service}")
    pod = _pod(deployment)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    # Service links would inject TESSERA_TOKEN_PORT=tcp://... into our configuration prefix.
    assert pod["enableServiceLinks"] is False
    for container in _all_containers(deployment):
        context = container["securityContext"]
        assert context.get("runAsNonRoot", pod["securityContext"]["runAsNonRoot"]) is True
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        assert "privileged" not in context
        resources = container["resources"]
        assert resources["requests"] == {"cpu": "100m", "memory": "128Mi"}
        assert resources["limits"]["memory"] == "256Mi"
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_run_before_the_service(objects, service):
    deployment = _one(objects, "Deployment", f"tessera-{service}")
    init = _pod(deployment)["initContainers"]
    assert [c["args"] for c in init] == [["python", "-m", f"services.{service}", "migrate"]]
    main = _main_container(deployment, service)
    assert init[0]["image"] == main["image"]
    assert init[0]["envFrom"] == main["envFrom"] and init[0]["env"] == main["env"]


@pytest.mark.parametrize("service", SERVICES)
def test_shutdown_fits_the_grace_period(objects, service):
    deployment = _one(objects, "Deployment", f"tessera-{service}")
    container = _main_container(deployment, service)
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep" and 1 <= int(command[1]) <= 15
    shutdown = float(_config_map(objects)["TESSERA_SHUTDOWN_TIMEOUT"])
    # preStop, then in-flight requests (shutdown timeout), then consumers and the outbox relay
    # (shutdown timeout again), then the NATS drain (5 s): all before the kubelet's SIGKILL.
    needed = int(command[1]) + 2 * shutdown + 5
    assert _pod(deployment)["terminationGracePeriodSeconds"] > needed


@pytest.mark.parametrize("service", SERVICES)
def test_prometheus_scrapes_metrics(objects, service):
    annotations = _one(objects, "Deployment", f"tessera-{service}")["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/path": "/metrics",
                           "prometheus.io/port": str(DEFAULT_PORTS[service])}


# -- configuration --------------------------------------------------------------------------------

def _config_variables() -> set[str]:
    return set(re.findall(r'"(TESSERA_[A-Z_]+)"', (ROOT / "shared" / "config.py").read_text()))


@pytest.mark.parametrize("service", SERVICES)
def test_each_container_gets_a_valid_configuration(objects, service):
    deployment = _one(objects, "Deployment", f"tessera-{service}")
    example = _example_secrets()
    valid = _valid_secrets(example)
    for container in _all_containers(deployment):
        placeholder_env = _container_env(objects, container, example)
        # Every variable shared/config.py reads is set explicitly; the KEK only where it is needed.
        expected = _config_variables() - ({"TESSERA_KEY_ENCRYPTION_KEY"} if service not in KEK_USERS else set())
        assert {k for k in placeholder_env if k.startswith("TESSERA_")} == expected, container["name"]
        # The example's placeholders fail closed: the service refuses to start on them.
        with pytest.raises(ConfigError):
            load_settings(service, placeholder_env)
        settings = load_settings(service, _container_env(objects, container, valid))
        assert settings.port == DEFAULT_PORTS[service]
        assert settings.host == "0.0.0.0"
        assert settings.log_format == "json"
        assert (settings.key_encryption_key is not None) == (service in KEK_USERS)
        for url, target in ((settings.token_service_url, "token"), (settings.keys_service_url, "keys")):
            parts = urlsplit(url)
            assert (parts.hostname, parts.port) == (f"tessera-{target}", DEFAULT_PORTS[target])


def test_key_encryption_key_reaches_only_the_services_that_seal(objects):
    for deployment in _all(objects, "Deployment"):
        service = deployment["metadata"]["name"].removeprefix("tessera-")
        referenced = _referenced_secrets(deployment)
        assert "tessera-secrets" in referenced
        assert (KEK_SECRET in referenced) == (service in KEK_USERS), service
    for service in KEK_USERS:
        for container in _all_containers(_one(objects, "Deployment", f"tessera-{service}")):
            # the migrate init container validates the configuration too
            assert {"secretRef": {"name": KEK_SECRET}} in container["envFrom"]
    assert "TESSERA_KEY_ENCRYPTION_KEY" not in _example_secrets()["tessera-secrets"]


def test_public_url_is_the_ingress_host(objects):
    public = urlsplit(_config_map(objects)["TESSERA_PUBLIC_URL"])
    assert public.scheme == "https" and public.path in ("", "/")
    for ingress in _all(objects, "Ingress"):
        assert [rule["host"] for rule in ingress["spec"]["rules"]] == [public.hostname]
        assert ingress["spec"]["tls"][0]["hosts"] == [public.hostname]
        assert ingress["spec"]["tls"][0]["secretName"]


# -- scaling and disruption -------------------------------------------------------------------------

def test_token_autoscales_and_spreads(objects):
    hpa = _one(objects, "HorizontalPodAutoscaler", "tessera-token")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "tessera-token"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    assert hpa["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]
    token = _one(objects, "Deployment", "tessera-token")
    assert "replicas" not in token["spec"], "the HPA owns the token replica count"
    keys = {c["topologyKey"] for c in _pod(token)["topologySpreadConstraints"]}
    assert "kubernetes.io/hostname" in keys
    assert [h["metadata"]["name"] for h in _all(objects, "HorizontalPodAutoscaler")] == ["tessera-token"]
    for service in ("authn", "userinfo", "keys"):
        assert _one(objects, "Deployment", f"tessera-{service}")["spec"]["replicas"] >= 2


@pytest.mark.parametrize("service", SERVICES)
def test_disruption_budgets(objects, service):
    pdb = _one(objects, "PodDisruptionBudget", f"tessera-{service}")
    deployment = _one(objects, "Deployment", f"tessera-{service}")
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    if service == "token":
        assert pdb["spec"]["minAvailable"] == 1 and "maxUnavailable" not in pdb["spec"]
    else:
        assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]


# -- network policy ----------------------------------------------------------------------------------

def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expr in selector.get("matchExpressions", []):
        assert expr["operator"] == "In"
        if labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def _allowed_peers(objects, service: str) -> list[dict[str, Any]]:
    labels = _one(objects, "Deployment", f"tessera-{service}")["spec"]["template"]["metadata"]["labels"]
    peers = []
    for policy in _all(objects, "NetworkPolicy"):
        if _selects(policy["spec"]["podSelector"], labels):
            for rule in policy["spec"].get("ingress", []):
                assert rule["ports"] == [{"protocol": "TCP", "port": "http"}]
                assert rule["from"], "a rule without peers would allow everyone"
                peers.extend(rule["from"])
    return peers


def test_network_policy(objects):
    deny = _one(objects, "NetworkPolicy", "tessera-default-deny-ingress")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    controller = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
                  "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}}}

    def pods_allowed(service: str) -> set[str]:
        return {s for s in SERVICES for peer in _allowed_peers(objects, service)
                if set(peer) == {"podSelector"} and _selects(peer["podSelector"], {
                    "app.kubernetes.io/name": "tessera", "app.kubernetes.io/component": s})}

    public = {service for _, service in ROUTES}  # the audit service has no public routes
    for service in SERVICES:
        assert (controller in _allowed_peers(objects, service)) == (service in public), service
    assert pods_allowed("keys") == {"token", "authn", "userinfo"}
    assert pods_allowed("token") == {"authn"}
    assert pods_allowed("authn") == pods_allowed("userinfo") == pods_allowed("audit") == set()


# -- ingress ---------------------------------------------------------------------------------------------

def _ingresses(objects) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    ingresses = _all(objects, "Ingress")
    public = [i for i in ingresses if DENYLIST not in i["metadata"].get("annotations", {})]
    denied = [i for i in ingresses if DENYLIST in i["metadata"].get("annotations", {})]
    assert len(public) == 1 and denied
    return public[0], denied


def _paths(ingress) -> list[dict[str, Any]]:
    return [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]


def _core(path: str) -> str:
    """The ROUTES regex an ingress path implements: the additions of ingress.yaml removed."""
    if path == "/":
        return "^/"
    match = CASE_SENSITIVE.match(path)
    assert match, f"{path}: expected /(?-i:...) around the rule"
    body = match["body"]
    if body.startswith(GUARD):
        body = body[len(GUARD):]
        assert body.startswith("[^/]+/"), f"{path}: the guard is for app-scoped rules only"
    return "^/" + body


def test_ingress_paths_are_the_routes_in_order(objects):
    public, _ = _ingresses(objects)
    assert public["spec"]["ingressClassName"] == "nginx"
    assert public["metadata"]["annotations"][USE_REGEX] == "true"
    paths = _paths(public)
    for p in paths:
        assert p["pathType"] == "ImplementationSpecific"
        assert p["path"].startswith("/"), "the API server rejects paths not starting with /"
        assert p["backend"]["service"]["port"] == {"name": "http"}
    assert [(_core(p["path"]), p["backend"]["service"]["name"]) for p in paths] == \
        [(pattern, f"tessera-{service}") for pattern, service in ROUTES]


def test_internal_and_metrics_are_denied_for_everyone(objects):
    _, denied = _ingresses(objects)
    for ingress in denied:
        annotations = ingress["metadata"]["annotations"]
        assert annotations[USE_REGEX] == "true"
        assert set(annotations[DENYLIST].split(",")) == {"0.0.0.0/0", "::/0"}
        assert ingress["spec"]["ingressClassName"] == "nginx"
    assert [p["path"] for i in denied for p in _paths(i)] == ["/(internal|metrics)(/|$)"]


def _locations(objects) -> list[tuple[str, str]]:
    """(path, target) in the order ingress-nginx writes the host's `location ~* "^path"` blocks."""
    public, denied = _ingresses(objects)
    locations = [(p["path"], p["backend"]["service"]["name"].removeprefix("tessera-"))
                 for p in _paths(public)]
    locations += [(p["path"], DENY) for ingress in denied for p in _paths(ingress)]
    # internal/ingress/controller/controller.go: sort.SliceStable by path descending, then
    # sort.SliceStable by len(path) descending. Python's sort is stable too.
    locations.sort(key=lambda loc: loc[0], reverse=True)
    locations.sort(key=lambda loc: len(loc[0]), reverse=True)
    return locations


def _nginx_match(locations, path: str) -> str:
    for pattern, target in locations:  # nginx: regex locations in order, first match wins
        if re.search("^" + pattern, path, re.IGNORECASE):  # `~*` is case-insensitive
            return target
    return "default-backend"


def _corpus() -> Iterator[str]:
    firsts = ["app", "my-app", "system", "admin", "internal", "metrics", "healthz", "Admin", "ADMIN",
              "Internal", "administrator", "admins", "login", "api", "users", "keys", "jwks.json",
              "userinfo", ".well-known", "x"]
    seconds = ["", "users", "keys", "jwks.json", "jwksXjson", "userinfo", "login", "logout",
               "consent", "mfa", "password", "signin", "authn", "api", "api/authn", "api/authnX",
               "LOGIN", "JWKS.JSON", "Userinfo", "token", "authorize", "admin",
               ".well-known/openid-configuration", "applications/app/signing-keys",
               "applications/app/signing-keys/rotate", "users/u1/login", "keys/applications/a"]
    yield from ["/", "/admin", "/internal", "/metrics", "/Metrics", "/healthz", "/readyz",
                "/.well-known/openid-configuration", "/authorize", "/token"]
    for first in firsts:
        yield f"/{first}"
        for second in seconds:
            for suffix in ("", "/", "/x", "x"):
                yield f"/{first}/{second}{suffix}"


def _check_answer(path: str, answer: str) -> None:
    if MUST_DENY.match(path):
        assert answer == DENY, path
    elif answer == DENY:  # stricter than routing.py: any case of /internal and /metrics
        assert MUST_DENY.match(path.lower()), path
    else:
        assert answer == service_for(path), path


def test_ingress_nginx_order_routes_like_routing_py(objects):
    locations = _locations(objects)
    # The order that makes the additions necessary: app-scoped rules sort before /admin/.
    order = [target for _, target in locations]
    assert order[-1] == "token" and locations[-1][0] == "/"
    checked = 0
    for path in _corpus():
        _check_answer(path, _nginx_match(locations, path))
        checked += 1
    assert checked > 1000


def test_the_additions_are_needed(objects):
    """Without them, ingress-nginx's length order would send /admin/login to authn."""
    plain = [(pattern[1:], f"tessera-{service}") for pattern, service in ROUTES]
    plain.sort(key=lambda loc: loc[0], reverse=True)
    plain.sort(key=lambda loc: len(loc[0]), reverse=True)
    assert _nginx_match(plain, "/admin/login") == "tessera-authn"
    assert service_for("/admin/login") == "token"
    assert _nginx_match(_locations(objects), "/admin/login") == "token"


# -- the same, on a real nginx ---------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _nginx_conf(prefix: Path, port: int, locations) -> str:
    blocks = []
    for pattern, target in locations:
        assert '"' not in pattern
        # As ingress-nginx renders it (template.go buildLocation): ~* "^<path>". The deny is an
        # access-phase `deny` as ingress-nginx writes it, so the content here is never served.
        body = "deny 0.0.0.0/0; deny ::/0;" if target == DENY else f'return 200 "{target}";'
        blocks.append(f'    location ~* "^{pattern}" {{ {body} }}')
    temp = " ".join(f"{name}_temp_path {prefix / name};"
                    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return "\n".join([
        "daemon off;", "worker_processes 1;", f"pid {prefix / 'nginx.pid'};",
        f"error_log {prefix / 'error.log'} warn;", "events { worker_connections 64; }",
        "http {", "  access_log off;", "  default_type text/plain;", f"  {temp}",
        "  server {", f"    listen 127.0.0.1:{port};", *blocks, "  }", "}", ""])


def test_real_nginx_routes_like_routing_py(objects, tmp_path):
    nginx = require_tool("nginx", "apt-get install nginx-light", "/usr/sbin/nginx", "/usr/local/sbin/nginx")
    port = _free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(_nginx_conf(tmp_path, port, _locations(objects)))
    check = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
                            "-c", str(conf)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr  # PCRE accepts every path as rendered
    proc = subprocess.Popen([nginx, "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
                             "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _attempt in range(600):   # a start-up wait (up to ~30 s), not a speed check
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                time.sleep(0.05)
        else:
            pytest.fail("nginx did not start listening")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)

        def ask(raw_path: str) -> str:
            conn.request("GET", raw_path)
            response = conn.getresponse()
            body = response.read().decode()
            if response.status == 403:
                return DENY
            assert response.status == 200, (raw_path, response.status)
            return body

        for path in _corpus():
            _check_answer(path, ask(path))
        # nginx matches the decoded, normalised path: spelling tricks do not reach /internal/.
        for trick in ("/%69nternal/applications/app/signing-keys", "//internal/x",
                      "/app/../internal/applications/app/signing-keys", "/./metrics",
                      "/%6detrics", "/internal%2Fx"):
            assert ask(trick) == DENY, trick
        conn.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# -- docs ----------------------------------------------------------------------------------------------

def test_docs_routing_table_is_routes():
    text = (ROOT / "docs" / "deploy.md").read_text()
    rows = re.findall(r"^\|\s*(\d+)\s*\|\s*`(.+?)`\s*\|\s*(\w+)\s*\|", text, re.MULTILINE)
    table = [(pattern.replace(r"\|", "|"), service) for _, pattern, service in rows]
    assert table == list(ROUTES)
    assert [int(n) for n, _, _ in rows] == list(range(1, len(ROUTES) + 1))
