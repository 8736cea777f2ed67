"""The Kubernetes manifests (k8s/) and the images (deploy/docker/Dockerfile), checked offline.

Each overlay (dev, prod, and prod-fabric: prod with the opt-in component
k8s/components/ledger-fabric, a test-only overlay in tests/k8s/overlays) is rendered with kustomize (``kubectl kustomize`` when kubectl is on PATH,
otherwise a pinned kustomize built once with ``go install`` into ``.cache/bin``), validated
against the Kubernetes 1.31 schemas with ``kubernetes-validate --strict``, the CloudNativePG
resources against a schema of the CRD fields we use, and then held to the platform's policy:
probes, resources, non-root, HPA/PDB/NetworkPolicy per API, routes, database locale, secrets,
and a worker Deployment for each worker process of deploy/local/Procfile. The Fabric
component gets checks of its own (mount, settings, egress, the operators' narrowing patch).

``K8S_RENDERER=kubectl|kustomize`` forces one renderer. When neither kubectl nor Go is available
the tests fail: manifests that were never rendered are not "passing".
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import functools
import importlib
import io
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tomllib
import urllib.parse
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # installed with kubernetes-validate
import pytest
import yaml  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from ledger_svc.backend import FabricBackend
from ledger_svc.bootstrap import build_backend
from ledger_svc.config import LedgerSettings
from services.config import ServiceSettings

Manifest = dict[str, Any]

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
#: Test-only overlays (an overlay outside k8s/ may reference k8s/ directories: kustomize's load
#: restrictor limits files, not kustomization directories).
TEST_OVERLAYS = Path(__file__).resolve().parent / "overlays"
#: Overlay -> its directory. prod-fabric is prod plus k8s/components/ledger-fabric, as an operator
#: opts in; prod-fabric-narrowed adds the egress-narrowing patch docs/kubernetes.md gives them.
OVERLAY_DIRS = {
    "dev": K8S / "overlays" / "dev",
    "prod": K8S / "overlays" / "prod",
    "prod-fabric": TEST_OVERLAYS / "prod-fabric",
    "prod-fabric-narrowed": TEST_OVERLAYS / "prod-fabric-narrowed",
}
#: The overlays the whole policy below applies to.
OVERLAYS = ("dev", "prod", "prod-fabric")
#: Overlays that must be production (pinned images, external Secrets only, ...).
PROD_OVERLAYS = ("prod", "prod-fabric")
#: Overlays with ledger-svc on Hyperledger Fabric (k8s/components/ledger-fabric).
FABRIC_OVERLAYS = ("prod-fabric", "prod-fabric-narrowed")
#: Overlay -> the ENVIRONMENT its ConfigMaps set.
ENVIRONMENTS = {"dev": "dev", "prod": "production", "prod-fabric": "production"}
NAMESPACE = "democracy"
#: The Kubernetes version the manifests must be valid for.
KUBERNETES_VERSION = "1.31.0"
#: The kustomize built when kubectl is missing: the one kubectl 1.32 embeds.
KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5"
KUSTOMIZE_VERSION = "v5.5.0"

#: service -> its environment-variable prefix (README "Configuration").
SERVICES = {
    "identity-svc": "IDENTITY",
    "proposal-svc": "PROPOSAL",
    "vote-svc": "VOTE",
    "ledger-svc": "LEDGER",
    "notify-svc": "NOTIFY",
}
#: ARCHITECTURE.md "HTTP entry points": path -> service.
ROUTES = {
    "/v1/identity": "identity-svc",
    "/.well-known/jwks.json": "identity-svc",
    "/openapi/platform.json": "identity-svc",
    "/docs": "identity-svc",
    "/v1/proposals": "proposal-svc",
    "/v1/forums": "proposal-svc",
    "/v1/comments": "proposal-svc",
    "/v1/moderation": "proposal-svc",
    "/v1/open-data": "proposal-svc",
    "/v1/statistics": "proposal-svc",
    "/v1/votes": "vote-svc",
    "/v1/ledger": "ledger-svc",
    "/v1/notifications": "notify-svc",
}
#: The uid/gid of the images (deploy/docker/Dockerfile USER) and of the pods' securityContext.
APP_UID = 10001
API_PORT = 8000
PG_CLUSTER = "democracy-pg"
NATS_LABELS = {"app.kubernetes.io/name": "nats", "app.kubernetes.io/component": "nats"}
INGRESS_CONTROLLER_NAMESPACE = "ingress-nginx"
PART_OF = {"app.kubernetes.io/part-of": "democracy-platform"}
#: The label that tells a service's worker Deployments apart (its value: the subcommand).
WORKER_LABEL = "democracy-platform/worker"
#: The local runtime's process list; its workers must run in Kubernetes too.
PROCFILE = ROOT / "deploy" / "local" / "Procfile"
#: Secrets the prod overlay expects to exist (created outside git, see docs/kubernetes.md).
EXTERNAL_SECRETS = {
    **{f"{svc}-db-credentials": ("username", "password") for svc in SERVICES},
    "identity-svc-secrets": (
        "IDENTITY_CI_PEPPER",
        "IDENTITY_DI_PEPPER",
        "IDENTITY_KEY_ENCRYPTION_KEY",
        "IDENTITY_CONTACT_KEY",
        "IDENTITY_INTERNAL_KEYS",
    ),
    "proposal-svc-secrets": ("PROPOSAL_SERVICE_KEY", "PROPOSAL_INTERNAL_KEYS"),
    "ledger-svc-secrets": ("LEDGER_KEY_ENCRYPTION_KEY",),
    "vote-svc-secrets": (
        "VOTE_LEDGER_TAG_KEY",
        "VOTE_SIGNAL_KEY",
        "VOTE_INTERNAL_KEYS",
        "VOTE_SERVICE_KEY",
    ),
    "notify-svc-secrets": (
        "NOTIFY_SERVICE_KEY",
        "NOTIFY_NHN_ALIMTALK_APP_KEY",
        "NOTIFY_NHN_ALIMTALK_SECRET_KEY",
        "NOTIFY_NHN_ALIMTALK_SENDER_KEY",
        "NOTIFY_NHN_ALIMTALK_WEBHOOK_SECRET",
        "NOTIFY_NHN_SMS_APP_KEY",
        "NOTIFY_NHN_SMS_SECRET_KEY",
        "NOTIFY_NHN_SMS_SEND_NO",
        "NOTIFY_NHN_SMS_WEBHOOK_SECRET",
    ),
    "democracy-tls": ("tls.crt", "tls.key"),
}
#: Secrets that only an opt-in component references: created outside git too, and listed in
#: docs/kubernetes.md with a creation command that takes each key from a file.
FABRIC_SECRET = "ledger-svc-fabric"
COMPONENT_SECRETS = {FABRIC_SECRET: ("profile.json", "tlsca.pem", "signcert.pem", "key.pem")}
#: Secret keys whose value is base64 of exactly 32 bytes (``openssl rand -base64 32``): AES-256
#: key-encryption keys and vote-svc's voter-tag HMAC key. Every other key is a plain string.
BASE64_32_BYTE_KEYS = {
    "IDENTITY_KEY_ENCRYPTION_KEY",
    "IDENTITY_CONTACT_KEY",
    "LEDGER_KEY_ENCRYPTION_KEY",
    "VOTE_LEDGER_TAG_KEY",
    "VOTE_SIGNAL_KEY",
    "NOTIFY_SERVICE_KEY",
    "PROPOSAL_SERVICE_KEY",
    "VOTE_SERVICE_KEY",
}
#: Secret keys whose value is a JSON object service name -> base64 of 32 bytes: the services
#: allowed to call /internal/* (docs/internal-api.md). notify-svc's key, generated once as
#: NOTIFY_SERVICE_KEY, is the same in each.
SERVICE_KEY_MAPS = {"IDENTITY_INTERNAL_KEYS", "VOTE_INTERNAL_KEYS", "PROPOSAL_INTERNAL_KEYS"}
#: Base64 keys the docs generate once into a shell variable of the same name and use in several
#: Secrets (notify-svc's own Secret and the other services' key maps).
SHARED_KEYS = {"NOTIFY_SERVICE_KEY", "PROPOSAL_SERVICE_KEY", "VOTE_SERVICE_KEY"}
#: Key map -> the callers it lists, each with the key generated once under its variable name.
SERVICE_KEY_MAP_CALLERS = {
    "IDENTITY_INTERNAL_KEYS": {
        "notify-svc": "NOTIFY_SERVICE_KEY",
        "proposal-svc": "PROPOSAL_SERVICE_KEY",
    },
    "VOTE_INTERNAL_KEYS": {"notify-svc": "NOTIFY_SERVICE_KEY"},
    "PROPOSAL_INTERNAL_KEYS": {
        "notify-svc": "NOTIFY_SERVICE_KEY",
        "vote-svc": "VOTE_SERVICE_KEY",
    },
}
#: service -> the Secret of its own settings, which every pod of it (API, migration Job,
#: workers) takes whole with envFrom: production refuses the dev defaults of these keys.
SERVICE_SECRETS = {
    "identity-svc": "identity-svc-secrets",
    "proposal-svc": "proposal-svc-secrets",
    "ledger-svc": "ledger-svc-secrets",
    "vote-svc": "vote-svc-secrets",
    "notify-svc": "notify-svc-secrets",
}
#: Consumers that must run as exactly one replica (no HPA): ledger-svc's appends to the Merkle
#: log are serialised by a PostgreSQL advisory lock, so more replicas add no throughput.
SINGLE_WRITER_CONSUMERS = {"ledger-svc-consume"}
#: Worker Deployment -> {service whose API it calls over HTTP: the setting with that URL}. Every
#: other worker talks only to PostgreSQL and NATS; these may also reach exactly those APIs.
WORKER_HTTP_PEERS = {
    "ledger-svc-audit": {"vote-svc": "LEDGER_VOTE_URL"},
    "notify-svc-send": {
        "identity-svc": "NOTIFY_IDENTITY_URL",
        "vote-svc": "NOTIFY_VOTE_URL",
        "proposal-svc": "NOTIFY_PROPOSAL_URL",
    },
}
#: Workers that call third parties on the internet (HTTPS only, never a private address):
#: notify-svc's dispatcher sends through the message providers (NHN Cloud, Solapi).
WORKER_INTERNET_EGRESS = {"notify-svc-send"}
#: k8s/components/ledger-fabric: the Deployments that dial the Fabric peer (the API, the
#: consumer that anchors every batch, the auditor that reads the chain) and so mount the Secret;
#: where it is mounted; the files its items make there (profile.json names tlsca.pem and the MSP
#: folder msp/ relative to itself, docs/ledger.md); the peer's gateway port they may reach.
FABRIC_DEPLOYMENTS = {"ledger-svc", "ledger-svc-consume", "ledger-svc-audit"}
FABRIC_WORKERS = FABRIC_DEPLOYMENTS - {"ledger-svc"}
FABRIC_MOUNT = "/etc/ledger-svc/fabric"
FABRIC_ITEMS = {
    "profile.json": "profile.json",
    "tlsca.pem": "tlsca.pem",
    "signcert.pem": "msp/signcerts/cert.pem",
    "key.pem": "msp/keystore/key.pem",
}
FABRIC_GATEWAY_PORT = 7051
#: The label of every NetworkPolicy that carries the Fabric rule (rule 0), which the narrowing
#: patch of docs/kubernetes.md selects.
FABRIC_EGRESS_LABEL = ("democracy-platform/egress", "fabric-gateway")


def external_secrets(overlay: str) -> dict[str, tuple[str, ...]]:
    """The Secrets a production overlay expects to exist: the base's, plus its components'."""
    if overlay in FABRIC_OVERLAYS:
        return {**EXTERNAL_SECRETS, **COMPONENT_SECRETS}
    return dict(EXTERNAL_SECRETS)


# --------------------------------------------------------------------------- rendering


def _go_kustomize() -> list[str]:
    """A pinned kustomize, built from the Go module proxy once and cached under .cache/bin."""
    gobin = ROOT / ".cache" / "bin" / f"kustomize-{KUSTOMIZE_VERSION}"
    binary = gobin / "kustomize"
    if not binary.is_file():
        go = shutil.which("go")
        if go is None:
            pytest.fail(
                "cannot render k8s/: neither kubectl nor go is on PATH. Install kubectl "
                f"(which has `kubectl kustomize`) or Go, which builds {KUSTOMIZE_MODULE}@"
                f"{KUSTOMIZE_VERSION} into {gobin}"
            )
        proc = subprocess.run(
            [go, "install", f"{KUSTOMIZE_MODULE}@{KUSTOMIZE_VERSION}"],
            env={**os.environ, "GOBIN": str(gobin)},
            capture_output=True,
            text=True,
            timeout=280,
            check=False,
        )
        if proc.returncode != 0 or not binary.is_file():
            pytest.fail(f"go install {KUSTOMIZE_MODULE}@{KUSTOMIZE_VERSION} failed:\n{proc.stderr}")
    return [str(binary), "build"]


@functools.cache
def _renderer() -> tuple[str, ...]:
    choice = os.environ.get("K8S_RENDERER", "")
    if choice not in ("", "kubectl", "kustomize"):
        pytest.fail(f"K8S_RENDERER must be kubectl or kustomize, not {choice!r}")
    kubectl = shutil.which("kubectl")
    if choice == "kubectl" and kubectl is None:
        pytest.fail("K8S_RENDERER=kubectl but kubectl is not on PATH")
    if kubectl is not None and choice != "kustomize":
        return (kubectl, "kustomize")
    return tuple(_go_kustomize())


@functools.cache
def rendered(overlay: str) -> str:
    """The overlay's manifests as kustomize prints them (one multi-document YAML)."""
    command = [*_renderer(), str(OVERLAY_DIRS[overlay])]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed:\n{proc.stderr}")
    return proc.stdout


