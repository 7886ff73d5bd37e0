"""The offline check of deploy/: Kubernetes overlays rendered, every manifest validated against
its schema, every reference resolved, and the compose file against the compose spec.

No cluster and no Docker are needed. Rendering uses `kubectl kustomize` (or `kustomize build`,
or without either the subset of kustomize deploy/ uses, in Python);
the schemas of Kubernetes' own kinds come from the pinned `kubernetes-validate` package, those
of the operators' custom resources (CloudNativePG, cert-manager, External Secrets) are vendored
under deploy/schemas/crds/ and applied as strictly as `kubectl apply` does (an unknown field is
an error), and the compose spec's schema is vendored under deploy/schemas/compose/.

Each check returns a list of problems, one readable line each ("Deployment/atena: ..."); an
empty list means the manifests are sound. `python -m mch_testing.manifests` runs them all.
"""

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate import utils as kubernetes_schemas
from packaging.version import Version
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[4]
DEPLOY = ROOT / "deploy"
OVERLAYS = DEPLOY / "overlays"
SCHEMAS = DEPLOY / "schemas"
# The oldest Kubernetes the manifests must apply to (CronJob timeZone needs 1.27).
KUBERNETES_VERSION = "1.30"

Manifest = dict[str, Any]


class RenderUnavailable(RuntimeError):
    """An overlay needs more of kustomize than render_in_python knows, and neither kubectl nor
    kustomize is installed: it cannot be rendered here."""


def overlays() -> list[Path]:
    return sorted(path.parent for path in OVERLAYS.glob("*/kustomization.yaml"))


def render(directory: Path) -> list[Manifest]:
    """The overlay as `kubectl kustomize` renders it; without kubectl or kustomize, as
    `render_in_python` does (the subset of kustomize deploy/ uses)."""
    if shutil.which("kubectl"):
        command = ["kubectl", "kustomize", str(directory)]
    elif shutil.which("kustomize"):
        command = ["kustomize", "build", str(directory)]
    else:
        return render_in_python(directory)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ValueError(f"{' '.join(command)} failed: {done.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


# Fields of a kustomization render_in_python understands; any other needs the real kustomize.
KUSTOMIZE_SUBSET = {
    "apiVersion", "kind", "namespace", "resources", "images", "patches",
    "configMapGenerator", "generatorOptions",
}  # fmt: skip
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "ClusterIssuer"}


def render_in_python(directory: Path) -> list[Manifest]:
    """A kustomization rendered without kustomize, for a machine without kubectl: resources
    (files and folders), namespace, images, configMapGenerator without hash suffixes and JSON
    6902 patches. Anything else raises RenderUnavailable. tests/test_deploy_manifests.py checks
    it renders every overlay exactly as kubectl does."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KUSTOMIZE_SUBSET
    if unknown:
        raise RenderUnavailable(f"{directory}: {sorted(unknown)} need kustomize (install kubectl)")
    docs: list[Manifest] = []
    for resource in kustomization.get("resources") or []:
        path = directory / resource
        if path.is_dir():
            docs += render_in_python(path)
        else:
            docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    docs += _generated_config_maps(directory, kustomization)
    for patch in kustomization.get("patches") or []:
        operations = yaml.safe_load(
            patch["patch"] if "patch" in patch else (directory / patch["path"]).read_text()
        )
        targets = [doc for doc in docs if _is_target(doc, patch["target"])]
        if not targets:
            raise ValueError(f"{directory}: no resource matches the patch target {patch['target']}")
        for doc in targets:
            for operation in operations:
                _apply_json_patch(doc, operation)
    for image in kustomization.get("images") or []:
        for doc in docs:
            _set_image(doc, image)
    namespace = kustomization.get("namespace")
    if namespace:
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc.setdefault("metadata", {})["namespace"] = namespace
    return docs


def _generated_config_maps(directory: Path, kustomization: Manifest) -> list[Manifest]:
    options = kustomization.get("generatorOptions") or {}
    made = []
    for generator in kustomization.get("configMapGenerator") or []:
        if not (
            options.get("disableNameSuffixHash")
            or (generator.get("options") or {}).get("disableNameSuffixHash")
        ):
            raise RenderUnavailable(f"{directory}: name suffix hashes need kustomize")
        data = {}
        for entry in generator.get("files") or []:
            key, _, source = entry.partition("=")
            data[key if source else Path(key).name] = (directory / (source or key)).read_text()
        for literal in generator.get("literals") or []:
            key, _, value = literal.partition("=")
            data[key] = value
        made.append(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]},
             "data": data}
        )  # fmt: skip
    return made


def _is_target(doc: Manifest, target: Manifest) -> bool:
    group = doc.get("apiVersion", "").rpartition("/")[0]
    return (
        doc.get("kind") == target.get("kind", doc.get("kind"))
        and doc.get("metadata", {}).get("name") == target.get("name", doc["metadata"]["name"])
        and group == target.get("group", group)
    )


def _apply_json_patch(doc: Manifest, operation: Manifest) -> None:
    *parents, last = [
        part.replace("~1", "/").replace("~0", "~") for part in operation["path"].split("/")[1:]
    ]
    node: Any = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if operation["op"] in ("add", "replace"):
        if isinstance(node, list):
            index = len(node) if last == "-" else int(last)
            if operation["op"] == "add":
                node.insert(index, operation["value"])
            else:
                node[index] = operation["value"]
        else:
            if operation["op"] == "replace" and last not in node:
                raise ValueError(f"patch replaces {operation['path']}, which does not exist")
            node[last] = operation["value"]
    elif operation["op"] == "remove":
        del node[int(last) if isinstance(node, list) else last]
    else:
        raise RenderUnavailable(f"JSON patch op {operation['op']} needs kustomize")


def _set_image(doc: Manifest, image: Manifest) -> None:
    template = pod_template(doc)
    if template is None:
        return
    spec = template.get("spec") or {}
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        name, _, tag = container["image"].partition(":")
        if name == image["name"]:
            container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"


def name_of(doc: Manifest) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


# --- schemas -----------------------------------------------------------------------------


def _strict(schema: Any) -> Any:
    """What kubectl's strict field validation enforces: a field the schema does not name is an
    error, unless the schema keeps unknown fields."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


