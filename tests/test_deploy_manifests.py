"""deploy/ checked offline: every kustomize overlay rendered and each manifest validated against
its schema (Kubernetes' own kinds and the operators' custom resources), every reference
resolved, every service deployed the way the platform requires, and the compose file against
the compose spec. No cluster, no Docker: see mch_testing.manifests."""

import copy
import re
import shutil
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from mch_testing import manifests
from mch_testing.manifests import DEPLOY, ROOT, Manifest

OVERLAYS = manifests.overlays()
SERVICES = sorted(path.parent.name for path in ROOT.glob("services/*/pyproject.toml"))
# Files of deploy/ that are kustomize's own (not manifests): kustomizations and JSON patches.
NOT_MANIFESTS = ("kustomization.yaml", "-patch.yaml")


@cache
def _render(overlay: Path) -> tuple[Manifest, ...]:
    return tuple(manifests.render(overlay))


def rendered(overlay: Path) -> list[Manifest]:
    """The overlay as kubectl would apply it (a fresh copy per test): by kubectl, else by
    mch_testing's renderer of the kustomize subset deploy/ uses. Should an overlay need more
    than that subset on a machine without kubectl, only the rendering is skipped, loudly; the
    raw files are still validated."""
    try:
        return copy.deepcopy(list(_render(overlay)))
    except manifests.RenderUnavailable as missing:
        sys.stderr.write(
            f"\n*** deploy/: {missing}: the overlays are NOT rendered, so their references "
            "and policies are NOT checked here (install kubectl to check them) ***\n"
        )
        pytest.skip(f"{missing}: overlays not rendered (install kubectl)")