@functools.cache
def _documents(overlay: str) -> tuple[Manifest, ...]:
    return tuple(doc for doc in yaml.safe_load_all(rendered(overlay)) if doc)


def manifests(overlay: str, kind: str | None = None) -> list[Manifest]:
    return [doc for doc in _documents(overlay) if kind is None or doc["kind"] == kind]


def find(overlay: str, kind: str, name: str) -> Manifest:
    matches = [doc for doc in manifests(overlay, kind) if doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"{overlay}: expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def labels_of(doc: Manifest) -> dict[str, str]:
    labels: dict[str, str] = doc["metadata"].get("labels", {})
    return labels


def pod_spec(workload: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def containers(workload: Manifest) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    found: list[dict[str, Any]] = [*spec.get("initContainers", []), *spec["containers"]]
    return found


def workloads(overlay: str) -> list[Manifest]:
    return [*manifests(overlay, "Deployment"), *manifests(overlay, "Job")]


def api_deployment(overlay: str, service: str) -> Manifest:
    matches = [
        doc
        for doc in manifests(overlay, "Deployment")
        if labels_of(doc).get("app.kubernetes.io/name") == service
        and labels_of(doc).get("app.kubernetes.io/component") == "api"
    ]
    assert len(matches) == 1, f"{overlay}: expected one API Deployment of {service}"
    return matches[0]


def selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels and matchExpressions)."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def pod_labels(workload: Manifest) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def container_env(
    overlay: str, container: dict[str, Any], external: dict[str, dict[str, str]] | None = None
) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom ConfigMaps/Secrets, then
    env (with $(VAR) expanded). Secret values are decoded when the Secret is rendered; a Secret
    that is not (prod) takes its values from ``external`` (name -> key -> value) if given there,
    else a secretKeyRef shows as ``<secret/key>`` and an envFrom adds nothing."""
    external = external or {}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(find(overlay, "ConfigMap", source["configMapRef"]["name"])["data"])
        elif "secretRef" in source:
            name = source["secretRef"]["name"]
            secrets = [s for s in manifests(overlay, "Secret") if s["metadata"]["name"] == name]
            for secret in secrets:
                env.update({k: base64.b64decode(v).decode() for k, v in secret["data"].items()})
            if not secrets:
                env.update(external.get(name, {}))
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = re.sub(
                r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), var["value"]
            )
        else:
            ref = var["valueFrom"].get("secretKeyRef") or var["valueFrom"].get("configMapKeyRef")
            env[var["name"]] = external.get(ref["name"], {}).get(
                ref["key"], f"<{ref['name']}/{ref['key']}>"
            )
            secrets = [
                s for s in manifests(overlay, "Secret") if s["metadata"]["name"] == ref["name"]
            ]
            for secret in secrets:
                env[var["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
    return env


def secret_references(workload: Manifest) -> set[tuple[str, str | None]]:
    """(secret name, key or None for a whole-Secret envFrom) used by the workload."""
    refs: set[tuple[str, str | None]] = set()
    for container in containers(workload):
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                refs.add((source["secretRef"]["name"], None))
        for var in container.get("env", []):
            ref = var.get("valueFrom", {}).get("secretKeyRef")
            if ref is not None:
                refs.add((ref["name"], ref["key"]))
    for volume in pod_spec(workload).get("volumes", []):
        if "secret" in volume:
            refs.add((volume["secret"]["secretName"], None))
            for item in volume["secret"].get("items", []):
                refs.add((volume["secret"]["secretName"], item["key"]))
    return refs


# --------------------------------------------------------------------------- schema validation


def test_kubernetes_validate_rejects_what_it_should() -> None:
    """The validator itself works in strict mode (a broken setup must not pass everything)."""
    bad = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "x"},
            "spec": {"ports": [{"port": 80}], "selectr": {"a": "b"}},
        }
    )
    proc = _kubernetes_validate(bad)
    assert proc.returncode != 0, proc.stdout


def _kubernetes_validate(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", KUBERNETES_VERSION, "-"],
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


#: Custom resources: kubernetes-validate has no schema for them (it only warns), so they are
#: checked against CNPG_SCHEMAS below instead.
CUSTOM_KINDS = {("postgresql.cnpg.io/v1", "Cluster"), ("postgresql.cnpg.io/v1", "Database")}


@pytest.mark.parametrize("overlay", [*OVERLAYS, "prod-fabric-narrowed"])
def test_overlay_is_valid_kubernetes(overlay: str) -> None:
    proc = _kubernetes_validate(rendered(overlay))
    lines = proc.stdout.splitlines()
    errors = [line for line in lines if not line.startswith(("INFO", "WARN"))]
    assert not errors, "\n".join(errors)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    passed = {m.group(1) for line in lines if (m := re.search(r"for resource (\S+) ", line))}
    for doc in manifests(overlay):
        ident = f"{doc['kind'].lower()}/{doc['metadata']['name']}"
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
            continue
        # A built-in kind with a mistyped apiVersion would only get a WARN: insist on a pass.
        warnings = "\n".join(line for line in lines if line.startswith("WARN"))
        assert ident in passed, f"{ident} ({doc['apiVersion']}) was not validated:\n{warnings}"


def _strict(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "additionalProperties": False, **extra}


_STR: dict[str, Any] = {"type": "string"}
_BOOL: dict[str, Any] = {"type": "boolean"}
_INT: dict[str, Any] = {"type": "integer"}
_OBJ: dict[str, Any] = {"type": "object"}
_ARR: dict[str, Any] = {"type": "array"}
_STRS: dict[str, Any] = {"type": "array", "items": _STR}
_QUANTITY: dict[str, Any] = {"type": ["string", "integer", "number"]}
_RESOURCES = _strict(
    {
        "requests": {"type": "object", "additionalProperties": _QUANTITY},
        "limits": {"type": "object", "additionalProperties": _QUANTITY},
        "claims": _ARR,
    }
)
_SECRET_REF = _strict({"name": _STR}, required=["name"])
_METADATA = {"type": "object", "properties": {"name": _STR}, "required": ["name"]}

#: Other documented Cluster spec fields (any value; we do not set them yet).
_OTHER_CLUSTER_FIELDS = (
    "backup",
    "certificates",
    "description",
    "enablePDB",
    "env",
    "envFrom",
    "ephemeralVolumeSource",
    "ephemeralVolumesSizeLimit",
    "externalClusters",
    "failoverDelay",
    "imageCatalogRef",
    "imagePullPolicy",
    "imagePullSecrets",
    "inheritedMetadata",
    "livenessProbeTimeout",
    "logLevel",
    "maxSyncReplicas",
    "minSyncReplicas",
    "monitoring",
    "nodeMaintenanceWindow",
    "plugins",
    "podSecurityContext",
    "podSelectorRefs",
    "postgresGID",
    "postgresUID",
    "primaryLease",
    "primaryUpdateMethod",
    "priorityClassName",
    "probes",
    "projectedVolumeTemplate",
    "replica",
    "replicationSlots",
    "schedulerName",
    "seccompProfile",
    "securityContext",
    "serviceAccountName",
    "serviceAccountTemplate",
    "smartShutdownTimeout",
    "startDelay",
    "stopDelay",
    "superuserSecret",
    "switchoverDelay",
    "tablespaces",
    "topologySpreadConstraints",
    "walStorage",
)

#: The parts of the CloudNativePG v1 CRDs we use (field names and types from
#: config/crd/bases/postgresql.cnpg.io_{clusters,databases}.yaml of CNPG 1.30). Objects we set
#: are closed (a misspelt field fails); the rest of the spec may hold any documented field.
CNPG_SCHEMAS: dict[str, dict[str, Any]] = {
    "Cluster": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": _strict(
                {
                    **{field: {} for field in _OTHER_CLUSTER_FIELDS},
                    "instances": {"type": "integer", "minimum": 1},
                    "imageName": _STR,
                    "primaryUpdateStrategy": {"enum": ["unsupervised", "supervised"]},
                    "enableSuperuserAccess": _BOOL,
                    "storage": _strict(
                        {
                            "size": _STR,
                            "storageClass": _STR,
                            "resizeInUseVolumes": _BOOL,
                            "pvcTemplate": _OBJ,
                        }
                    ),
                    "resources": _RESOURCES,
                    "affinity": _strict(
                        {
                            "enablePodAntiAffinity": _BOOL,
                            "topologyKey": _STR,
                            "podAntiAffinityType": {"enum": ["preferred", "required"]},
                            "nodeSelector": {"type": "object", "additionalProperties": _STR},
                            "nodeAffinity": _OBJ,
                            "tolerations": _ARR,
                            "additionalPodAffinity": _OBJ,
                            "additionalPodAntiAffinity": _OBJ,
                        }
                    ),
                    "postgresql": _strict(
                        {
                            # CNPG takes every parameter value as a string.
                            "parameters": {"type": "object", "additionalProperties": _STR},
                            "pg_hba": _STRS,
                            "pg_ident": _STRS,
                            "shared_preload_libraries": _STRS,
                            "enableAlterSystem": _BOOL,
                            "extensions": _ARR,
                            "ldap": _OBJ,
                            "promotionTimeout": _INT,
                            "syncReplicaElectionConstraint": _OBJ,
                            "synchronous": _OBJ,
                        }
                    ),
                    "bootstrap": _strict(
                        {
                            "initdb": _strict(
                                {
                                    "database": _STR,
                                    "owner": _STR,
                                    "secret": _SECRET_REF,
                                    "encoding": _STR,
                                    "localeCType": _STR,
                                    "localeCollate": _STR,
                                    "locale": _STR,
                                    "localeProvider": _STR,
                                    "icuLocale": _STR,
                                    "icuRules": _STR,
                                    "builtinLocale": _STR,
                                    "dataChecksums": _BOOL,
                                    "walSegmentSize": _INT,
                                    "options": _STRS,
                                    "postInitSQL": _STRS,
                                    "postInitApplicationSQL": _STRS,
                                    "postInitTemplateSQL": _STRS,
                                    "postInitSQLRefs": _OBJ,
                                    "postInitApplicationSQLRefs": _OBJ,
                                    "postInitTemplateSQLRefs": _OBJ,
                                    "import": _OBJ,
                                }
                            ),
                            "recovery": _OBJ,
                            "pg_basebackup": _OBJ,
                        }
                    ),
                    "managed": _strict(
                        {
                            "roles": {
                                "type": "array",
                                "items": _strict(
                                    {
                                        "name": _STR,
                                        "ensure": {"enum": ["present", "absent"]},
                                        "login": _BOOL,
                                        "passwordSecret": _SECRET_REF,
                                        "disablePassword": _BOOL,
                                        "comment": _STR,
                                        "connectionLimit": _INT,
                                        "createdb": _BOOL,
                                        "createrole": _BOOL,
                                        "superuser": _BOOL,
                                        "replication": _BOOL,
                                        "bypassrls": _BOOL,
                                        "inherit": _BOOL,
                                        "inRoles": _STRS,
                                        "validUntil": _STR,
                                    },
                                    required=["name"],
                                ),
                            },
                            "services": _OBJ,
                        }
                    ),
                },
                required=["instances"],
            ),
        },
    },
    "Database": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": _strict(
                {
                    "cluster": _SECRET_REF,
                    "name": _STR,
                    "owner": _STR,
                    "ensure": {"enum": ["present", "absent"]},
                    "databaseReclaimPolicy": {"enum": ["delete", "retain"]},
                    "encoding": _STR,
                    "localeCType": _STR,
                    "localeCollate": _STR,
                    "locale": _STR,
                    "localeProvider": _STR,
                    "icuLocale": _STR,
                    "icuRules": _STR,
                    "builtinLocale": _STR,
                    "collationVersion": _STR,
                    "template": _STR,
                    "tablespace": _STR,
                    "allowConnections": _BOOL,
                    "connectionLimit": _INT,
                    "isTemplate": _BOOL,
                    "extensions": {
                        "type": "array",
                        "items": _strict(
                            {
                                "name": _STR,
                                "ensure": {"enum": ["present", "absent"]},
                                "schema": _STR,
                                "version": _STR,
                            },
                            required=["name"],
                        ),
                    },
                    "schemas": _ARR,
                    "fdws": _ARR,
                    "servers": _ARR,
                },
                required=["cluster", "name", "owner"],
            ),
        },
    },
}


def test_cnpg_schema_catches_typos() -> None:
    cluster = {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": "x"},
        "spec": {"instances": 1, "bootstrap": {"initdb": {"localeCtype": "C.UTF-8"}}},
    }
    assert list(jsonschema.Draft202012Validator(CNPG_SCHEMAS["Cluster"]).iter_errors(cluster))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_match_their_crd_schema(overlay: str) -> None:
    # Built-in API groups have no dot (apps, batch, ...) or end in .k8s.io (networking.k8s.io).
    custom = [
        doc
        for doc in manifests(overlay)
        if "." in (group := doc["apiVersion"].rpartition("/")[0]) and not group.endswith(".k8s.io")
    ]
    assert custom, "expected the CloudNativePG resources"
    for doc in custom:
        assert (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS, f"no schema for {doc['kind']}"
        validator = jsonschema.Draft202012Validator(CNPG_SCHEMAS[doc["kind"]])
        errors = [
            f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(doc)
        ]
        assert not errors, f"{doc['kind']}/{doc['metadata']['name']}: {errors}"


# --------------------------------------------------------------------------- policy


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_is_in_the_platform_namespace(overlay: str) -> None:
    namespaced = [doc for doc in manifests(overlay) if doc["kind"] != "Namespace"]
    assert {doc["metadata"].get("namespace") for doc in namespaced} == {NAMESPACE}
    assert [ns["metadata"]["name"] for ns in manifests(overlay, "Namespace")] == [NAMESPACE]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_is_hardened_and_bounded(overlay: str) -> None:
    for workload in workloads(overlay):
        name = f"{workload['kind']}/{workload['metadata']['name']}"
        spec = pod_spec(workload)
        pod_sc = spec.get("securityContext", {})
        assert pod_sc.get("runAsNonRoot") is True, name
        assert pod_sc.get("runAsUser") == APP_UID, name
        assert pod_sc.get("runAsGroup") == APP_UID, name
        assert pod_sc.get("seccompProfile") == {"type": "RuntimeDefault"}, name
        assert spec.get("automountServiceAccountToken") is False, name
        assert not spec.get("hostNetwork"), name
        assert not spec.get("hostPID"), name
        tmp_volumes = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
        # A Secret volume's files belong to root (uid and gid 0) unless the pod has an fsGroup:
        # the app (uid/gid APP_UID) reads them only as the group fsGroup makes them, and they
        # are not world-readable.
        secret_volumes = {v["name"]: v["secret"] for v in spec.get("volumes", []) if "secret" in v}
        for volume, secret in secret_volumes.items():
            where = f"{name} volume {volume}"
            modes = [
                secret.get("defaultMode", 0o644),
                *(i["mode"] for i in secret.get("items", []) if "mode" in i),
            ]
            assert all(mode & 0o007 == 0 for mode in modes), f"{where}: world-readable"
            assert all(mode & 0o040 for mode in modes), f"{where}: not group-readable"
            assert pod_sc.get("fsGroup") == APP_UID, (
                f"{where}: files of root, unreadable to the app"
            )
        for container in containers(workload):
            where = f"{name} container {container['name']}"
            sc = container.get("securityContext", {})
            assert sc.get("readOnlyRootFilesystem") is True, where
            assert sc.get("allowPrivilegeEscalation") is False, where
            assert sc.get("privileged") in (None, False), where
            assert sc.get("capabilities") == {"drop": ["ALL"]}, where
            assert sc.get("runAsNonRoot", True) is True, where
            # Read-only root: /tmp is a (bounded) emptyDir.
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert mounts.get("/tmp") in tmp_volumes, where
            for mount in container.get("volumeMounts", []):
                if mount["name"] in secret_volumes:
                    assert mount.get("readOnly") is True, f"{where}: {mount['mountPath']}"
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{where}: {bound}"
            if workload["kind"] == "Deployment":
                assert "livenessProbe" in container, f"{where}: livenessProbe"
                assert "readinessProbe" in container, f"{where}: readinessProbe"


def _settings_class(service: str) -> type[ServiceSettings]:
    """The service's settings class (the ServiceSettings subclass of its config module)."""
    config = importlib.import_module(f"{service.removesuffix('-svc')}_svc.config")
    (found,) = {
        value
        for value in vars(config).values()
        if isinstance(value, type)
        and issubclass(value, ServiceSettings)
        and value is not ServiceSettings
    }
    return found