@cache
def _crd_validators() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    validators: dict[tuple[str, str], jsonschema.protocols.Validator] = {}
    for path in sorted((SCHEMAS / "crds").glob("*.json")):
        schema = json.loads(path.read_text())
        gvk = schema["x-kubernetes-group-version-kind"]
        api_version = f"{gvk['group']}/{gvk['version']}"
        validators[(api_version, gvk["kind"])] = jsonschema.Draft7Validator(_strict(schema))
    return validators


def _path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "(top)"


@cache
def _kubernetes_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    """kubernetes-validate's strict schema of a built-in kind, compiled once (its own
    `validate` reads and compiles the schemas again for every document)."""
    version = [
        v
        for v in kubernetes_schemas.all_versions()
        if Version(kubernetes_schemas.major_minor(v)) <= Version(KUBERNETES_VERSION)
    ][-1]
    folder = f"kubernetes-json-schema/v{version}-local-strict"
    # "rbac.authorization.k8s.io/v1" -> "rbac-v1", as kubernetes-validate names its files.
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = kubernetes_schemas.schema_contents(
            f"{folder}/{kind.lower()}-{group_version}.json", KUBERNETES_VERSION
        )
    except FileNotFoundError:
        raise kubernetes_validate.SchemaNotFoundError(
            kind=kind, version=KUBERNETES_VERSION, api_version=api_version
        ) from None
    definitions = kubernetes_schemas.schema_contents(
        f"{folder}/_definitions.json", KUBERNETES_VERSION
    )
    registry: Registry[Any] = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(definitions) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


def schema_problems(docs: list[Manifest]) -> list[str]:
    problems = []
    for doc in docs:
        key = (str(doc.get("apiVersion")), str(doc.get("kind")))
        validator = _crd_validators().get(key)
        if validator is None:
            try:
                validator = _kubernetes_validator(*key)
            except kubernetes_validate.SchemaNotFoundError:
                problems.append(f"{name_of(doc)}: no schema for {key[0]} {key[1]} (vendor its CRD)")
                continue
        problems += [
            f"{name_of(doc)}: {_path(error)}: {error.message}"
            for error in validator.iter_errors(doc)
        ]
    return problems


# --- references --------------------------------------------------------------------------

ANY_KEY = None  # a Secret whose keys are not known here (made by an operator)
# Hosts the services reach by URL: "atena", "atena.mch", "nats-0.nats-headless.mch.svc...".
URL = re.compile(
    r"\b(?:https?|nats|tls|nats-route|postgres(?:ql)?(?:\+asyncpg)?)://"
    r"(?:[^@/\s\"']+@)?([A-Za-z0-9.-]+)"
)
IN_CLUSTER_SUFFIXES = (".svc.cluster.local", ".svc")