def only(docs: list[Manifest], kind: str, name: str) -> Manifest:
    (found,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def without(docs: list[Manifest], kind: str, name: str) -> list[Manifest]:
    left = [d for d in docs if not (d["kind"] == kind and d["metadata"]["name"] == name)]
    assert len(left) == len(docs) - 1, f"{kind}/{name} is not in the render"
    return left


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl is not installed")
@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_the_fallback_renderer_renders_each_overlay_exactly_as_kubectl(overlay: Path) -> None:
    """So a machine without kubectl checks the same manifests."""

    def by_name(docs: list[Manifest]) -> dict[tuple[str, str], Manifest]:
        return {(d["kind"], d["metadata"]["name"]): d for d in docs}

    by_kubectl = list(_render(overlay))
    by_python = manifests.render_in_python(overlay)
    assert len(by_python) == len(by_kubectl)
    assert by_name(by_python) == by_name(by_kubectl)


def test_the_fallback_renderer_refuses_what_it_does_not_know(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")
    with pytest.raises(manifests.RenderUnavailable, match="commonLabels"):
        manifests.render_in_python(tmp_path)


def test_there_are_two_overlays() -> None:
    assert [overlay.name for overlay in OVERLAYS] == ["dev", "production"]


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_every_manifest_of_the_overlay_matches_its_schema(overlay: Path) -> None:
    docs = rendered(overlay)
    kinds = {d["kind"] for d in docs}
    # The operators' resources are there, so their vendored schemas are what was applied.
    assert {"Cluster", "Database", "Certificate", "Issuer", "StatefulSet", "CronJob"} <= kinds
    assert manifests.schema_problems(docs) == []


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_every_reference_of_the_overlay_resolves(overlay: Path) -> None:
    assert manifests.reference_problems(rendered(overlay)) == []


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_every_deployment_has_probes_limits_tls_a_budget_an_autoscaler_and_a_policy(
    overlay: Path,
) -> None:
    assert manifests.policy_problems(rendered(overlay)) == []


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_the_network_policies_allow_every_flow_the_settings_name(overlay: Path) -> None:
    """Default deny, and each REST URL, NATS and database URL a pod is given is let out of
    that pod and into the pods behind the Service (DESIGN.md's flows, nothing more)."""
    docs = rendered(overlay)
    assert only(docs, "NetworkPolicy", "default-deny")["spec"]["podSelector"] == {}
    assert manifests.network_problems(docs) == []


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_every_service_of_the_repository_is_deployed(overlay: Path) -> None:
    """Found by their pyproject.toml, like `make run` and `make test` find them."""
    missing = set(SERVICES) - manifests.deployed_services(rendered(overlay))
    assert not missing, f"no Deployment runs {sorted(missing)} (deploy/k8s/services/)"


def test_every_service_manifest_is_in_the_base() -> None:
    base = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    files = {f"services/{path.name}" for path in (DEPLOY / "k8s" / "services").glob("*.yaml")}
    assert files - set(base["resources"]) == set()


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_nats_has_a_password_for_every_user_and_three_nodes(overlay: Path) -> None:
    docs = rendered(overlay)
    auth = only(docs, "ConfigMap", "nats-config")["data"]["auth.conf"]
    wanted = set(re.findall(r"\$(NATS_[A-Z_]+_PASSWORD)", auth))
    assert "NATS_ATENA_PASSWORD" in wanted
    assert wanted <= manifests.inventory(docs).secrets["mch-nats"]  # type: ignore[operator]
    nats = only(docs, "StatefulSet", "nats")
    assert nats["spec"]["replicas"] == 3
    assert only(docs, "ConfigMap", "mch-shared")["data"]["STREAM_REPLICAS"] == "3"


def test_production_backs_up_postgres_and_takes_its_secrets_from_the_store() -> None:
    docs = rendered(ROOT / "deploy" / "overlays" / "production")
    assert not [d for d in docs if d["kind"] == "Secret"], "a Secret's value in the repository"
    cluster = only(docs, "Cluster", "mch-postgres")
    assert cluster["spec"]["instances"] == 3
    assert cluster["spec"]["backup"]["barmanObjectStore"]["wal"]["encryption"] == "AES256"
    assert only(docs, "ScheduledBackup", "mch-postgres-nightly")["spec"]["cluster"] == {
        "name": "mch-postgres"
    }
    databases = {d["spec"]["name"] for d in docs if d["kind"] == "Database"}
    assert databases == {f"mch_{svc}" for svc in SERVICES} | {
        "mch_e_application",
        "mch_intermediate_server",
    }


# --- the checks catch what they must ------------------------------------------------------


def test_a_reference_to_a_missing_secret_fails_the_check() -> None:
    docs = rendered(OVERLAYS[0])
    problems = manifests.reference_problems(without(docs, "Secret", "mch-atena"))
    assert "Deployment/atena container atena: Secret mch-atena does not exist" in problems
    assert "Job/atena-migrate container migrate: Secret mch-atena does not exist" in problems


def test_a_reference_to_a_missing_pvc_fails_the_check() -> None:
    docs = rendered(OVERLAYS[0])
    problems = manifests.reference_problems(
        without(docs, "PersistentVolumeClaim", "boshi-core-reminders")
    )
    assert problems == [
        "CronJob/boshi-core-monthly volume reminders: "
        "PersistentVolumeClaim boshi-core-reminders does not exist"
    ]


def test_missing_keys_services_configmaps_and_issuers_fail_the_check() -> None:
    docs = rendered(OVERLAYS[1])
    deployment = only(docs, "Deployment", "atena")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["env"] += [
        {"name": "X", "valueFrom": {"secretKeyRef": {"name": "mch-atena", "key": "NOPE"}}},
        {"name": "Y", "valueFrom": {"configMapKeyRef": {"name": "mch-shared", "key": "NOPE"}}},
        {"name": "Z", "value": "https://nowhere.mch.svc.cluster.local/x"},
    ]
    deployment["spec"]["template"]["spec"]["serviceAccountName"] = "ghost"
    only(docs, "Certificate", "atena-tls")["spec"]["issuerRef"]["name"] = "no-issuer"
    problems = manifests.reference_problems(without(docs, "SecretStore", "city-vault"))
    assert "Deployment/atena container atena env X: Secret mch-atena has no key NOPE" in problems
    assert "Deployment/atena container atena env Y: ConfigMap mch-shared has no key NOPE" in (
        problems
    )
    assert (
        "Deployment/atena container atena env Z (nowhere.mch.svc.cluster.local): "
        "Service nowhere does not exist"
    ) in problems
    assert "Deployment/atena: ServiceAccount ghost does not exist" in problems
    assert "Certificate/atena-tls: Issuer no-issuer does not exist" in problems
    assert "ExternalSecret/mch-atena: SecretStore city-vault does not exist" in problems


def test_the_operators_secrets_and_clusters_are_checked_too() -> None:
    docs = rendered(OVERLAYS[1])
    problems = manifests.reference_problems(
        without(without(docs, "ExternalSecret", "mch-backup-s3"), "Certificate", "mch-ca")
    )
    assert (
        "Cluster/mch-postgres s3Credentials.accessKeyId: Secret mch-backup-s3 does not exist"
        in problems
    )
    assert "Issuer/mch-ca: Secret mch-ca does not exist" in problems
    assert "Cluster/mch-postgres certificates.serverCASecret: Secret mch-ca does not exist" in (
        problems
    )
    broken = rendered(OVERLAYS[1])
    only(broken, "Database", "mch-atena")["spec"]["owner"] = "stranger"
    assert manifests.reference_problems(broken) == [
        "Database/mch-atena: owner stranger is no role of the Cluster"
    ]


def test_the_schema_check_refuses_unknown_fields_and_wrong_types() -> None:
    docs = rendered(OVERLAYS[0])
    deployment = only(docs, "Deployment", "identity")
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    cluster = only(docs, "Cluster", "mch-postgres")
    cluster["spec"]["instancez"] = 3
    cluster["spec"]["storage"]["size"] = 5
    problems = manifests.schema_problems(docs)
    assert any("Deployment/identity" in p and "imagePullPolicyy" in p for p in problems)
    assert any("Cluster/mch-postgres" in p and "instancez" in p for p in problems)
    assert "Cluster/mch-postgres: spec.storage.size: 5 is not of type 'string'" in problems
    unknown = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}
    assert manifests.schema_problems([unknown]) == [
        "Gadget/g: no schema for example.com/v1 Gadget (vendor its CRD)"
    ]


def test_the_policy_check_names_what_a_deployment_lacks() -> None:
    docs = rendered(OVERLAYS[0])
    docs = without(docs, "HorizontalPodAutoscaler", "atena")
    docs = without(docs, "PodDisruptionBudget", "atena")
    container = only(docs, "Deployment", "atena")["spec"]["template"]["spec"]["containers"][0]
    del container["readinessProbe"]
    assert manifests.policy_problems(docs) == [
        "Deployment/atena: container atena has no readinessProbe",
        "Deployment/atena: no PodDisruptionBudget",
        "Deployment/atena: no HorizontalPodAutoscaler",
    ]


def test_a_flow_the_policies_do_not_allow_fails_the_check() -> None:
    docs = rendered(OVERLAYS[0])
    atena = only(docs, "NetworkPolicy", "atena")["spec"]
    atena["ingress"] = [rule for rule in atena["ingress"] if "podSelector" not in rule["from"][0]]
    bridge = only(docs, "NetworkPolicy", "immunization-bridge")["spec"]
    bridge["egress"] = [r for r in bridge["egress"] if r["ports"][0]["port"] != 5432]
    problems = manifests.network_problems(docs)
    assert "Deployment/boshi-core -> atena:8000: no NetworkPolicy lets it in" in problems
    assert "CronJob/boshi-core-monthly -> atena:8000: no NetworkPolicy lets it in" in problems
    assert (
        "Deployment/immunization-bridge -> mch-postgres-rw:5432: no NetworkPolicy lets it out"
        in problems
    )
    assert not [p for p in problems if p.startswith("Deployment/atena")]


# --- without rendering: the raw files and the compose file ---------------------------------


def raw_manifests() -> list[tuple[Path, Manifest]]:
    found = []
    for folder in ("k8s", "overlays"):
        for path in sorted((DEPLOY / folder).rglob("*.yaml")):
            if path.name.endswith(NOT_MANIFESTS):
                continue
            found += [(path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def test_every_manifest_file_matches_its_schema_even_unrendered() -> None:
    docs = raw_manifests()
    assert len(docs) > 50
    problems = manifests.schema_problems([doc for _, doc in docs])
    assert problems == []


def test_the_compose_file_matches_the_compose_spec_and_runs_every_service() -> None:
    compose = DEPLOY / "docker-compose.yml"
    assert manifests.compose_problems(compose) == []
    services = yaml.safe_load(compose.read_text())["services"]
    assert {"postgres", "nats"} <= set(services)
    for svc in SERVICES:
        assert svc in services, f"docker-compose.yml has no {svc}"
        assert services[f"{svc}-migrate"]["command"] == ["migrate"]


def test_the_compose_check_catches_bad_files(tmp_path: Path) -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    compose["services"]["atena"]["depends_on"]["ghost"] = {"condition": "service_healthy"}
    compose["services"]["atena"]["volumes"] = ["undeclared:/data"]
    compose["services"]["atena"]["restartt"] = "always"
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(compose))
    problems = manifests.compose_problems(broken)
    assert "docker-compose.yml: atena depends on ghost, no such service" in problems
    assert "docker-compose.yml: atena mounts volume undeclared, not declared" in problems
    assert any("restartt" in p for p in problems)