def _cli_subcommands(service: str) -> set[str]:
    """The subcommands the service's console script really has (from its argparse help)."""
    module = importlib.import_module(f"{service.removesuffix('-svc')}_svc.cli")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        module.main(["--help"])
    match = re.search(r"\{([\w,-]+)\}", out.getvalue())
    assert match, out.getvalue()
    return set(match.group(1).split(","))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workloads_run_their_own_image_and_existing_commands(overlay: str) -> None:
    """APIs run the image's CMD (uvicorn); every other container runs `<svc> <subcommand>` of
    its own image, with a subcommand the service's CLI has."""
    subcommands = {service: _cli_subcommands(service) for service in SERVICES}
    jobs: set[str] = set()
    for workload in workloads(overlay):
        service = labels_of(workload)["app.kubernetes.io/name"]
        component = labels_of(workload)["app.kubernetes.io/component"]
        assert service in SERVICES
        for container in containers(workload):
            image = container["image"]
            assert re.search(rf"(^|/){service}[:@]", image), f"{service} runs {image}"
            command = [*container.get("command", []), *container.get("args", [])]
            if component == "api":
                assert command == [], f"{service} API must run the image's uvicorn CMD"
                continue
            assert command[0] == service, command
            assert command[1] in subcommands[service], f"{service} has no {command[1]}"
            if component == "migration":
                assert workload["kind"] == "Job"
                assert command == [service, "migrate"]
                jobs.add(service)
            else:
                assert component == "worker", command
                assert workload["kind"] == "Deployment", command
    assert jobs == set(SERVICES), "every service has its migration Job"
    relay = find(overlay, "Deployment", "identity-svc-relay")
    assert containers(relay)[0]["command"] == ["identity-svc", "relay"]
    assert relay["spec"]["replicas"] == 1, "one relay keeps the stream in outbox order"
    assert relay["spec"]["strategy"]["type"] == "Recreate"


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_api_has_service_probes_hpa_pdb_and_network_policy(
    overlay: str, service: str
) -> None:
    deployment = api_deployment(overlay, service)
    labels = pod_labels(deployment)
    (container,) = containers(deployment)
    assert {"name": "http", "containerPort": API_PORT, "protocol": "TCP"} in container["ports"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}

    (svc,) = [s for s in manifests(overlay, "Service") if s["metadata"]["name"] == service]
    assert selector_matches({"matchLabels": svc["spec"]["selector"]}, labels)
    assert {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"} in svc["spec"][
        "ports"
    ]

    hpas = [
        h
        for h in manifests(overlay, "HorizontalPodAutoscaler")
        if h["spec"]["scaleTargetRef"]
        == {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment["metadata"]["name"]}
    ]
    assert len(hpas) == 1, f"{service}: one HPA"
    assert hpas[0]["apiVersion"] == "autoscaling/v2"
    assert 1 <= hpas[0]["spec"]["minReplicas"] <= hpas[0]["spec"]["maxReplicas"]

    pdbs = [
        p
        for p in manifests(overlay, "PodDisruptionBudget")
        if selector_matches(p["spec"]["selector"], labels)
    ]
    assert len(pdbs) == 1, f"{service}: one PDB"

    policies = [
        n
        for n in manifests(overlay, "NetworkPolicy")
        if selector_matches(n["spec"]["podSelector"], labels)
    ]
    assert len(policies) == 1, f"{service}: one NetworkPolicy"
    assert set(policies[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}


#: Address ranges a policy that opens the internet must leave out (pods, Services, nodes).
PRIVATE_RANGES = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}


def _peer_admits(
    peer: dict[str, Any], labels: dict[str, str], namespace: str, *, internet: bool = True
) -> bool:
    """Whether a NetworkPolicy peer admits a pod with ``labels`` in ``namespace``. An ``ipBlock``
    admits it, unless ``internet`` is False and the block leaves out the private ranges (then it
    reaches only addresses outside the cluster)."""
    if "ipBlock" in peer:
        private = PRIVATE_RANGES <= set(peer["ipBlock"].get("except", []))
        return internet or not private
    if "namespaceSelector" in peer:
        ns_labels = {"kubernetes.io/metadata.name": namespace}
        if not selector_matches(peer["namespaceSelector"], ns_labels):
            return False
    elif namespace != NAMESPACE:
        return False
    return selector_matches(peer.get("podSelector", {}), labels)


def _port_allowed(rule: dict[str, Any], port: int | str, protocol: str = "TCP") -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    return any(p.get("port") == port and p.get("protocol", "TCP") == protocol for p in ports)


def _allows(
    rules: list[dict[str, Any]],
    direction: str,
    labels: dict[str, str],
    namespace: str,
    port: int | str,
    protocol: str = "TCP",
    *,
    internet: bool = True,
) -> bool:
    """Whether ``rules`` let traffic through to/from a pod (``internet=False``: not counting
    ipBlocks that leave out the private ranges, which reach only addresses outside the cluster)."""
    for rule in rules:
        peers = rule.get(direction)
        if not _port_allowed(rule, port, protocol):
            continue
        if not peers or any(_peer_admits(p, labels, namespace, internet=internet) for p in peers):
            return True
    return False


def _allows_internet(rules: list[dict[str, Any]], port: int) -> bool:
    """Whether egress ``rules`` let a pod reach any address on the internet on ``port``."""
    for rule in rules:
        if not _port_allowed(rule, port):
            continue
        for peer in rule.get("to", []):
            if "ipBlock" in peer and peer["ipBlock"]["cidr"] in ("0.0.0.0/0", "::/0"):
                return True
    return False


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_network_policy_allows_exactly_what_the_service_needs(overlay: str, service: str) -> None:
    (policy,) = [n for n in manifests(overlay, "NetworkPolicy") if n["metadata"]["name"] == service]
    spec = policy["spec"]
    ingress, egress = spec["ingress"], spec["egress"]
    controller = {"app.kubernetes.io/name": "ingress-nginx"}
    platform_pod = {**PART_OF, "app.kubernetes.io/name": "vote-svc"}
    stranger = {"app": "something-else"}

    # Every pod of the service is covered (API, migration Job) except its workers, which have
    # the narrower worker policy (test_workers_talk_only_to_postgres_and_nats).
    for workload in workloads(overlay):
        if labels_of(workload)["app.kubernetes.io/name"] == service:
            is_worker = labels_of(workload)["app.kubernetes.io/component"] == "worker"
            covered = selector_matches(spec["podSelector"], pod_labels(workload))
            assert covered != is_worker, workload["metadata"]["name"]

    # In: only from the ingress controller's namespace and the platform's own pods, to http.
    assert all(rule.get("from") for rule in ingress), "an ingress rule without `from` admits all"
    assert all("ipBlock" not in peer for rule in ingress for peer in rule["from"])
    assert _allows(ingress, "from", controller, INGRESS_CONTROLLER_NAMESPACE, "http")
    assert _allows(ingress, "from", platform_pod, NAMESPACE, "http")
    assert not _allows(ingress, "from", stranger, "default", "http")
    assert not _allows(ingress, "from", stranger, NAMESPACE, "http")
    assert not _allows(ingress, "from", controller, INGRESS_CONTROLLER_NAMESPACE, 5432)

    # Out: DNS, its database, NATS (and identity-svc's JWKS); nothing else.
    assert _allows(egress, "to", {}, "kube-system", 53, "UDP")
    assert _allows(egress, "to", {}, "kube-system", 53, "TCP")
    assert _allows(egress, "to", {"cnpg.io/cluster": PG_CLUSTER}, NAMESPACE, 5432)
    assert _allows(egress, "to", NATS_LABELS, NAMESPACE, 4222)
    identity_api = pod_labels(api_deployment(overlay, "identity-svc"))
    assert _allows(egress, "to", identity_api, NAMESPACE, API_PORT) == (service != "identity-svc")
    # vote-svc's API asks proposal-svc about targets it has not heard of yet; nobody else does.
    proposal_api = pod_labels(api_deployment(overlay, "proposal-svc"))
    assert _allows(egress, "to", proposal_api, NAMESPACE, API_PORT) == (service == "vote-svc")
    assert not _allows(egress, "to", stranger, "default", 443)
    assert not _allows(egress, "to", stranger, NAMESPACE, 5432)
    # With k8s/components/ledger-fabric, ledger-svc's policy also opens the Fabric peer's
    # gateway port (any address until narrowed); no other service's does.
    fabric = overlay in FABRIC_OVERLAYS and service == "ledger-svc"
    assert _allows(egress, "to", stranger, "default", FABRIC_GATEWAY_PORT) == fabric
    anywhere = [{53}, {FABRIC_GATEWAY_PORT}] if fabric else [{53}]
    for rule in egress:
        assert rule.get("ports"), "every egress rule names its ports"
        if not rule.get("to"):
            assert {p["port"] for p in rule["ports"]} in anywhere, "only DNS may go anywhere"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_identity_jwks_is_reachable_from_every_other_service(overlay: str) -> None:
    (policy,) = [
        n for n in manifests(overlay, "NetworkPolicy") if n["metadata"]["name"] == "identity-svc"
    ]
    for service in SERVICES:
        labels = pod_labels(api_deployment(overlay, service))
        assert _allows(policy["spec"]["ingress"], "from", labels, NAMESPACE, "http"), service
        env = container_env(overlay, containers(api_deployment(overlay, service))[0])
        assert env[f"{SERVICES[service]}_JWKS_URL"] == "http://identity-svc/.well-known/jwks.json"