@dataclass
class Inventory:
    """What the rendered manifests define, or make an operator define."""

    secrets: dict[str, set[str] | None] = field(default_factory=dict)
    config_maps: dict[str, set[str]] = field(default_factory=dict)
    pvcs: set[str] = field(default_factory=set)
    services: set[str] = field(default_factory=set)
    service_accounts: set[str] = field(default_factory=lambda: {"default"})
    issuers: set[str] = field(default_factory=set)
    secret_stores: set[str] = field(default_factory=set)
    workloads: set[tuple[str, str]] = field(default_factory=set)
    pod_labels: list[dict[str, str]] = field(default_factory=list)
    clusters: dict[str, Manifest] = field(default_factory=dict)
    namespace: str = "mch"


def inventory(docs: list[Manifest]) -> Inventory:
    inv = Inventory()
    for doc in docs:
        kind, meta, spec = doc.get("kind"), doc.get("metadata", {}), doc.get("spec") or {}
        name = meta.get("name", "")
        inv.namespace = meta.get("namespace", inv.namespace)
        if kind == "Secret":
            inv.secrets[name] = set(doc.get("data") or {}) | set(doc.get("stringData") or {})
        elif kind == "ExternalSecret":
            target = (spec.get("target") or {}).get("name") or name
            if spec.get("dataFrom"):
                inv.secrets[target] = ANY_KEY
            else:
                keys = {item["secretKey"] for item in spec.get("data") or []}
                template = (spec.get("target") or {}).get("template") or {}
                inv.secrets[target] = keys | set(template.get("data") or {})
        elif kind == "Certificate":
            inv.secrets[spec["secretName"]] = {"tls.crt", "tls.key", "ca.crt"}
        elif kind == "Cluster" and doc["apiVersion"].startswith("postgresql.cnpg.io/"):
            inv.clusters[name] = doc
            inv.services |= {f"{name}-rw", f"{name}-ro", f"{name}-r"}
            for made in ("app", "superuser", "ca", "server", "replication"):
                inv.secrets.setdefault(f"{name}-{made}", ANY_KEY)
            labels = dict((spec.get("inheritedMetadata") or {}).get("labels") or {})
            inv.pod_labels.append(labels | {"cnpg.io/cluster": name})
        elif kind == "ConfigMap":
            inv.config_maps[name] = set(doc.get("data") or {}) | set(doc.get("binaryData") or {})
        elif kind == "PersistentVolumeClaim":
            inv.pvcs.add(name)
        elif kind == "Service":
            inv.services.add(name)
        elif kind == "ServiceAccount":
            inv.service_accounts.add(name)
        elif kind == "Issuer":
            inv.issuers.add(name)
        elif kind == "SecretStore":
            inv.secret_stores.add(name)
        if kind in ("Deployment", "StatefulSet", "DaemonSet"):
            inv.workloads.add((str(kind), name))
        template = pod_template(doc)
        if template is not None:
            inv.pod_labels.append((template.get("metadata") or {}).get("labels") or {})
    return inv


def pod_template(doc: Manifest) -> Manifest | None:
    spec = doc.get("spec") or {}
    if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        template: Manifest = spec.get("template") or {}
        return template
    if doc.get("kind") == "CronJob":
        job: Manifest = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
        return job
    return None


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    wanted = selector.get("matchLabels", selector)
    return bool(wanted) and all(labels.get(key) == value for key, value in wanted.items())


def _label_selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes LabelSelector (matchLabels and matchExpressions); {} matches every pod."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


