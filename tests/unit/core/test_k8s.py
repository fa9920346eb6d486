"""The Kubernetes manifests: assembled as kustomize would, valid against the Kubernetes
schemas (offline, from ``kubernetes-validate``), and naming only what the code has.

``build`` is a small kustomize: the fields ``deploy/k8s`` uses and no others (an unknown
field fails the test rather than being ignored). Resources are files or kustomization
directories; ``configMapGenerator`` needs ``disableNameSuffixHash``; ``patches`` are
strategic merges from files, matched by kind and name, where lists whose items all have
a ``name`` (containers, env, volumes) merge by it and other lists are replaced;
``images`` and ``namespace`` are applied last.
"""

from __future__ import annotations

import copy
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from pydantic import BaseModel, SecretStr
from ruamel.yaml import YAML

from router.app.roles import ROLES
from router.settings import ENV_PREFIX, Settings, load_settings
from rules.loader import load_sources

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
PRODUCTION = K8S / "overlays" / "production"
RULE_ROLES = ("router", "timers", "ingress")
"""The roles that read rules: router and timers evaluate them, the ingress's read API
matches agents to queues by the queues' skills."""
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.latest_version())
CLUSTER_SCOPED = {"Namespace"}
KUSTOMIZATION_FIELDS = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "images",
    "patches",
    "configMapGenerator",
    "generatorOptions",
}

Obj = dict[str, Any]


def load_all(path: Path) -> list[Obj]:
    return [doc for doc in YAML(typ="safe").load_all(path.read_text()) if doc]