# --------------------------------------------------------------------------- workers


def _procfile() -> dict[str, list[str]]:
    """Process name -> argv, from deploy/local/Procfile."""
    processes: dict[str, list[str]] = {}
    for line in PROCFILE.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, command = line.partition(":")
        assert sep, f"Procfile: bad line {line!r}"
        assert name.strip() not in processes, f"Procfile: {name} twice"
        processes[name.strip()] = shlex.split(command)
    return processes


def procfile_workers() -> dict[str, list[str]]:
    """The Procfile's worker processes: everything but caddy and the ``*-api`` processes."""
    return {
        name: argv
        for name, argv in _procfile().items()
        if name != "caddy" and not name.endswith("-api")
    }


def worker_deployments(overlay: str) -> list[Manifest]:
    return [
        doc
        for doc in manifests(overlay, "Deployment")
        if labels_of(doc).get("app.kubernetes.io/component") == "worker"
    ]


def _strategy(deployment: Manifest) -> str:
    strategy: str = deployment["spec"].get("strategy", {}).get("type", "RollingUpdate")
    return strategy


def test_procfile_lists_the_apis_and_workers() -> None:
    """The parser below sees what the Procfile runs (a broken parser must not pass everything)."""
    processes = _procfile()
    apis = {name.removesuffix("-api") + "-svc" for name in processes if name.endswith("-api")}
    assert apis == set(SERVICES), "one *-api process per service"
    workers = procfile_workers()
    assert workers, "the Procfile has worker processes"
    for name, argv in workers.items():
        # <short>-<subcommand>: <short>-svc <subcommand>, nothing else (no shell, no options).
        assert len(argv) == 2, f"{name}: {argv}"
        assert name == f"{argv[0].removesuffix('-svc')}-{argv[1]}", f"{name}: {argv}"
        assert argv[0] in SERVICES, f"{name}: {argv}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_procfile_worker_has_its_deployment(overlay: str) -> None:
    """Each worker of the local runtime runs in Kubernetes as a Deployment `<svc>-<subcommand>`
    with exactly that command, and Kubernetes runs no worker the local runtime lacks. Relays: one
    replica, Recreate (outbox order); consumers may scale (RollingUpdate), except the single
    writers (SINGLE_WRITER_CONSUMERS: exactly one replica); tick and audit: one replica. None of
    them but the scalable consumers may have an HPA."""
    docs = (ROOT / "docs" / "kubernetes.md").read_text()
    hpa_targets = {
        hpa["spec"]["scaleTargetRef"]["name"]
        for hpa in manifests(overlay, "HorizontalPodAutoscaler")
    }
    expected = {tuple(argv) for argv in procfile_workers().values()}
    deployed: set[tuple[str, ...]] = set()
    for deployment in worker_deployments(overlay):
        (container,) = containers(deployment)
        deployed.add((*container.get("command", []), *container.get("args", [])))
    assert deployed == expected, "worker Deployments and deploy/local/Procfile differ"

    for name, argv in sorted(procfile_workers().items()):
        service, subcommand = argv
        running = [
            d
            for d in manifests(overlay, "Deployment")
            if any([*c.get("command", []), *c.get("args", [])] == argv for c in containers(d))
        ]
        assert len(running) == 1, f"{name}: {len(running)} Deployments run {argv}"
        (deployment,) = running
        where = f"{overlay}: Deployment {deployment['metadata']['name']} ({name})"
        assert deployment["metadata"]["name"] == f"{service}-{subcommand}", where
        (container,) = containers(deployment)
        assert container["command"] == argv, where
        assert "args" not in container, where
        for labels in (labels_of(deployment), pod_labels(deployment)):
            assert labels["app.kubernetes.io/name"] == service, where
            assert labels["app.kubernetes.io/component"] == "worker", where
            assert labels[WORKER_LABEL] == subcommand, where
        assert f"`{deployment['metadata']['name']}`" in docs, f"{where}: not in docs/kubernetes.md"
        replicas = deployment["spec"]["replicas"]
        if subcommand == "relay":
            assert replicas == 1, f"{where}: one relay keeps the stream in outbox order"
            assert _strategy(deployment) == "Recreate", f"{where}: a rollout must not run two"
            assert deployment["metadata"]["name"] not in hpa_targets, where
        elif subcommand == "consume":
            # Consumers share durable pull consumers, so they may scale and roll.
            assert replicas >= 1, where
            assert _strategy(deployment) == "RollingUpdate", f"{where}: no Recreate needed"
            if deployment["metadata"]["name"] in SINGLE_WRITER_CONSUMERS:
                # Appends take one lock in turn: a second replica would only wait for it (the
                # lock keeps a rollout's brief second replica safe, so RollingUpdate stays).
                assert replicas == 1, f"{where}: one writer, more replicas add no throughput"
                assert deployment["metadata"]["name"] not in hpa_targets, where
        elif subcommand == "tick":
            assert replicas == 1, f"{where}: one ticker is enough"
            assert deployment["metadata"]["name"] not in hpa_targets, where
        elif subcommand == "integrity":
            # Signals are stored once per target, kind and window: a second replica is safe but
            # only repeats the rounds.
            assert replicas == 1, f"{where}: one integrity worker is enough"
            assert deployment["metadata"]["name"] not in hpa_targets, where
        elif subcommand == "audit":
            assert replicas == 1, f"{where}: a second auditor only repeats the rounds"
            assert deployment["metadata"]["name"] not in hpa_targets, where
        elif subcommand == "send":
            # Dispatchers share the queue (FOR UPDATE SKIP LOCKED, leased rows): they may scale.
            assert replicas >= 1, where
            assert _strategy(deployment) == "RollingUpdate", f"{where}: no Recreate needed"
            assert deployment["metadata"]["name"] not in hpa_targets, where
        else:
            pytest.fail(f"{where}: decide replicas and strategy of `{subcommand}` workers here")
    consumers = {f"{s}-{sub}" for s, sub in procfile_workers().values() if sub == "consume"}
    assert SINGLE_WRITER_CONSUMERS <= consumers, "a rule for a consumer that does not exist"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployment_selectors_pick_only_their_own_pods(overlay: str) -> None:
    """With several workers per service, no Deployment, Service or PDB may select the pods of
    another Deployment (or a migration Job's)."""
    pods = {f"{w['kind']}/{w['metadata']['name']}": pod_labels(w) for w in workloads(overlay)}
    selectors = {
        f"Deployment/{d['metadata']['name']}": d["spec"]["selector"]
        for d in manifests(overlay, "Deployment")
    }
    selectors |= {
        f"Service/{s['metadata']['name']}": {"matchLabels": s["spec"]["selector"]}
        for s in manifests(overlay, "Service")
    }
    selectors |= {
        f"PodDisruptionBudget/{p['metadata']['name']}": p["spec"]["selector"]
        for p in manifests(overlay, "PodDisruptionBudget")
    }
    for owner, selector in selectors.items():
        selected = {name for name, labels in pods.items() if selector_matches(selector, labels)}
        if owner.startswith("Deployment/"):
            assert selected == {owner}, f"{owner} selects {sorted(selected)}"
        else:
            assert len(selected) == 1, f"{owner} selects {sorted(selected)}"
            assert next(iter(selected)).startswith("Deployment/"), owner


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workers_run_with_their_services_settings_and_secrets(overlay: str) -> None:
    """A worker gets exactly its API's environment: ConfigMap, Secrets, DATABASE_URL."""
    for deployment in worker_deployments(overlay):
        service = labels_of(deployment)["app.kubernetes.io/name"]
        (api,) = containers(api_deployment(overlay, service))
        (worker,) = containers(deployment)
        name = deployment["metadata"]["name"]
        assert worker.get("envFrom") == api.get("envFrom"), name
        assert worker.get("env") == api.get("env"), name
        assert worker["image"] == api["image"], name
        assert "ports" not in worker, f"{name}: a worker serves nothing"


@functools.cache
def _readiness_outcomes(script: str, prefix: str) -> tuple[int, int, int]:
    """Exit codes of a worker's readiness script with PostgreSQL and NATS both listening, with
    PostgreSQL down, and with NATS down (local sockets stand in for the two)."""

    def listener() -> socket.socket:
        sock = socket.create_server(("127.0.0.1", 0))
        return sock

    def closed_port() -> int:
        with listener() as sock:
            port: int = sock.getsockname()[1]
        return port

    def run(db_port: int, nats_port: int) -> int:
        env = {
            "PATH": os.environ.get("PATH", ""),
            f"{prefix}_DATABASE_URL": f"postgresql+asyncpg://u:p@127.0.0.1:{db_port}/db",
            f"{prefix}_NATS_URL": f"nats://127.0.0.1:{nats_port}",
        }
        proc = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, timeout=30, check=False
        )
        return proc.returncode

    with listener() as db, listener() as nats:
        db_port, nats_port = db.getsockname()[1], nats.getsockname()[1]
        up = run(db_port, nats_port)
        no_db = run(closed_port(), nats_port)
        no_nats = run(db_port, closed_port())
    return up, no_db, no_nats


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_worker_probes_check_their_own_database_and_nats(overlay: str) -> None:
    """Workers have no HTTP endpoint: readiness runs a script that connects to the service's own
    PostgreSQL and NATS (run here against local sockets), liveness one that reads /proc/1/stat."""
    for deployment in worker_deployments(overlay):
        service = labels_of(deployment)["app.kubernetes.io/name"]
        prefix = SERVICES[service]
        (container,) = containers(deployment)
        name = deployment["metadata"]["name"]
        env = container_env(overlay, container)
        assert {f"{prefix}_DATABASE_URL", f"{prefix}_NATS_URL"} <= set(env), name
        readiness = container["readinessProbe"]["exec"]["command"]
        assert readiness[:2] == ["python", "-c"], name
        assert _readiness_outcomes(readiness[2], prefix)[0] == 0, f"{name}: not ready with both"
        assert 0 not in _readiness_outcomes(readiness[2], prefix)[1:], f"{name}: ready without"
        liveness = container["livenessProbe"]["exec"]["command"]
        assert liveness[:2] == ["python", "-c"], name
        assert "/proc/1/stat" in liveness[2], name
        if Path("/proc/1/stat").is_file():
            proc = subprocess.run(
                [sys.executable, "-c", liveness[2]], capture_output=True, timeout=30, check=False
            )
            assert proc.returncode == 0, f"{name}: liveness fails on a live process"