class _Checker:
    def __init__(self, inv: Inventory) -> None:
        self.inv = inv
        self.problems: list[str] = []

    def secret(self, where: str, name: str, key: str | None = None) -> None:
        if name not in self.inv.secrets:
            self.problems.append(f"{where}: Secret {name} does not exist")
            return
        keys = self.inv.secrets[name]
        if key is not None and keys is not ANY_KEY and key not in keys:
            self.problems.append(f"{where}: Secret {name} has no key {key}")

    def config_map(self, where: str, name: str, key: str | None = None) -> None:
        if name not in self.inv.config_maps:
            self.problems.append(f"{where}: ConfigMap {name} does not exist")
        elif key is not None and key not in self.inv.config_maps[name]:
            self.problems.append(f"{where}: ConfigMap {name} has no key {key}")

    def service(self, where: str, name: str) -> None:
        if name not in self.inv.services:
            self.problems.append(f"{where}: Service {name} does not exist")

    def urls(self, where: str, text: str) -> None:
        for host in URL.findall(text):
            service = self.in_cluster_service(host)
            if service is not None:
                self.service(f"{where} ({host})", service)

    def in_cluster_service(self, host: str) -> str | None:
        """The Service a host name resolves through inside the cluster, or None when it is
        outside (a dotted name that is not *.svc) or an address."""
        for suffix in IN_CLUSTER_SUFFIXES:
            if host.endswith(suffix):
                host = host.removesuffix(suffix)
                break
        else:
            if "." in host and not host.endswith(f".{self.inv.namespace}"):
                return None
        labels = host.split(".")
        if labels[-1] == self.inv.namespace and len(labels) > 1:
            labels = labels[:-1]
        if len(labels) > 2 or labels[-1].isdigit() or host in ("localhost", ""):
            return None
        return labels[-1]  # "nats-0.nats-headless": the pod's headless Service

    def pod(self, where: str, doc: Manifest, template: Manifest) -> None:
        spec = template.get("spec") or {}
        account = spec.get("serviceAccountName")
        if account and account not in self.inv.service_accounts:
            self.problems.append(f"{where}: ServiceAccount {account} does not exist")
        for pull in spec.get("imagePullSecrets") or []:
            self.secret(where, pull["name"])
        volumes: set[str] = {
            str((claim.get("metadata") or {}).get("name"))
            for claim in (doc.get("spec") or {}).get("volumeClaimTemplates") or []
        }
        for volume in spec.get("volumes") or []:
            volumes.add(volume["name"])
            self.volume(f"{where} volume {volume['name']}", volume)
        for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            self.container(f"{where} container {container.get('name')}", container, volumes)

    def volume(self, where: str, volume: Manifest) -> None:
        if "secret" in volume and not volume["secret"].get("optional"):
            name = volume["secret"]["secretName"]
            self.secret(where, name)
            for item in volume["secret"].get("items") or []:
                self.secret(where, name, item["key"])
        if "configMap" in volume and not volume["configMap"].get("optional"):
            self.config_map(where, volume["configMap"]["name"])
        if "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]["claimName"]
            if claim not in self.inv.pvcs:
                self.problems.append(f"{where}: PersistentVolumeClaim {claim} does not exist")
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "secret" in source and not source["secret"].get("optional"):
                self.secret(where, source["secret"]["name"])
            if "configMap" in source and not source["configMap"].get("optional"):
                self.config_map(where, source["configMap"]["name"])

    def container(self, where: str, container: Manifest, volumes: set[str]) -> None:
        for source in container.get("envFrom") or []:
            if "secretRef" in source and not source["secretRef"].get("optional"):
                self.secret(where, source["secretRef"]["name"])
            if "configMapRef" in source and not source["configMapRef"].get("optional"):
                self.config_map(where, source["configMapRef"]["name"])
        for env in container.get("env") or []:
            value_from = env.get("valueFrom") or {}
            if "secretKeyRef" in value_from and not value_from["secretKeyRef"].get("optional"):
                ref = value_from["secretKeyRef"]
                self.secret(f"{where} env {env['name']}", ref["name"], ref["key"])
            if "configMapKeyRef" in value_from and not value_from["configMapKeyRef"].get(
                "optional"
            ):
                ref = value_from["configMapKeyRef"]
                self.config_map(f"{where} env {env['name']}", ref["name"], ref["key"])
            if isinstance(env.get("value"), str):
                self.urls(f"{where} env {env['name']}", env["value"])
        for mount in container.get("volumeMounts") or []:
            if mount["name"] not in volumes:
                self.problems.append(f"{where}: mounts volume {mount['name']}, not defined")