def key(obj: Obj) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def merge(base: Any, patch: Any) -> Any:
    """A strategic merge patch, for the subset described in the module docstring."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for field, value in patch.items():
            assert not field.startswith("$"), f"patch directive {field} is not supported"
            if value is None:
                out.pop(field, None)
            elif field in out:
                out[field] = merge(out[field], value)
            else:
                out[field] = copy.deepcopy(value)
        return out
    named = (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(i, dict) and "name" in i for i in [*base, *patch])
    )
    if named:
        items = {i["name"]: i for i in base}
        for item in patch:
            items[item["name"]] = (
                merge(items[item["name"]], item) if item["name"] in items else item
            )
        return list(items.values())
    return copy.deepcopy(patch)


def pod_specs(obj: Obj) -> Iterator[Obj]:
    if obj["kind"] in {"Deployment", "Job", "StatefulSet", "DaemonSet"}:
        yield obj["spec"]["template"]["spec"]


def build(directory: Path) -> list[Obj]:
    kustomization = YAML(typ="safe").load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KUSTOMIZATION_FIELDS
    assert not unknown, f"{directory}: the test's kustomize does not know {sorted(unknown)}"
    objects: list[Obj] = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        objects.extend(build(path) if path.is_dir() else load_all(path))
    generate(objects, kustomization, directory)
    for patch in kustomization.get("patches", []):
        assert set(patch) == {"path"}, "only strategic merge patches from files"
        [body] = load_all(directory / patch["path"])
        matches = [i for i, o in enumerate(objects) if key(o) == key(body)]
        assert len(matches) == 1, f"patch {patch['path']} matches {len(matches)} objects"
        assert objects[matches[0]]["apiVersion"] == body["apiVersion"]
        objects[matches[0]] = merge(objects[matches[0]], body)
    transform(objects, kustomization)
    keys = [key(o) for o in objects]
    assert len(keys) == len(set(keys)), f"duplicate objects in {directory}"
    return objects


def generate(objects: list[Obj], kustomization: Obj, directory: Path) -> None:
    """``configMapGenerator`` with ``files``, names unhashed."""
    options = kustomization.get("generatorOptions", {})
    assert set(options) <= {"disableNameSuffixHash", "labels"}
    for generator in kustomization.get("configMapGenerator", []):
        assert set(generator) <= {"name", "files", "behavior"}, generator
        assert options.get("disableNameSuffixHash"), "hashed names are not modelled"
        data = {Path(f).name: (directory / f).read_text() for f in generator["files"]}
        generated = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": generator["name"], "labels": dict(options.get("labels", {}))},
            "data": data,
        }
        behavior = generator.get("behavior", "create")
        existing = [i for i, o in enumerate(objects) if key(o) == key(generated)]
        if behavior == "create":
            assert not existing, f"{generator['name']} exists: use behavior replace or merge"
            objects.append(generated)
            continue
        assert existing, f"{generator['name']}: nothing to {behavior}"
        old = objects[existing[0]]
        if behavior == "merge":
            data = {**old.get("data", {}), **data}
        objects[existing[0]] = {**old, "data": data}


def transform(objects: list[Obj], kustomization: Obj) -> None:
    """``images`` and ``namespace``, applied after the patches as kustomize does."""
    for image in kustomization.get("images", []):
        assert set(image) <= {"name", "newName", "newTag"}
        for container in (c for obj in objects for c in containers(obj)):
            name, _, tag = container["image"].partition(":")
            if name == image["name"]:
                container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
    if "namespace" in kustomization:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = kustomization["namespace"]


BUNDLES = {"base": BASE, "production": PRODUCTION}


@pytest.fixture(scope="module", params=sorted(BUNDLES))
def bundle(request: pytest.FixtureRequest) -> dict[tuple[str, str], Obj]:
    return {key(o): o for o in build(BUNDLES[request.param])}


def setting_env_names() -> dict[str, bool]:
    """Every SWITCHBOARD_* variable Settings reads, and whether it is a secret."""

    def is_secret(annotation: Any) -> bool:
        return annotation is SecretStr or SecretStr in typing.get_args(annotation)

    names: dict[str, bool] = {}
    for field, info in Settings.model_fields.items():
        nested = info.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            for sub, sub_info in nested.model_fields.items():
                names[f"{ENV_PREFIX}{field}_{sub}".upper()] = is_secret(sub_info.annotation)
        else:
            names[f"{ENV_PREFIX}{field}".upper()] = is_secret(info.annotation)
    return names


def containers(obj: Obj) -> list[Obj]:
    return [c for spec in pod_specs(obj) for c in spec["containers"]]


def settings_data(bundle: dict[tuple[str, str], Obj]) -> dict[str, str]:
    data: dict[str, str] = bundle["ConfigMap", "switchboard-settings"]["data"]
    return data


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_is_valid_kubernetes(bundle: dict[tuple[str, str], Obj], version: str) -> None:
    for obj in bundle.values():
        kubernetes_validate.validate(obj, version, strict=True)


def test_secret_examples_are_valid_kubernetes() -> None:
    for secret in load_all(BASE / "secret.example.yaml"):
        kubernetes_validate.validate(secret, kubernetes_validate.latest_version(), strict=True)


def test_every_role_has_a_deployment_with_both_probes(
    bundle: dict[tuple[str, str], Obj],
) -> None:
    port = int(settings_data(bundle)["SWITCHBOARD_HTTP_PORT"])
    deployments = {name for kind, name in bundle if kind == "Deployment"}
    assert deployments == {f"switchboard-{role}" for role in ROLES}
    for role in ROLES:
        deployment = bundle["Deployment", f"switchboard-{role}"]
        [container] = containers(deployment)
        assert container["command"] == ["switchboard", "run", "--role", role]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        served = int(env.get("SWITCHBOARD_PROBE_PORT", port))  # where the process has them
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            check = container[probe]["httpGet"]
            assert check["path"] == path, f"{role} {probe}"
            assert ports[check["port"]] == served, f"{role} {probe} on the port serving it"
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert int(annotations["prometheus.io/port"]) in {port, served}, f"{role} scraped"
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) == {"cpu", "memory"}, f"{role} {kind}"
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        pdb = bundle["PodDisruptionBudget", f"switchboard-{role}"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_one_image_for_every_role_and_the_topics_job(
    bundle: dict[tuple[str, str], Obj],
) -> None:
    images = {c["image"] for o in bundle.values() for c in containers(o)}
    assert len(images) == 1
    [job] = containers(bundle["Job", "switchboard-topics"])
    assert job["command"] == ["switchboard", "topics", "ensure"]
    uid, gid = image_user()
    for obj in bundle.values():
        for spec in pod_specs(obj):
            assert spec["securityContext"]["runAsUser"] == uid
            assert spec["securityContext"]["runAsGroup"] == gid


def image_user() -> tuple[int, int]:
    """The uid and gid the image runs as: its last ``USER``, numeric both, and the user
    and group the image creates with them."""
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    [*_, user] = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("USER ")]
    uid, sep, gid = user.partition(":")
    # by name, a policy with only runAsNonRoot refuses the pod: "image has non-numeric user"
    assert uid.isdigit(), f"USER {user}: a numeric uid"
    assert sep, f"USER {user}: uid:gid"
    assert gid.isdigit(), f"USER {user}: a numeric gid"
    assert f"--gid {gid}" in dockerfile.split("groupadd", 1)[1].split("\n", 1)[0]
    useradd = dockerfile.split("useradd", 1)[1].split("\n", 1)[0]
    assert f"--uid {uid}" in useradd
    assert f"--gid {gid}" in useradd
    return int(uid), int(gid)


def test_every_env_var_is_a_setting(bundle: dict[tuple[str, str], Obj]) -> None:
    known = setting_env_names()
    for obj in bundle.values():
        for container in containers(obj):
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    data = bundle["ConfigMap", source["configMapRef"]["name"]]["data"]
                    assert set(data) <= set(known), sorted(set(data) - set(known))
                    secrets = {name for name in data if known[name]}
                    assert not secrets, f"secrets in a ConfigMap: {sorted(secrets)}"
                else:
                    assert source["secretRef"]["name"] in SECRETS
            env = {e["name"] for e in container.get("env", [])}
            assert env <= set(known), sorted(env - set(known))


SECRETS = {
    "switchboard-secrets": {"ingress", "router", "timers", "metrics", "notifier", "topics"},
    "switchboard-ingress-secrets": {"ingress"},
    "switchboard-notifier-secrets": {"notifier"},
}
"""Each Secret of secret.example.yaml and who may hold it: the ingress's credentials
(API tokens, channel secrets) and the notifier's (SMTP) are no other role's."""


def test_the_secret_examples_hold_every_secret_setting() -> None:
    examples = {
        s["metadata"]["name"]: s["stringData"] for s in load_all(BASE / "secret.example.yaml")
    }
    assert set(examples) == set(SECRETS)
    secrets = {name for name, secret in setting_env_names().items() if secret}
    assert "SWITCHBOARD_API_TOKENS" in secrets
    assert set().union(*examples.values()) == secrets
    assert "SWITCHBOARD_API_TOKENS" in examples["switchboard-ingress-secrets"]
    assert "SWITCHBOARD_SMTP_URL" in examples["switchboard-notifier-secrets"]


def test_each_role_holds_only_its_own_secrets(bundle: dict[tuple[str, str], Obj]) -> None:
    for (kind, name), obj in bundle.items():
        if kind not in ("Deployment", "Job"):
            continue
        holder = name.removeprefix("switchboard-")
        for container in containers(obj):
            refs = {s["secretRef"]["name"] for s in container["envFrom"] if "secretRef" in s}
            assert "switchboard-secrets" in refs, name
            for ref in refs:
                assert holder in SECRETS[ref], f"{name} holds {ref}"


def test_settings_configmap_loads_as_settings(
    bundle: dict[tuple[str, str], Obj], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in setting_env_names():
        monkeypatch.delenv(name, raising=False)
    for name, value in settings_data(bundle).items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.http_host == "0.0.0.0"
    assert str(settings.rules_path) == "/etc/switchboard/rules"


def test_rules_configmap_is_mounted_at_the_rules_path_and_loads(
    bundle: dict[tuple[str, str], Obj],
) -> None:
    rules_path = settings_data(bundle)["SWITCHBOARD_RULES_PATH"]
    rules = bundle["ConfigMap", "switchboard-rules"]
    assert all(name.endswith((".yaml", ".yml")) for name in rules["data"])
    load_sources(sorted(rules["data"].items()))  # raises RuleSetInvalid on a bad rule
    for role in RULE_ROLES:
        deployment = bundle["Deployment", f"switchboard-{role}"]
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        [container] = containers(deployment)
        [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == rules_path]
        # a subPath mount never sees a changed ConfigMap: hot reload needs the directory
        assert "subPath" not in mount
        assert volumes[mount["name"]]["configMap"]["name"] == "switchboard-rules"


def pods_spec(bundle: dict[tuple[str, str], Obj], name: str) -> Obj:
    [container] = bundle["Deployment", name]["spec"]["template"]["spec"]["containers"]
    return container


def test_ingress_routes_to_the_http_role(bundle: dict[tuple[str, str], Obj]) -> None:
    service = bundle["Service", "switchboard-ingress"]
    pods = bundle["Deployment", "switchboard-ingress"]["spec"]["template"]["metadata"]
    assert service["spec"]["selector"].items() <= pods["labels"].items()
    service_ports = {p["name"] for p in service["spec"]["ports"]}
    for rule in bundle["Ingress", "switchboard"]["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == "switchboard-ingress"
            assert backend["port"]["name"] in service_ports
            # the API only: probes and /metrics (unauthenticated) stay inside the cluster
            assert (path["path"], path["pathType"]) == ("/v1", "Prefix")
    container = pods_spec(bundle, "switchboard-ingress")
    # webhooks arriving between SIGTERM and the pod leaving the Service are answered
    assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    hpa = bundle["HorizontalPodAutoscaler", "switchboard-ingress"]
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) in bundle
    assert "replicas" not in bundle["Deployment", "switchboard-ingress"]["spec"]


def test_production_overlay_changes_what_it_says() -> None:
    base = {key(o): o for o in build(BASE)}
    production = {key(o): o for o in build(PRODUCTION)}
    assert set(production) == set(base) | {("Namespace", "switchboard")}
    assert all(
        o["metadata"].get("namespace") == "switchboard"
        for k, o in production.items()
        if k[0] != "Namespace"
    )
    router = production["Deployment", "switchboard-router"]
    assert router["spec"]["replicas"] == 3
    [container] = containers(router)
    assert container["resources"]["limits"]["memory"] == "1Gi"
    assert container["image"] == "registry.example.com/switchboard:0.1.0"
    # the patch merged into the container: probes and mounts are still the base's
    assert (
        container["readinessProbe"]
        == containers(base["Deployment", "switchboard-router"])[0]["readinessProbe"]
    )
    data = settings_data(production)
    assert data["SWITCHBOARD_KAFKA_REPLICATION_FACTOR"] == "3"
    assert data["SWITCHBOARD_RULES_PATH"] == "/etc/switchboard/rules"
    partitions = int(data["SWITCHBOARD_KAFKA_PARTITIONS"])
    for role in ("router", "timers", "metrics"):
        replicas = production["Deployment", f"switchboard-{role}"]["spec"]["replicas"]
        assert partitions % replicas == 0, f"{role}: partitions shared unevenly"


def test_merge_follows_strategic_merge_for_named_lists() -> None:
    base = {"containers": [{"name": "a", "image": "x", "args": ["1"]}], "tls": [1]}
    patch = {"containers": [{"name": "a", "args": ["2"]}, {"name": "b"}], "tls": [2]}
    assert merge(base, patch) == {
        "containers": [{"name": "a", "image": "x", "args": ["2"]}, {"name": "b"}],
        "tls": [2],
    }


def test_the_shipped_rules_are_the_example_rules() -> None:
    """The deployment starts with the rules `switchboard dev` runs: a copy that drifts
    would deploy last month's routing."""
    shipped = (BASE / "rules" / "rules.yaml").read_text(encoding="utf-8")
    assert shipped == (ROOT / "rules" / "examples" / "rules.yaml").read_text(encoding="utf-8")