def _policies_of(overlay: str, labels: dict[str, str]) -> list[Manifest]:
    """The NetworkPolicies that select a pod with ``labels`` (they add up)."""
    return [
        n
        for n in manifests(overlay, "NetworkPolicy")
        if selector_matches(n["spec"]["podSelector"], labels)
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workers_talk_only_to_postgres_and_nats(overlay: str) -> None:
    """Every worker pod is isolated: no ingress at all; egress to DNS, PostgreSQL and NATS only
    (not even identity-svc's API), except that the workers of WORKER_HTTP_PEERS (ledger-svc's
    auditor) also reach exactly the API pods they call (vote-svc), on the API port only.
    Policies add up, so all that select the pod are evaluated."""
    stranger = {"app": "something-else"}
    identity_api = pod_labels(api_deployment(overlay, "identity-svc"))
    apis = {service: pod_labels(api_deployment(overlay, service)) for service in SERVICES}
    workers = worker_deployments(overlay)
    assert workers
    assert set(WORKER_HTTP_PEERS) <= {d["metadata"]["name"] for d in workers}
    for deployment in workers:
        name = deployment["metadata"]["name"]
        labels = pod_labels(deployment)
        policies = _policies_of(overlay, labels)
        assert policies, f"{name}: no NetworkPolicy, so all traffic is allowed"
        types = {t for p in policies for t in p["spec"]["policyTypes"]}
        assert types == {"Ingress", "Egress"}, name
        ingress = [rule for p in policies for rule in p["spec"].get("ingress", [])]
        egress = [rule for p in policies for rule in p["spec"].get("egress", [])]
        assert ingress == [], f"{name}: a worker accepts no connections"
        assert _allows(egress, "to", {}, "kube-system", 53, "UDP"), name
        assert _allows(egress, "to", {}, "kube-system", 53, "TCP"), name
        assert _allows(egress, "to", {"cnpg.io/cluster": PG_CLUSTER}, NAMESPACE, 5432), name
        assert _allows(egress, "to", NATS_LABELS, NAMESPACE, 4222), name
        peers = WORKER_HTTP_PEERS.get(name, {})
        if "identity-svc" not in peers:
            assert not _allows(egress, "to", identity_api, NAMESPACE, API_PORT), name
        assert not _allows(egress, "to", identity_api, NAMESPACE, "http"), name
        internet = _allows_internet(egress, 443)
        assert internet == (name in WORKER_INTERNET_EGRESS), f"{name}: internet egress {internet}"
        # The Fabric component opens the peer's gateway port to the workers that dial it.
        fabric = overlay in FABRIC_OVERLAYS and name in FABRIC_WORKERS
        gateway = _allows(egress, "to", stranger, "default", FABRIC_GATEWAY_PORT)
        assert gateway == fabric, f"{name}: Fabric gateway egress {gateway}"
        anywhere = [{53}, {FABRIC_GATEWAY_PORT}] if fabric else [{53}]
        assert not _allows(egress, "to", stranger, "default", 443, internet=False), name
        assert not _allows_internet(egress, 80), name
        assert not _allows(egress, "to", stranger, NAMESPACE, 5432), name
        assert not _allows(egress, "to", {"cnpg.io/cluster": PG_CLUSTER}, NAMESPACE, 8000), name
        for service, api in apis.items():
            where = f"{name} -> {service}"
            reaches = _allows(egress, "to", api, NAMESPACE, API_PORT, internet=False)
            assert reaches == (service in peers), f"{where}: allowed {reaches}"
            assert not _allows(egress, "to", api, NAMESPACE, "http"), f"{where}: named port"
            # Only the API pods, only their port, only in this namespace.
            assert not _allows(egress, "to", api, NAMESPACE, 443, internet=False), where
            assert not _allows(egress, "to", api, NAMESPACE, 5432), where
            assert not _allows(egress, "to", api, "default", API_PORT), where
        for other in workloads(overlay):
            if labels_of(other)["app.kubernetes.io/component"] != "api":
                other_pod = pod_labels(other)
                assert not _allows(egress, "to", other_pod, NAMESPACE, API_PORT), name
        for rule in egress:
            assert rule.get("ports"), f"{name}: every egress rule names its ports"
            if not rule.get("to"):
                ports = {p["port"] for p in rule["ports"]}
                assert ports in anywhere, f"{name}: only DNS may go anywhere"
            for peer in rule.get("to", []):
                if "ipBlock" in peer:
                    assert name in WORKER_INTERNET_EGRESS, f"{name}: an address range"
                    assert {p["port"] for p in rule["ports"]} == {443}, f"{name}: HTTPS only"
                    assert set(peer["ipBlock"].get("except", [])) >= PRIVATE_RANGES, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workers_that_call_an_api_are_wired_to_it_end_to_end(overlay: str) -> None:
    """For each worker of WORKER_HTTP_PEERS (ledger-svc-audit -> vote-svc): the setting is one
    the service really has and names the peer's Service; that Service's port leads to the API
    container's port, which the worker's egress allows and the peer's own NetworkPolicy admits
    from the worker. The extra policy that allows it selects that worker's pods only, opens no
    ingress, and is out of reach of the docs' ingress patches (no app.kubernetes.io/name)."""
    pods = {f"{w['kind']}/{w['metadata']['name']}": pod_labels(w) for w in workloads(overlay)}
    for worker_name, peers in WORKER_HTTP_PEERS.items():
        worker = find(overlay, "Deployment", worker_name)
        labels = pod_labels(worker)
        service = labels["app.kubernetes.io/name"]
        prefix = SERVICES[service]
        settings_class = _settings_class(service)
        env = container_env(overlay, containers(worker)[0])
        policies = _policies_of(overlay, labels)
        egress = [rule for p in policies for rule in p["spec"].get("egress", [])]
        for peer, setting in peers.items():
            where = f"{overlay}: {worker_name} -> {peer} ({setting})"
            field = setting.removeprefix(f"{prefix}_").lower()
            assert setting.startswith(f"{prefix}_"), where
            assert field in settings_class.model_fields, f"{where}: {service} has no such setting"
            url = urllib.parse.urlsplit(env[setting])
            assert (url.scheme, url.hostname) == ("http", peer), f"{where}: {env[setting]}"
            service_port = url.port or 80
            (svc_port,) = [
                p
                for p in find(overlay, "Service", peer)["spec"]["ports"]
                if p["port"] == service_port
            ]
            api = api_deployment(overlay, peer)
            (container,) = containers(api)
            (container_port,) = [
                p["containerPort"]
                for p in container["ports"]
                if svc_port["targetPort"] in (p["containerPort"], p.get("name"))
            ]
            api_pod = pod_labels(api)
            assert _allows(egress, "to", api_pod, NAMESPACE, container_port), where
            (peer_policy,) = _policies_of(overlay, api_pod)
            ingress = peer_policy["spec"]["ingress"]
            assert _allows(ingress, "from", labels, NAMESPACE, svc_port["targetPort"]), where
        for policy in policies:
            if policy["metadata"]["name"] == "democracy-workers":
                continue
            selected = {
                n for n, pod in pods.items() if selector_matches(policy["spec"]["podSelector"], pod)
            }
            assert selected == {f"Deployment/{worker_name}"}, (
                f"{policy['metadata']['name']}: {selected}"
            )
            assert policy["spec"]["policyTypes"] == ["Egress"], policy["metadata"]["name"]
            assert "ingress" not in policy["spec"], policy["metadata"]["name"]
            assert "app.kubernetes.io/name" not in labels_of(policy), policy["metadata"]["name"]
    # The docs' ingress patch (`/spec/ingress/0/from/-` on every NetworkPolicy labelled
    # app.kubernetes.io/name) must apply to each policy it targets.
    for policy in manifests(overlay, "NetworkPolicy"):
        if "app.kubernetes.io/name" in labels_of(policy):
            assert policy["spec"]["ingress"][0]["from"], policy["metadata"]["name"]


def _caddy_routes() -> dict[str, str]:
    """Path prefix -> service, from the local runtime's Caddyfile (the same routes)."""
    text = (ROOT / "deploy" / "local" / "Caddyfile").read_text()
    routes: dict[str, str] = {}
    for name, paths in re.findall(r"^\s*@(\w+) path (.+)$", text, flags=re.M):
        for path in paths.split():
            routes[path.removesuffix("/*")] = f"{name}-svc"
    return routes


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_routes_every_prefix_to_its_service(overlay: str) -> None:
    assert _caddy_routes() == ROUTES, "k8s/base/ingress.yaml and deploy/local/Caddyfile differ"
    (ingress,) = manifests(overlay, "Ingress")
    paths = {p["path"]: p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]}
    assert set(paths) == set(ROUTES)
    for prefix, service in ROUTES.items():
        path = paths[prefix]
        assert path["pathType"] == ("Exact" if prefix.endswith(".json") else "Prefix"), prefix
        assert path["backend"]["service"] == {"name": service, "port": {"name": "http"}}, prefix
        find(overlay, "Service", service)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_is_configured_through_its_prefix(overlay: str) -> None:
    expected_env = ENVIRONMENTS[overlay]
    for service, prefix in SERVICES.items():
        for workload in workloads(overlay):
            if labels_of(workload)["app.kubernetes.io/name"] != service:
                continue
            (container,) = containers(workload)
            refs = [s["configMapRef"]["name"] for s in container["envFrom"] if "configMapRef" in s]
            (config,) = [find(overlay, "ConfigMap", name) for name in refs]
            assert all(key.startswith(f"{prefix}_") for key in config["data"]), config["data"]
            env = container_env(overlay, container)
            assert env[f"{prefix}_ENVIRONMENT"] == expected_env
            assert env[f"{prefix}_NATS_URL"] == "nats://nats:4222"
            # Composed from the Secret the CNPG role's password comes from (in prod the Secret
            # is external, so the credentials show as <secret/key>).
            db = service.removesuffix("-svc")
            user = db if overlay == "dev" else f"<{service}-db-credentials/username>"
            password = r"dev-only-\S+" if overlay == "dev" else r"<\S+/password>"
            url = env[f"{prefix}_DATABASE_URL"]
            assert re.fullmatch(
                rf"postgresql\+asyncpg://{re.escape(user)}:{password}@{PG_CLUSTER}-rw:5432/{db}",
                url,
            ), url
            if service in SERVICE_SECRETS:
                # Identity's peppers and key-encryption key, ledger's key-encryption key,
                # vote's voter-tag key: the whole Secret in every pod (dev: a generated,
                # hash-suffixed name).
                secret = SERVICE_SECRETS[service]
                assert any(
                    re.fullmatch(rf"{secret}(-\w+)?", name) and key is None
                    for name, key in secret_references(workload)
                ), f"{workload['metadata']['name']} lacks {secret}"
                if overlay == "dev":
                    assert set(EXTERNAL_SECRETS[secret]) <= set(env), workload["metadata"]["name"]
            if service == "ledger-svc":
                assert env["LEDGER_VOTE_URL"] == "http://vote-svc"


def _documented_secret_values() -> dict[str, dict[str, str]]:
    """The external Secrets filled in as docs/kubernetes.md creates them (fresh random values)."""
    values: dict[str, dict[str, str]] = {}
    notify_key = base64.b64encode(os.urandom(32)).decode()
    for name, keys in EXTERNAL_SECRETS.items():
        values[name] = {}
        for key in keys:
            if key == "username":
                values[name][key] = name.removesuffix("-svc-db-credentials")
            elif key in BASE64_32_BYTE_KEYS:
                values[name][key] = base64.b64encode(os.urandom(32)).decode()
            elif key in SERVICE_KEY_MAPS:
                values[name][key] = json.dumps({"notify-svc": notify_key})
            else:
                values[name][key] = os.urandom(32).hex()
    return values


