"""Offline validation of the Kubernetes manifests, custom resources included.

    python deploy/local/manifests.py validate FILE...    # every document, strictly (exit 1 on the first error)
    python deploy/local/manifests.py schemas DIR         # the custom resources' JSON schemas, for kubeconform

Built-in kinds are checked against the Kubernetes schemas that ``kubernetes-validate`` bundles.
A custom resource (the PrometheusRule) is checked against the ``openAPIV3Schema`` of its
CustomResourceDefinition, bundled in deploy/schemas/ as its project ships it, made strict the way
kubeconform's ``openapi2jsonschema.py`` does: an object that lists its properties allows no other.
``deploy/validate.sh`` and tests/unit/test_ops_deploy.py both validate through here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "deploy" / "schemas"
KUBERNETES_VERSION = "1.33.0"

#: The CustomResourceDefinitions whose kinds the manifests use, by file in deploy/schemas/.
CRD_FILES = ("monitoring.coreos.com_prometheusrules.yaml",)


class ManifestError(ValueError):
    """A manifest does not match its schema; the message names it and the failing field."""


def _strict(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if (
        "properties" in strict
        and "additionalProperties" not in strict
        and not strict.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """The strict JSON schema of each bundled custom resource, by (apiVersion, kind)."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for name in CRD_FILES:
        crd = yaml.safe_load((SCHEMAS / name).read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schemas[(f"{group}/{version['name']}", kind)] = _strict(version["schema"]["openAPIV3Schema"])
    return schemas


def validate(document: dict[str, Any], kubernetes_version: str = KUBERNETES_VERSION) -> None:
    """Raises ManifestError unless the document is valid, strictly, for its kind."""
    name = f"{document.get('kind')}/{document.get('metadata', {}).get('name')}"
    schema = crd_schemas().get((document.get("apiVersion", ""), document.get("kind", "")))
    try:
        if schema is not None:
            jsonschema.Draft7Validator(schema).validate(document)
        else:
            kubernetes_validate.validate(document, kubernetes_version, strict=True)
    except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as exc:
        raise ManifestError(f"{name}: {exc}") from None
    except kubernetes_validate.SchemaNotFoundError as exc:
        raise ManifestError(f"{name}: no schema for this kind ({exc}); bundle its CRD in deploy/schemas") from None


def write_schemas(directory: Path) -> list[Path]:
    """Writes the custom resources' schemas as kubeconform finds them with
    ``-schema-location 'DIR/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json'``."""
    written = []
    for (api_version, kind), schema in crd_schemas().items():
        group, version = api_version.split("/")
        path = directory / group / f"{kind.lower()}_{version}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(schema, indent=1) + "\n")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("validate", help="validate every document of the files")
    check.add_argument("files", nargs="+", type=Path)
    check.add_argument("--kubernetes-version", default=KUBERNETES_VERSION)
    schemas = commands.add_parser("schemas", help="write the custom resources' JSON schemas")
    schemas.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    if args.command == "schemas":
        for path in write_schemas(args.directory):
            print(path)
        return 0
    count = 0
    for path in args.files:
        for document in yaml.safe_load_all(path.read_text()):
            if not document:
                continue
            try:
                validate(document, args.kubernetes_version)
            except ManifestError as exc:
                print(f"{path}: {exc}", file=sys.stderr)
                return 1
            count += 1
    print(f"{count} manifests: valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