def reference_problems(docs: list[Manifest]) -> list[str]:
    inv = inventory(docs)
    check = _Checker(inv)
    for doc in docs:
        where, kind = name_of(doc), doc.get("kind")
        spec = doc.get("spec") or {}
        template = pod_template(doc)
        if template is not None:
            check.pod(where, doc, template)
        if kind == "StatefulSet":
            check.service(where, spec["serviceName"])
        elif kind in ("ConfigMap", "Secret"):
            for key, value in ((doc.get("data") or {}) | (doc.get("stringData") or {})).items():
                if isinstance(value, str):
                    check.urls(f"{where} {key}", value)
        elif kind == "HorizontalPodAutoscaler":
            target = spec["scaleTargetRef"]
            if (target["kind"], target["name"]) not in inv.workloads:
                check.problems.append(f"{where}: {target['kind']} {target['name']} does not exist")
        elif kind in ("PodDisruptionBudget", "Service"):
            selector = spec.get("selector") or {}
            if selector and not any(_selects(selector, labels) for labels in inv.pod_labels):
                check.problems.append(f"{where}: its selector matches no pod")
        elif kind == "Certificate":
            issuer = spec["issuerRef"]
            if issuer.get("kind", "Issuer") != "Issuer" or issuer["name"] not in inv.issuers:
                check.problems.append(
                    f"{where}: {issuer.get('kind', 'Issuer')} {issuer['name']} does not exist"
                )
        elif kind == "Issuer" and "ca" in spec:
            check.secret(where, spec["ca"]["secretName"])
        elif kind == "ExternalSecret":
            store = spec["secretStoreRef"]
            if store.get("kind", "SecretStore") != "SecretStore" or (
                store["name"] not in inv.secret_stores
            ):
                check.problems.append(
                    f"{where}: {store.get('kind', 'SecretStore')} {store['name']} does not exist"
                )
        elif kind == "SecretStore":
            auth = ((spec.get("provider") or {}).get("vault") or {}).get("auth") or {}
            account = ((auth.get("kubernetes") or {}).get("serviceAccountRef") or {}).get("name")
            if account and account not in inv.service_accounts:
                check.problems.append(f"{where}: ServiceAccount {account} does not exist")
        elif kind == "Cluster" and doc["apiVersion"].startswith("postgresql.cnpg.io/"):
            _cluster_references(check, where, spec)
        elif kind in ("Database", "ScheduledBackup") and doc["apiVersion"].startswith(
            "postgresql.cnpg.io/"
        ):
            _cluster_member(check, where, doc, inv)
    return check.problems


def _cluster_references(check: _Checker, where: str, spec: Manifest) -> None:
    initdb = (spec.get("bootstrap") or {}).get("initdb") or {}
    if "secret" in initdb:
        check.secret(f"{where} bootstrap", initdb["secret"]["name"], "password")
    for role in (spec.get("managed") or {}).get("roles") or []:
        if "passwordSecret" in role:
            check.secret(f"{where} role {role['name']}", role["passwordSecret"]["name"], "password")
    for slot, secret in (spec.get("certificates") or {}).items():
        if slot.endswith("Secret"):
            check.secret(f"{where} certificates.{slot}", secret)
    store = (spec.get("backup") or {}).get("barmanObjectStore") or {}
    for slot, ref in (store.get("s3Credentials") or {}).items():
        if isinstance(ref, dict) and "name" in ref:
            check.secret(f"{where} s3Credentials.{slot}", ref["name"], ref.get("key"))


def _cluster_member(check: _Checker, where: str, doc: Manifest, inv: Inventory) -> None:
    spec = doc["spec"]
    cluster = inv.clusters.get(spec["cluster"]["name"])
    if cluster is None:
        check.problems.append(f"{where}: Cluster {spec['cluster']['name']} does not exist")
        return
    cluster_spec = cluster["spec"]
    if doc["kind"] == "Database":
        roles = {role["name"] for role in (cluster_spec.get("managed") or {}).get("roles") or []}
        initdb = (cluster_spec.get("bootstrap") or {}).get("initdb") or {}
        roles.add(initdb.get("owner", "app"))
        if spec["owner"] not in roles:
            check.problems.append(f"{where}: owner {spec['owner']} is no role of the Cluster")
    elif spec.get("method", "barmanObjectStore") == "barmanObjectStore" and not (
        (cluster_spec.get("backup") or {}).get("barmanObjectStore")
    ):
        check.problems.append(f"{where}: Cluster {spec['cluster']['name']} has no object store")


# --- the platform's own rules --------------------------------------------------------------