def test_the_shipped_notification_templates_are_the_examples() -> None:
    shipped = BASE / "templates"
    examples = ROOT / "rules" / "examples" / "templates"
    names = sorted(p.name for p in examples.iterdir() if p.is_file())
    assert names == sorted(p.name for p in shipped.iterdir() if p.is_file())
    for name in names:
        assert (shipped / name).read_bytes() == (examples / name).read_bytes(), name


NGINX_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def nginx_size(text: str) -> int:
    """An nginx size (``client_max_body_size``): bytes, or a number with k, m or g."""
    number, unit = text[:-1], text[-1].lower()
    if unit.isdigit():
        number, unit = text, ""
    return int(number) * NGINX_UNITS[unit]


def test_nginx_size_reads_its_units() -> None:
    assert nginx_size("11m") == 11 * 1024 * 1024
    assert nginx_size("512k") == 512 * 1024
    assert nginx_size("2048") == 2048


def test_production_ingress_lets_through_every_body_the_app_accepts() -> None:
    """ingress-nginx's default ``proxy-body-size`` is 1m: a 2 MiB email, which the app
    takes, got nginx's HTML 413 and never reached Switchboard."""
    production = {key(o): o for o in build(PRODUCTION)}
    ingress = production["Ingress", "switchboard"]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    annotations = ingress["metadata"].get("annotations", {})
    limit = annotations.get("nginx.ingress.kubernetes.io/proxy-body-size")
    assert limit is not None, "ingress-nginx would cut bodies at its default 1m"
    configured = settings_data(production).get("SWITCHBOARD_MAX_BODY_BYTES")
    accepted = int(configured) if configured else Settings.model_fields["max_body_bytes"].default
    assert nginx_size(str(limit)) >= accepted
