"""Vendor a CustomResourceDefinition's schema for the offline manifest check.

    python deploy/schemas/extract_crd_schema.py <crd.yaml> <source> \
        > deploy/schemas/crds/<group>_<kind>_<version>.json

Keeps the `openAPIV3Schema` of the version the CRD stores, without its `description` texts
(they are most of a CRD's size and say nothing to a validator), and names where it came from
(`<source>`: repository, path and commit) in `$comment`, so it can be refreshed from the same
place when the operator is upgraded.
"""

import json
import sys
from pathlib import Path
from typing import Any

import yaml


def without_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: without_descriptions(value)
            for key, value in node.items()
            # `description` is a property name in some schemas (under `properties`): keep those.
            if not (key == "description" and isinstance(value, str))
        }
    if isinstance(node, list):
        return [without_descriptions(item) for item in node]
    return node


def main(crd_path: str, source: str) -> None:
    crd = yaml.safe_load(Path(crd_path).read_text())
    version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
    schema = without_descriptions(version["schema"]["openAPIV3Schema"])
    origin = f"openAPIV3Schema of {crd['metadata']['name']} {version['name']}, from {source}"
    vendored = {
        "$comment": origin,
        "x-kubernetes-group-version-kind": {
            "group": crd["spec"]["group"],
            "version": version["name"],
            "kind": crd["spec"]["names"]["kind"],
        },
        "x-kubernetes-scope": crd["spec"]["scope"],
        **schema,
    }
    json.dump(vendored, sys.stdout, indent=1, sort_keys=True, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