def policy_problems(docs: list[Manifest]) -> list[str]:
    """What the issue asks of every service's Deployment: probes, resources, non-root, TLS,
    a PodDisruptionBudget, an autoscaler and a NetworkPolicy of its own."""
    problems = []
    by_kind: dict[str, list[Manifest]] = {}
    for doc in docs:
        by_kind.setdefault(str(doc.get("kind")), []).append(doc)
    certificates = {doc["spec"]["secretName"] for doc in by_kind.get("Certificate", [])}
    for doc in by_kind.get("Deployment", []):
        where, template = name_of(doc), doc["spec"]["template"]
        labels, spec = template["metadata"]["labels"], template["spec"]
        if not (spec.get("securityContext") or {}).get("runAsNonRoot"):
            problems.append(f"{where}: pods may run as root")
        for container in spec["containers"]:
            for probe in ("readinessProbe", "livenessProbe"):
                if probe not in container:
                    problems.append(f"{where}: container {container['name']} has no {probe}")
            resources = container.get("resources") or {}
            if not {"cpu", "memory"} <= set(resources.get("requests") or {}) or (
                "memory" not in (resources.get("limits") or {})
            ):
                problems.append(f"{where}: container {container['name']} lacks requests/limits")
        mounted = {(v.get("secret") or {}).get("secretName") for v in spec.get("volumes") or []}
        if not mounted & certificates:
            problems.append(f"{where}: mounts no certificate (TLS)")
        for kind, selector, what in (
            ("PodDisruptionBudget", "selector", "PodDisruptionBudget"),
            ("NetworkPolicy", "podSelector", "NetworkPolicy of its own"),
        ):
            if not any(_selects(d["spec"][selector], labels) for d in by_kind.get(kind, [])):
                problems.append(f"{where}: no {what}")
        if not any(
            h["spec"]["scaleTargetRef"]
            == {"apiVersion": "apps/v1", "kind": "Deployment", "name": doc["metadata"]["name"]}
            for h in by_kind.get("HorizontalPodAutoscaler", [])
        ):
            problems.append(f"{where}: no HorizontalPodAutoscaler")
    return problems


def deployed_services(docs: list[Manifest]) -> set[str]:
    """The Python services the Deployments run (their MCH_SERVICE)."""
    found = set()
    for doc in docs:
        if doc.get("kind") != "Deployment":
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env") or []:
                if env.get("name") == "MCH_SERVICE":
                    found.add(str(env["value"]))
    return found


# --- network policies against the flows the settings name ---------------------------------

URL_WITH_PORT = re.compile(
    r"\b(https?|nats|tls|postgres(?:ql)?(?:\+asyncpg)?)://(?:[^@/\s\"']+@)?([A-Za-z0-9.-]+)(?::(\d+))?"
)
DEFAULT_PORTS = {"http": 80, "https": 443, "nats": 4222, "tls": 4222}


def _settings_text(template: Manifest, docs: list[Manifest]) -> list[str]:
    """Every setting value a pod's containers get: env values and the ConfigMaps and Secrets
    (their values when the manifests hold them) loaded with envFrom."""
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    values: list[str] = []
    for container in (template.get("spec") or {}).get("containers") or []:
        values += [str(env["value"]) for env in container.get("env") or [] if "value" in env]
        for source in container.get("envFrom") or []:
            for kind, ref in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                found = by_name.get((kind, (source.get(ref) or {}).get("name", "")))
                if found is not None:
                    values += [
                        str(v)
                        for v in (
                            (found.get("data") or {}) | (found.get("stringData") or {})
                        ).values()
                    ]
    return values


def _flow_allowed(
    policies: list[Manifest], pod: dict[str, str], peer: dict[str, str], port: int, direction: str
) -> bool:
    """Whether the policies selecting `pod` let it talk to `peer` on `port` (direction
    "Egress": pod -> peer; "Ingress": peer -> pod). No policy of that type: allowed."""
    selecting = [
        p
        for p in policies
        if direction in p["spec"].get("policyTypes", ["Ingress"])
        and _label_selector_matches(p["spec"].get("podSelector") or {}, pod)
    ]
    if not selecting:
        return True
    rules_key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    for policy in selecting:
        for rule in policy["spec"].get(rules_key) or []:
            ports = rule.get("ports")
            if ports and not any(p.get("port") == port for p in ports):
                continue
            peers = rule.get(peers_key)
            if not peers or any(
                "podSelector" in p
                and "namespaceSelector" not in p
                and _label_selector_matches(p["podSelector"], peer)
                for p in peers
            ):
                return True
    return False