def _load_settings(
    settings_class: type[ServiceSettings],
    prefix: str,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> ServiceSettings:
    """The settings a process with exactly ``env`` (as far as ``prefix`` goes) would read."""
    for var in list(os.environ):
        if var.startswith(f"{prefix}_"):
            monkeypatch.delenv(var)
    for var, value in env.items():
        if var.startswith(f"{prefix}_"):
            monkeypatch.setenv(var, value)
    return settings_class()


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_pods_settings_load_from_its_rendered_environment(
    overlay: str, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every pod of the service (API, migration Job, workers) gets an environment its settings
    class accepts (prod: with the external Secrets filled in as docs/kubernetes.md creates them),
    with the overlay's ENVIRONMENT and DATABASE_URL. In prod, the same pod without its
    SERVICE_SECRETS Secret is refused: production rejects the dev defaults of those keys."""
    settings_class = _settings_class(service)
    prefix = SERVICES[service]
    external = _documented_secret_values() if overlay in PROD_OVERLAYS else {}
    pods = [w for w in workloads(overlay) if labels_of(w)["app.kubernetes.io/name"] == service]
    assert len(pods) >= 2, "an API and a migration Job at least"
    for workload in pods:
        name = workload["metadata"]["name"]
        (container,) = containers(workload)
        env = container_env(overlay, container, external)
        settings = _load_settings(settings_class, prefix, env, monkeypatch)
        assert settings.environment == ENVIRONMENTS[overlay], name
        fabric = overlay in FABRIC_OVERLAYS and service == "ledger-svc"
        assert getattr(settings, "backend", "local") == ("fabric" if fabric else "local"), name
        assert settings.database_url == env[f"{prefix}_DATABASE_URL"], name
        assert "<" not in settings.database_url, f"{name}: an unresolved Secret reference"
        if overlay in PROD_OVERLAYS and service in SERVICE_SECRETS:
            without = {k: v for k, v in external.items() if k != SERVICE_SECRETS[service]}
            env = container_env(overlay, container, without)
            with pytest.raises(ValidationError, match="dev default is refused"):
                _load_settings(settings_class, prefix, env, monkeypatch)


#: Connections max_connections keeps beyond the services': superuser_reserved_connections (3)
#: and the CloudNativePG instance manager's and exporter's own.
PG_RESERVED_CONNECTIONS = 10


@pytest.mark.parametrize("overlay", PROD_OVERLAYS)
def test_prod_postgres_max_connections_covers_the_worst_case(overlay: str) -> None:
    """docs/kubernetes.md's connection budget: every API at its HPA maximum with full pools
    (DB_POOL_SIZE + DB_MAX_OVERFLOW of its ConfigMap), every worker pod with the pool
    services.worker opens, one connection per migration Job, plus the reserved ones, fit in the
    cluster's max_connections."""
    source = (ROOT / "services" / "src" / "services" / "worker.py").read_text()
    match = re.search(r"create_engine\([^)]*pool_size=(\d+), max_overflow=(\d+)\)", source)
    assert match, "services/worker.py no longer sizes the workers' pool like this"
    per_worker = int(match[1]) + int(match[2])
    hpa_max = {
        hpa["spec"]["scaleTargetRef"]["name"]: hpa["spec"]["maxReplicas"]
        for hpa in manifests(overlay, "HorizontalPodAutoscaler")
    }
    budget = len(manifests(overlay, "Job")) + PG_RESERVED_CONNECTIONS
    for deployment in manifests(overlay, "Deployment"):
        name = deployment["metadata"]["name"]
        pods = hpa_max.get(name, deployment["spec"]["replicas"])
        if labels_of(deployment)["app.kubernetes.io/component"] == "api":
            prefix = SERVICES[labels_of(deployment)["app.kubernetes.io/name"]]
            env = container_env(overlay, containers(deployment)[0])
            budget += pods * (
                int(env[f"{prefix}_DB_POOL_SIZE"]) + int(env[f"{prefix}_DB_MAX_OVERFLOW"])
            )
        else:
            assert name not in hpa_max, f"{name}: a worker HPA is not in the budget"
            budget += pods * per_worker
    (cluster,) = manifests(overlay, "Cluster")
    limit = int(cluster["spec"]["postgresql"]["parameters"]["max_connections"])
    assert budget <= limit, f"worst case {budget} connections, max_connections {limit}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_postgres_cluster_has_hangul_capable_locale_and_a_database_per_service(
    overlay: str,
) -> None:
    (cluster,) = manifests(overlay, "Cluster")
    spec = cluster["spec"]
    assert cluster["metadata"]["name"] == PG_CLUSTER
    assert spec["instances"] == (1 if overlay == "dev" else 3)
    image_tag = spec["imageName"].rsplit(":", 1)[1]
    assert re.match(r"\d+\.\d+", image_tag), "PostgreSQL image pinned to a minor release"
    initdb = spec["bootstrap"]["initdb"]
    assert initdb["encoding"] == "UTF8"
    # pg_trgm sees no Hangul under CNPG's default LC_CTYPE "C" (docs/kubernetes.md).
    assert initdb["localeCType"] == "C.UTF-8"
    assert initdb["localeCollate"] == "C.UTF-8"
    assert "CREATE EXTENSION IF NOT EXISTS pg_trgm" in initdb["postInitApplicationSQL"]

    owners = {initdb["database"]: initdb["owner"]}
    role_secrets = {initdb["owner"]: initdb["secret"]["name"]}
    for role in spec["managed"]["roles"]:
        assert role["login"] is True
        assert role.get("ensure", "present") == "present"
        role_secrets[role["name"]] = role["passwordSecret"]["name"]
    for database in manifests(overlay, "Database"):
        db = database["spec"]
        assert db["cluster"] == {"name": PG_CLUSTER}
        assert (db["encoding"], db["localeCType"], db["localeCollate"]) == (
            "UTF8",
            "C.UTF-8",
            "C.UTF-8",
        )
        assert db["databaseReclaimPolicy"] == "retain"
        assert db["name"] not in owners, f"database {db['name']} twice"
        owners[db["name"]] = db["owner"]
    # One database per service, owned by the service's role, whose password Secret the service
    # itself uses for its DATABASE_URL.
    assert owners == {s.removesuffix("-svc"): s.removesuffix("-svc") for s in SERVICES}
    for service in SERVICES:
        role = service.removesuffix("-svc")
        assert role_secrets[role] == f"{service}-db-credentials"
        refs = secret_references(api_deployment(overlay, service))
        assert {
            (f"{service}-db-credentials", "username"),
            (f"{service}-db-credentials", "password"),
        } <= refs


_CREATE_EXTENSION = re.compile(r"CREATE\s+EXTENSION\s+(IF\s+NOT\s+EXISTS\s+)?\"?(\w+)", re.I)


def _migration_extensions(service: str) -> dict[str, bool]:
    """Extension -> whether every migration of ``service`` creates it with IF NOT EXISTS."""
    module = service.replace("-", "_")
    found: dict[str, bool] = {}
    for path in sorted((ROOT / service / "src" / module / "migrations").rglob("*.py")):
        for if_not_exists, name in _CREATE_EXTENSION.findall(path.read_text()):
            found[name.lower()] = found.get(name.lower(), True) and bool(if_not_exists)
    return found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_extensions_the_migrations_create_exist_before_them(overlay: str) -> None:
    """The services' roles are not superusers: an extension a migration creates (proposal-svc:
    pg_trgm) is created in the service's database by CloudNativePG first (initdb's
    postInitApplicationSQL, or `extensions` of a Database resource), and the migration says
    IF NOT EXISTS, which PostgreSQL then skips without a privilege check."""
    (cluster,) = manifests(overlay, "Cluster")
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    bootstrapped = {
        initdb["database"]: {
            name.lower()
            for sql in initdb.get("postInitApplicationSQL", [])
            for _, name in _CREATE_EXTENSION.findall(sql)
        }
    }
    for database in manifests(overlay, "Database"):
        bootstrapped[database["spec"]["name"]] = {
            extension["name"]
            for extension in database["spec"].get("extensions", [])
            if extension.get("ensure", "present") == "present"
        }
    needed = {service.removesuffix("-svc"): _migration_extensions(service) for service in SERVICES}
    assert "pg_trgm" in needed["proposal"], "the scan finds proposal-svc's CREATE EXTENSION"
    for db, extensions in needed.items():
        for name, if_not_exists in extensions.items():
            assert name in bootstrapped.get(db, set()), f"database {db} lacks extension {name}"
            assert if_not_exists, f"{db}: CREATE EXTENSION {name} without IF NOT EXISTS"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deploy_phases_of_the_docs_select_the_right_objects(overlay: str) -> None:
    """docs/kubernetes.md "Deploying" applies by `app.kubernetes.io/component`: first
    everything but api/worker/migration, then the migration Jobs, then the rest."""
    phase: dict[str, set[str]] = {"first": set(), "migration": set(), "last": set()}
    for doc in manifests(overlay):
        component = labels_of(doc).get("app.kubernetes.io/component")
        step = {"migration": "migration", "api": "last", "worker": "last"}.get(component or "")
        phase[step or "first"].add(doc["kind"])
    assert phase["migration"] == {"Job"}
    assert phase["last"] == {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }
    assert {"Namespace", "ConfigMap", "Cluster", "Database", "NetworkPolicy", "Ingress"} <= phase[
        "first"
    ]
    assert not phase["first"] & {"Deployment", "Job"}
    assert ("Secret" in phase["first"]) == (overlay == "dev")


@pytest.mark.parametrize("overlay", PROD_OVERLAYS)
def test_prod_is_production(overlay: str) -> None:
    text = rendered(overlay)
    for service in SERVICES:
        deployment = api_deployment(overlay, service)
        assert deployment["spec"]["replicas"] >= 2, service
    for hpa in manifests(overlay, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["minReplicas"] >= 2, hpa["metadata"]["name"]
    for pdb in manifests(overlay, "PodDisruptionBudget"):
        assert pdb["spec"].get("minAvailable") == 1, pdb["metadata"]["name"]
    for workload in workloads(overlay):
        for container in containers(workload):
            image = container["image"]
            tag = image.rsplit("/", 1)[-1].partition(":")[2]
            assert "@sha256:" in image or (tag and tag not in ("latest", "dev")), image
    # No Secret is rendered: prod references Secrets created outside git, and no dev value
    # (nor the dev defaults the services refuse in production) appears anywhere.
    assert manifests(overlay, "Secret") == []
    assert "dev-only" not in text
    assert "SANDBOX" not in text
    (ingress,) = manifests(overlay, "Ingress")
    assert ingress["spec"]["tls"]
    assert all(r.get("host") for r in ingress["spec"]["rules"])


@pytest.mark.parametrize("overlay", PROD_OVERLAYS)
def test_prod_references_only_documented_external_secrets(overlay: str) -> None:
    docs = (ROOT / "docs" / "kubernetes.md").read_text()
    expected = external_secrets(overlay)
    used: set[tuple[str, str | None]] = set()
    for workload in workloads(overlay):
        used |= secret_references(workload)
    (cluster,) = manifests(overlay, "Cluster")
    used.add((cluster["spec"]["bootstrap"]["initdb"]["secret"]["name"], None))
    used |= {(r["passwordSecret"]["name"], None) for r in cluster["spec"]["managed"]["roles"]}
    used |= {(t["secretName"], None) for t in manifests(overlay, "Ingress")[0]["spec"]["tls"]}
    for name, key in used:
        assert name in expected, f"undocumented Secret {name}"
        assert key is None or key in expected[name], f"{name} has no key {key}"
    assert {name for name, _ in used} == set(expected)
    for name, keys in {**EXTERNAL_SECRETS, **COMPONENT_SECRETS}.items():
        assert f"`{name}`" in docs, f"docs/kubernetes.md does not explain Secret {name}"
        assert re.search(rf"^\| `{re.escape(name)}`", docs, flags=re.M), f"{name}: no table row"
        for key in keys:
            assert f"`{key}`" in docs, f"docs/kubernetes.md does not name key {key} of {name}"
    # Every service's own settings Secret comes with the command that creates it, one
    # --from-literal per key, the base64 keys as 32 random bytes.
    commands = {
        match[1]: match[2]
        for match in re.finditer(
            r"kubectl -n democracy create secret generic (\S+)((?:[^\n]*\\\n)*[^\n]*)", docs
        )
    }
    for name in SERVICE_SECRETS.values():
        assert name in commands, f"docs/kubernetes.md has no command that creates {name}"
        literals = dict(re.findall(r'--from-literal=(\w+)=("[^"]*"|\S+)', commands[name]))
        assert set(literals) == set(EXTERNAL_SECRETS[name]), name
        for key, value in literals.items():
            if key in SHARED_KEYS:
                assert value == f'"${key}"', f"{name}/{key}: the key generated once above"
            elif key in BASE64_32_BYTE_KEYS:
                assert value == '"$(openssl rand -base64 32)"', f"{name}/{key}"
            if key in SERVICE_KEY_MAPS:
                entries = ", ".join(
                    f'\\"{caller}\\": \\"${variable}\\"'
                    for caller, variable in SERVICE_KEY_MAP_CALLERS[key].items()
                )
                assert f'--from-literal={key}="{{{entries}}}"' in commands[name], f"{name}/{key}"
    for variable in SHARED_KEYS:
        assert f'{variable}="$(openssl rand -base64 32)"' in docs, variable
    # A component's Secret holds files: one --from-file=<key>=<file> per key, nothing else.
    for name, keys in COMPONENT_SECRETS.items():
        assert name in commands, f"docs/kubernetes.md has no command that creates {name}"
        files = dict(re.findall(r"--from-file=([\w.]+)=(\S+)", commands[name]))
        assert set(files) == set(keys), name
        assert "--from-literal" not in commands[name], name


def test_dev_is_small_and_its_secrets_are_obviously_fake() -> None:
    for deployment in manifests("dev", "Deployment"):
        assert deployment["spec"]["replicas"] == 1, deployment["metadata"]["name"]
    for pdb in manifests("dev", "PodDisruptionBudget"):
        assert "minAvailable" not in pdb["spec"], "one replica + minAvailable 1 blocks drains"
    secrets = {s["metadata"]["name"]: s for s in manifests("dev", "Secret")}
    for workload in workloads("dev"):
        for name, key in secret_references(workload):
            assert name in secrets, f"{name} is not generated in dev"
            assert key is None or key in secrets[name]["data"], f"{name} has no {key}"
    for secret in secrets.values():
        values = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        for key, value in values.items():
            if key == "username":
                continue
            if key in SERVICE_KEY_MAPS:
                for service_key in json.loads(value).values():
                    raw = base64.b64decode(service_key)
                    assert len(raw) == 32, "base64 of exactly 32 bytes"
                    assert raw.startswith(b"dev-only-"), f"{secret['metadata']['name']}/{key}"
                continue
            if key in BASE64_32_BYTE_KEYS:
                raw = base64.b64decode(value)
                assert len(raw) == 32, "base64 of exactly 32 bytes"
                value = raw.decode()
            assert value.startswith("dev-only-"), f"{secret['metadata']['name']}/{key}"
    (cluster,) = manifests("dev", "Cluster")
    assert cluster["spec"]["bootstrap"]["initdb"]["secret"]["name"] in secrets
    for role in cluster["spec"]["managed"]["roles"]:
        secret = secrets[role["passwordSecret"]["name"]]
        assert secret["type"] == "kubernetes.io/basic-auth"
        assert base64.b64decode(secret["data"]["username"]).decode() == role["name"]


# --------------------------------------------------------------------------- ledger-svc on Fabric


def _secret_volumes(workload: Manifest, secret: str) -> list[dict[str, Any]]:
    return [
        volume
        for volume in pod_spec(workload).get("volumes", [])
        if volume.get("secret", {}).get("secretName") == secret
    ]


def _fabric_egress_rules(policy: Manifest) -> list[dict[str, Any]]:
    return [
        rule
        for rule in policy["spec"].get("egress", [])
        if _port_allowed(rule, FABRIC_GATEWAY_PORT)
    ]


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_without_the_fabric_component_ledger_svc_runs_local(overlay: str) -> None:
    """The base (and so dev and prod) keeps LEDGER_BACKEND=local: nothing mounts the Fabric
    Secret, no setting names a profile and no NetworkPolicy opens the gateway port."""
    for workload in workloads(overlay):
        name = workload["metadata"]["name"]
        assert not _secret_volumes(workload, FABRIC_SECRET), name
        env = container_env(overlay, containers(workload)[0])
        assert env.get("LEDGER_BACKEND", "local") == "local", name
        assert "LEDGER_FABRIC_PROFILE" not in env, name
    for policy in manifests(overlay, "NetworkPolicy"):
        assert not _fabric_egress_rules(policy), policy["metadata"]["name"]
        assert FABRIC_EGRESS_LABEL[0] not in labels_of(policy), policy["metadata"]["name"]


def test_fabric_component_mounts_the_secret_where_the_profile_setting_points() -> None:
    """prod + k8s/components/ledger-fabric: the API, ledger-svc-consume and ledger-svc-audit, and
    no other pod, mount ledger-svc-fabric read-only at FABRIC_MOUNT, 0440, its items making the
    layout profile.json refers to; every ledger-svc pod has LEDGER_BACKEND=fabric and
    LEDGER_FABRIC_PROFILE naming the mounted profile.json."""
    overlay = "prod-fabric"
    mounting = set()
    for workload in workloads(overlay):
        name = workload["metadata"]["name"]
        volumes = _secret_volumes(workload, FABRIC_SECRET)
        (container,) = containers(workload)
        if not volumes:
            continue
        mounting.add(name)
        (volume,) = volumes
        secret = volume["secret"]
        assert secret["defaultMode"] == 0o440, name
        assert {i["key"]: i["path"] for i in secret["items"]} == FABRIC_ITEMS, name
        assert secret.get("optional") is not True, f"{name}: a pod without it must not start"
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
        assert mount == {"name": volume["name"], "mountPath": FABRIC_MOUNT, "readOnly": True}
        assert pod_spec(workload)["securityContext"]["fsGroup"] == APP_UID, name
    assert mounting == FABRIC_DEPLOYMENTS
    for name in FABRIC_DEPLOYMENTS:
        assert find(overlay, "Deployment", name), name
    for workload in workloads(overlay):
        if labels_of(workload)["app.kubernetes.io/name"] != "ledger-svc":
            continue
        env = container_env(overlay, containers(workload)[0])
        assert env["LEDGER_BACKEND"] == "fabric", workload["metadata"]["name"]
        assert env["LEDGER_FABRIC_PROFILE"] == f"{FABRIC_MOUNT}/{FABRIC_ITEMS['profile.json']}"


def _changed_by_the_fabric_component() -> set[tuple[str, str]]:
    return {
        ("ConfigMap", "ledger-svc-config"),
        ("NetworkPolicy", "ledger-svc"),
        *(("Deployment", name) for name in FABRIC_DEPLOYMENTS),
    }


def _by_identity(overlay: str) -> dict[tuple[str, str], Manifest]:
    """(kind, name) -> document, generated names without their hash suffix, and references to
    them likewise (a changed ConfigMap changes its suffix in every pod that uses it)."""
    generated = {
        doc["metadata"]["name"]: doc["metadata"]["name"].rsplit("-", 1)[0]
        for doc in manifests(overlay, "ConfigMap")
        if re.search(r"-[a-z0-9]{10}$", doc["metadata"]["name"])
    }
    text = rendered(overlay)
    for hashed, plain in generated.items():
        text = re.sub(rf"\b{re.escape(hashed)}\b", plain, text)
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in yaml.safe_load_all(text) if doc}


def test_fabric_component_changes_nothing_else() -> None:
    """Everything prod renders is unchanged by the component but the ledger ConfigMap, the three
    Deployments that mount the Secret and ledger-svc's NetworkPolicy; it adds only the workers'
    egress policies, and adds to the Deployments and the policy only what it must."""
    prod, fabric = _by_identity("prod"), _by_identity("prod-fabric")
    changed = _changed_by_the_fabric_component()
    added = set(fabric) - set(prod)
    assert not set(prod) - set(fabric)
    assert added == {
        ("NetworkPolicy", "ledger-svc-consume-fabric-egress"),
        ("NetworkPolicy", "ledger-svc-audit-fabric-egress"),
    }
    for identity, doc in prod.items():
        if identity not in changed:
            assert fabric[identity] == doc, identity
    # The ConfigMap: the base's settings plus the two.
    before = prod[("ConfigMap", "ledger-svc-config")]["data"]
    after = fabric[("ConfigMap", "ledger-svc-config")]["data"]
    assert after == {
        **before,
        "LEDGER_BACKEND": "fabric",
        "LEDGER_FABRIC_PROFILE": f"{FABRIC_MOUNT}/profile.json",
    }
    # The Deployments: the volume, its mount and fsGroup, nothing else.
    for name in FABRIC_DEPLOYMENTS:
        old = json.loads(json.dumps(prod[("Deployment", name)]))
        new = json.loads(json.dumps(fabric[("Deployment", name)]))
        spec = pod_spec(new)
        spec["volumes"] = [v for v in spec["volumes"] if "secret" not in v]
        del spec["securityContext"]["fsGroup"]
        (container,) = spec["containers"]
        container["volumeMounts"] = [
            m for m in container["volumeMounts"] if m["mountPath"] != FABRIC_MOUNT
        ]
        assert new == old, name
    # ledger-svc's policy: the label and one egress rule, first.
    old_policy = prod[("NetworkPolicy", "ledger-svc")]
    new_policy = json.loads(json.dumps(fabric[("NetworkPolicy", "ledger-svc")]))
    assert new_policy["metadata"]["labels"].pop(FABRIC_EGRESS_LABEL[0]) == FABRIC_EGRESS_LABEL[1]
    assert new_policy["spec"]["egress"].pop(0) == {
        "ports": [{"port": FABRIC_GATEWAY_PORT, "protocol": "TCP"}]
    }
    assert new_policy == old_policy


def test_fabric_egress_reaches_the_gateway_from_exactly_the_pods_that_dial_it() -> None:
    """The API (with the migration Job: one policy selects both), ledger-svc-consume and
    ledger-svc-audit may reach the peer's gateway port, by default at any address; no other pod.
    Every policy with that rule carries FABRIC_EGRESS_LABEL and has it as rule 0 (what the
    documented narrowing patch relies on); the workers' are egress-only and select one worker."""
    overlay = "prod-fabric"
    stranger = {"app": "fabric-peer"}
    pods = {f"{w['kind']}/{w['metadata']['name']}": pod_labels(w) for w in workloads(overlay)}
    reaching = set()
    for ident, labels in pods.items():
        egress = [r for p in _policies_of(overlay, labels) for r in p["spec"].get("egress", [])]
        if _allows(egress, "to", stranger, "fabric", FABRIC_GATEWAY_PORT):
            reaching.add(ident.partition("/")[2])
            # Only that port: not the peer's chaincode (7052) or operations port.
            assert not _allows(egress, "to", stranger, "fabric", 7052), ident
            assert not _allows(egress, "to", stranger, "fabric", 443, internet=False), ident
    assert reaching == {*FABRIC_DEPLOYMENTS, "ledger-svc-migrate"}
    labelled = {
        p["metadata"]["name"]
        for p in manifests(overlay, "NetworkPolicy")
        if labels_of(p).get(FABRIC_EGRESS_LABEL[0]) == FABRIC_EGRESS_LABEL[1]
    }
    with_rule = {
        p["metadata"]["name"]
        for p in manifests(overlay, "NetworkPolicy")
        if _fabric_egress_rules(p)
    }
    assert (
        labelled
        == with_rule
        == {
            "ledger-svc",
            "ledger-svc-consume-fabric-egress",
            "ledger-svc-audit-fabric-egress",
        }
    )
    for name in labelled:
        policy = find(overlay, "NetworkPolicy", name)
        assert _fabric_egress_rules(policy) == [policy["spec"]["egress"][0]], name
        assert policy["spec"]["egress"][0]["ports"] == [
            {"port": FABRIC_GATEWAY_PORT, "protocol": "TCP"}
        ]
        if name == "ledger-svc":
            continue
        selected = {
            ident
            for ident, labels in pods.items()
            if selector_matches(policy["spec"]["podSelector"], labels)
        }
        worker = name.removesuffix("-fabric-egress")
        assert selected == {f"Deployment/{worker}"}, name
        assert policy["spec"]["policyTypes"] == ["Egress"], name
        assert "ingress" not in policy["spec"], name
        assert "app.kubernetes.io/name" not in labels_of(policy), name


def test_documented_narrowing_patch_limits_the_gateway_egress_to_the_peer() -> None:
    """docs/kubernetes.md gives operators a patch that narrows the Fabric rule of every labelled
    policy to the peer's address; prod-fabric-narrowed applies exactly that text. After it the
    gateway port is open to that address only, the rest of the policies as before."""
    patch = (OVERLAY_DIRS["prod-fabric-narrowed"] / "fabric-egress.yaml").read_text()
    docs = (ROOT / "docs" / "kubernetes.md").read_text()
    assert patch in docs, "docs/kubernetes.md no longer shows the tested narrowing patch"
    peer = {"ipBlock": {"cidr": "203.0.113.10/32"}}
    for policy in manifests("prod-fabric-narrowed", "NetworkPolicy"):
        name = policy["metadata"]["name"]
        wide = find("prod-fabric", "NetworkPolicy", name)
        rules = _fabric_egress_rules(policy)
        if not _fabric_egress_rules(wide):
            assert policy == wide, name
            continue
        assert rules == [{**wide["spec"]["egress"][0], "to": [peer]}], name
        assert policy["spec"]["egress"][1:] == wide["spec"]["egress"][1:], name


def _documented_fabric_profile() -> dict[str, Any]:
    """The example connection profile of docs/ledger.md, "Kubernetes" (its first JSON block)."""
    docs = (ROOT / "docs" / "ledger.md").read_text()
    section = docs.split("\n### Kubernetes\n", 1)[1].split("\n### ", 1)[0]
    match = re.search(r"```json\n(.*?)```", section, flags=re.S)
    assert match, "docs/ledger.md, Kubernetes: no example profile"
    profile: dict[str, Any] = json.loads(match[1])
    return profile


def _fabric_secret_files() -> dict[str, bytes]:
    """The four files an operator puts in ledger-svc-fabric (docs/ledger.md, "Kubernetes"):
    the documented profile (paths relative to it), a TLS CA, and an EC P-256 client certificate
    with its key."""

    def certificate(name: str, key: ec.EllipticCurvePrivateKey) -> bytes:
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM)

    client_key = ec.generate_private_key(ec.SECP256R1())
    profile = _documented_fabric_profile()
    return {
        "profile.json": json.dumps(profile).encode(),
        "tlsca.pem": certificate(
            "tlsca.seoulcity.example", ec.generate_private_key(ec.SECP256R1())
        ),
        "signcert.pem": certificate("User1@seoulcity.example", client_key),
        "key.pem": client_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    }