def network_problems(docs: list[Manifest]) -> list[str]:
    """Every in-cluster address a pod's settings name (the REST URLs, NATS, its database)
    must be allowed both ways by the NetworkPolicies: egress from the pod, ingress to the
    pods behind the Service, on the port the Service forwards to."""
    inv = inventory(docs)
    check = _Checker(inv)
    policies = [d for d in docs if d.get("kind") == "NetworkPolicy"]
    services = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "Service"}
    templates = [t for t in (pod_template(d) for d in docs) if t is not None]
    problems = []
    for doc in docs:
        template = pod_template(doc)
        if template is None:
            continue
        source = (template.get("metadata") or {}).get("labels") or {}
        seen = set()
        for text in _settings_text(template, docs):
            for scheme, host, port_text in URL_WITH_PORT.findall(text):
                name = check.in_cluster_service(host)
                if name is None or name in seen:
                    continue
                seen.add(name)
                target = _target(name, int(port_text or DEFAULT_PORTS.get(scheme, 5432)),
                                 services, templates, inv)  # fmt: skip
                if target is None:
                    continue  # an unknown Service: reference_problems reports it
                labels, port = target
                own = "app.kubernetes.io/name"
                if own in labels and labels.get(own) == source.get(own):
                    # The shared settings name identity's URLs to identity too; it verifies
                    # its own tokens with its key ring and never calls itself.
                    continue
                if not _flow_allowed(policies, source, labels, port, "Egress"):
                    problems.append(
                        f"{name_of(doc)} -> {name}:{port}: no NetworkPolicy lets it out"
                    )
                if not _flow_allowed(policies, labels, source, port, "Ingress"):
                    problems.append(f"{name_of(doc)} -> {name}:{port}: no NetworkPolicy lets it in")
    return problems


def _target(
    service: str,
    port: int,
    services: dict[str, Manifest],
    templates: list[Manifest],
    inv: Inventory,
) -> tuple[dict[str, str], int] | None:
    """The labels of the pods behind a Service and the pod port a Service port leads to."""
    for cluster, doc in inv.clusters.items():
        if service in (f"{cluster}-rw", f"{cluster}-ro", f"{cluster}-r"):
            labels = (doc["spec"].get("inheritedMetadata") or {}).get("labels") or {}
            return dict(labels) | {"cnpg.io/cluster": cluster}, 5432
    if service not in services:
        return None
    spec = services[service]["spec"]
    pods = [
        t
        for t in templates
        if _selects(spec.get("selector") or {}, t["metadata"].get("labels") or {})
    ]
    if not pods:
        return None
    target_port: Any = next(
        (p.get("targetPort", p["port"]) for p in spec.get("ports") or [] if p["port"] == port), port
    )
    if isinstance(target_port, str):
        named = {
            p["name"]: p["containerPort"]
            for c in pods[0]["spec"]["containers"]
            for p in c.get("ports") or []
            if "name" in p
        }
        target_port = named.get(target_port, target_port)
    return dict(pods[0]["metadata"]["labels"]), int(target_port)


# --- docker-compose ----------------------------------------------------------------------


def compose_problems(path: Path) -> list[str]:
    compose = yaml.safe_load(path.read_text())
    schema = json.loads((SCHEMAS / "compose" / "compose-spec.json").read_text())
    problems = [
        f"{path.name}: {_path(error)}: {error.message}"
        for error in jsonschema.Draft7Validator(schema).iter_errors(compose)
    ]
    services = compose.get("services") or {}
    volumes = set(compose.get("volumes") or {})
    for name, service in services.items():
        for needed in service.get("depends_on") or []:
            if needed not in services:
                problems.append(f"{path.name}: {name} depends on {needed}, no such service")
        for mount in service.get("volumes") or []:
            source = mount.split(":", 1)[0] if isinstance(mount, str) else mount.get("source")
            if source and not source.startswith((".", "/", "~")) and source not in volumes:
                problems.append(f"{path.name}: {name} mounts volume {source}, not declared")
    return problems


def all_problems() -> Iterator[str]:
    for overlay in overlays():
        docs = render(overlay)
        for check in (schema_problems, reference_problems, policy_problems, network_problems):
            for problem in check(docs):
                yield f"{overlay.name}: {problem}"
    yield from compose_problems(DEPLOY / "docker-compose.yml")


if __name__ == "__main__":
    found = list(all_problems())
    for line in found:
        sys.stdout.write(line + "\n")
    sys.stdout.write(f"deploy/: {len(found)} problems\n")
    sys.exit(1 if found else 0)