@pytest.mark.parametrize("deployment", sorted(FABRIC_DEPLOYMENTS))
def test_the_mounted_secret_is_what_ledger_svc_loads(
    deployment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Secret's files laid out as the rendered volume's items put them (under tmp_path in
    place of /), with the pod's rendered settings: ledger-svc builds its Fabric backend from them
    (profile, TLS CA, the MSP identity whose key matches its certificate) without dialling."""
    overlay = "prod-fabric"
    workload = find(overlay, "Deployment", deployment)
    (volume,) = _secret_volumes(workload, FABRIC_SECRET)
    (container,) = containers(workload)
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    files = _fabric_secret_files()
    assert set(files) == set(COMPONENT_SECRETS[FABRIC_SECRET])
    root = tmp_path / mount["mountPath"].lstrip("/")
    for item in volume["secret"]["items"]:
        target = root / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files[item["key"]])
    env = container_env(overlay, container, _documented_secret_values())
    profile = Path(env["LEDGER_FABRIC_PROFILE"])
    assert profile.is_absolute()
    env["LEDGER_FABRIC_PROFILE"] = str(tmp_path / profile.relative_to("/"))
    settings = _load_settings(LedgerSettings, "LEDGER", env, monkeypatch)
    assert isinstance(settings, LedgerSettings)
    backend = build_backend(settings)
    assert isinstance(backend, FabricBackend)
    gateway = backend.contract.gateway
    documented = _documented_fabric_profile()
    assert gateway.identity.msp_id == documented["client_org"]
    assert gateway.identity.certificate_pem == files["signcert.pem"]
    assert gateway.org.peer.tls_ca.read_bytes() == files["tlsca.pem"]
    assert gateway.channel_name == documented["channel"]
    # The peer it dials listens on the port the component's egress opens.
    assert gateway.org.peer.endpoint.rpartition(":")[2] == str(FABRIC_GATEWAY_PORT)


# --------------------------------------------------------------------------- NATS values


def test_nats_helm_values_run_a_jetstream_cluster() -> None:
    values = yaml.safe_load((K8S / "infra" / "nats-values.yaml").read_text())
    assert values["config"]["cluster"] == {"enabled": True, "replicas": 3}
    jetstream = values["config"]["jetstream"]
    assert jetstream["enabled"] is True
    assert jetstream["fileStore"]["enabled"] is True
    assert jetstream["fileStore"]["pvc"]["enabled"] is True
    assert values["podDisruptionBudget"]["enabled"] is True
    # Top-level keys the chart (nats 2.14.x) has; a misspelt key would be silently ignored.
    assert set(values) <= {
        "global", "nameOverride", "fullnameOverride", "namespaceOverride", "tlsCA", "config",
        "container", "reloader", "promExporter", "service", "statefulSet", "podTemplate",
        "headlessService", "configMap", "podDisruptionBudget", "serviceAccount", "natsBox",
        "extraResources",
    }  # fmt: skip


# --------------------------------------------------------------------------- images


#: The one Dockerfile of every service image, parametrised by the build argument SERVICE.
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
#: Instructions whose arguments the builder expands ($VAR from ARG and ENV). RUN's shell form
#: sees the same variables in its environment; CMD and ENTRYPOINT in exec form see none.
_EXPANDED = {"ADD", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER", "VOLUME",
             "WORKDIR", "RUN"}  # fmt: skip
_VARIABLE = re.compile(
    r"\$\{(?P<name>\w+)(?:(?P<op>//|/|:-|:\+)(?P<word>[^}]*))?\}|\$(?P<bare>\w+)"
)


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    result = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, args = line.strip().partition(" ")
            result.append((instruction.upper(), args.strip()))
    return result


def _expand(text: str, scope: dict[str, str]) -> str:
    """Dockerfile variable expansion: $V, ${V}, ${V:-word}, ${V:+word} and (syntax >= 1.7)
    ${V/old/new}, ${V//old/new} with literal patterns. An unset variable expands to ""."""

    def one(match: re.Match[str]) -> str:
        name = match.group("name") or match.group("bare")
        value = scope.get(name)
        op, word = match.group("op"), match.group("word")
        if op is None:
            return value or ""
        if op == ":-":
            return value or _expand(word, scope)
        if op == ":+":
            return _expand(word, scope) if value else ""
        old, _, new = word.partition("/")
        assert not set(old) & set("*?["), f"glob patterns are not rendered here: {match.group()}"
        return (value or "").replace(old, new, -1 if op == "//" else 1)

    return _VARIABLE.sub(one, text)


def _declared_arg(args: str) -> tuple[str, str | None]:
    name, eq, default = args.partition("=")
    return name, (default if eq else None)


def render_dockerfile(text: str, build_args: dict[str, str]) -> list[list[tuple[str, str]]]:
    """The Dockerfile as the builder sees it with ``--build-arg`` ``build_args``: its stages
    (the instructions of each, FROM first), variables expanded where the builder expands them.

    A global ARG (before the first FROM) is visible in a stage only if the stage declares it
    again; a build argument overrides a default; ENV variables follow in later instructions."""
    global_args: dict[str, str] = {}
    stages: list[list[tuple[str, str]]] = []
    scope: dict[str, str] = {}
    for instruction, args in _instructions(text):
        if instruction == "ARG":
            name, default = _declared_arg(args)
            current = scope if stages else global_args
            if name in build_args:
                current[name] = build_args[name]
            elif default is not None:
                current[name] = _expand(default, current)
            elif stages and name in global_args:
                scope[name] = global_args[name]
            if stages:
                stages[-1].append((instruction, args))
            continue
        if instruction == "FROM":
            stages.append([])
            scope = {}
            expanded = _expand(args, global_args)
        elif instruction in _EXPANDED and not (instruction == "RUN" and args.startswith("[")):
            expanded = _expand(args, scope)
        else:
            expanded = args
        if instruction == "ENV":
            for pair in shlex.split(expanded):
                key, _, value = pair.partition("=")
                scope[key] = value
        assert stages, f"{instruction} before the first FROM"
        stages[-1].append((instruction, expanded))
    return stages


def _dockerfile(service: str) -> list[list[tuple[str, str]]]:
    return render_dockerfile(DOCKERFILE.read_text(), {"SERVICE": service})


def _uv_syncs(stage: list[tuple[str, str]]) -> list[list[str]]:
    """The argv of every `uv sync` the stage runs (shell words, up to the next operator)."""
    syncs = []
    for instruction, args in stage:
        if instruction != "RUN":
            continue
        words = shlex.split(args)
        for i in range(len(words) - 1):
            if words[i : i + 2] == ["uv", "sync"]:
                end = next(
                    (j for j in range(i, len(words)) if words[j] in {"&&", "||", ";", "|"}),
                    len(words),
                )
                syncs.append(words[i:end])
    return syncs


def _option(argv: list[str], option: str) -> str | None:
    return argv[argv.index(option) + 1] if option in argv else None


def _workspace_services() -> set[str]:
    members = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    # The shared library and the development-only tooling are no services (no image of their own).
    return {member for member in members["members"] if member not in ("services", "services-dev")}


def test_every_service_of_the_workspace_builds_from_the_one_dockerfile() -> None:
    assert _workspace_services() == set(SERVICES), "SERVICES must list every workspace service"
    assert DOCKERFILE.is_file()
    for service in sorted(_workspace_services()):
        assert not (ROOT / service / "Dockerfile").exists(), f"{service}: a second Dockerfile"
    others = {
        path.relative_to(ROOT).as_posix()
        for pattern in (
            "Dockerfile*",
            "*/Dockerfile*",
            "deploy/**/Dockerfile*",
            "k8s/**/Dockerfile*",
        )
        for path in ROOT.glob(pattern)
    }
    assert others == {"deploy/docker/Dockerfile"}
    # docs/kubernetes.md builds the images from it, with the repository root as context.
    docs = re.sub(r"\\\n", " ", (ROOT / "docs" / "kubernetes.md").read_text())
    builds = [
        shlex.split(line.strip())
        for line in docs.splitlines()
        if line.strip().startswith("docker build ")
    ]
    assert builds, "docs/kubernetes.md shows no docker build command"
    for argv in builds:
        assert _option(argv, "-f") == "deploy/docker/Dockerfile", argv
        service = (_option(argv, "--build-arg") or "").removeprefix("SERVICE=")
        assert service in SERVICES or service.startswith("$"), argv
        assert argv[-1] == ".", "the build context is the repository root"


def test_the_dockerfile_needs_a_service() -> None:
    """Without --build-arg SERVICE the build stops before it copies anything of a service."""
    stages = render_dockerfile(DOCKERFILE.read_text(), {})
    build = next(stage for stage in stages if stage[0][1].endswith(" AS build"))
    first_run = next(args for instruction, args in build if instruction == "RUN")
    proc = subprocess.run(
        ["/bin/sh", "-c", first_run],
        env={},
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert proc.returncode != 0
    assert "SERVICE" in proc.stderr
    copies_before = [
        args
        for instruction, args in build[: build.index(("RUN", first_run))]
        if instruction == "COPY" and "--from" not in args
    ]
    assert not copies_before, copies_before


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_dockerfile_builds_only_its_service_and_runs_it_as_non_root(service: str) -> None:
    module = service.replace("-", "_")
    text = DOCKERFILE.read_text()
    global_args = dict(
        _declared_arg(args) for instruction, args in _instructions(text.split("\nFROM ")[0])
    )
    assert global_args["PYTHON_IMAGE"] == "python:3.11-slim"
    stages = _dockerfile(service)
    build = next(stage for stage in stages if stage[0][1].endswith(" AS build"))
    runtime = stages[-1]
    assert runtime[0][1].startswith("python:3.11-slim"), "the runtime stage is python:3.11-slim"
    # uv installs exactly this service (and what it needs) from uv.lock, dependencies first.
    syncs = _uv_syncs(build)
    assert len(syncs) == 2, syncs
    for argv in syncs:
        assert {"--frozen", "--no-dev"} <= set(argv), argv
        assert _option(argv, "--package") == service, argv
    assert "--no-install-workspace" in syncs[0]
    assert "--no-editable" in syncs[-1]
    sources = {
        token.split("/")[0]
        for instruction, args in build
        if instruction == "COPY" and "--from" not in args
        for token in args.split()[:-1]
        if not token.startswith("--")
    }
    assert sources == {"pyproject.toml", "uv.lock", "services", service}, f"copies {sources}"
    runtime_copies = [args for instruction, args in runtime if instruction == "COPY"]
    assert runtime_copies == ["--from=build /app/.venv /app/.venv"], "only the venv is shipped"
    users = [args for instruction, args in runtime if instruction == "USER"]
    assert users, "runs as a non-root user"
    assert users[-1] == f"{APP_UID}:{APP_UID}", "numeric, so runAsNonRoot can check it"
    assert ("EXPOSE", str(API_PORT)) in runtime
    (cmd,) = [args for instruction, args in runtime if instruction == "CMD"]
    assert cmd.startswith("["), "exec form, so uvicorn gets the signals"
    argv = yaml.safe_load(cmd)
    assert "$" not in cmd, "exec form is not expanded: no variables in CMD"
    # The app is uvicorn's APP argument: on the command line, else from UVICORN_APP.
    env: dict[str, str] = {}
    for instruction, args in runtime:
        if instruction == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                env[key] = value
    options_with_value = {"--host", "--port"}
    positional = [
        arg
        for i, arg in enumerate(argv[1:], start=1)
        if not arg.startswith("-") and argv[i - 1] not in options_with_value
    ]
    assert argv[0] == "uvicorn"
    assert (positional or [env.get("UVICORN_APP")]) == [f"{module}.main:create_app"]
    assert "--factory" in argv
    assert _option(argv, "--host") == "0.0.0.0"
    assert _option(argv, "--port") == str(API_PORT)
    main = (ROOT / service / "src" / module / "main.py").read_text()
    assert "def create_app(" in main


def test_dockerignore_sends_only_sources_to_the_builder() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "**", "an allow-list: exclude everything, then re-include"
    included = {p[1:] for p in patterns if p.startswith("!")}
    assert included == {
        "pyproject.toml",
        "uv.lock",
        "services/pyproject.toml",
        "services/src/",
        "*-svc/pyproject.toml",
        "*-svc/src/",
    }
