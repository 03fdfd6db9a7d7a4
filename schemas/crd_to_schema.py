#!/usr/bin/env python3
"""Converts a CustomResourceDefinition into the strict JSON Schema the manifest checks use (a
maintainer tool; the tests only read its output).

  python3 schemas/crd_to_schema.py CRDS.yaml KIND 'SOURCE NOTE' > OUT.schema.json

Strict: every object with `properties` and without `x-kubernetes-preserve-unknown-fields` admits
no other field; `x-kubernetes-int-or-string` becomes integer-or-string, `nullable` admits null; Go's `^(?i)` patterns are
written `(?i)^` for JSON Schema's regex dialect. `apiVersion` is one of the served versions,
`kind` the CRD's kind, `metadata` the strict ObjectMeta of kubernetes-validate 1.37.0 (taken
from schemas/prometheus/prometheusrule.schema.json, which carries it). The schema is that of
the first served version (Istio serves one schema under several versions).
"""
import json
import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))


def strict(node):
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: strict(value) for key, value in node.items()}
    if isinstance(out.get("pattern"), str) and out["pattern"].startswith("^(?i)"):
        out["pattern"] = "(?i)^" + out["pattern"][len("^(?i)"):]
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if out.get("x-kubernetes-int-or-string") and "type" not in out:
        out["type"] = ["integer", "string"]
    if out.get("type") == "object" and "properties" in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        out.setdefault("additionalProperties", False)
    return out


def convert(crds_path, kind, source):
    with open(crds_path) as f:
        crd = next(d for d in yaml.safe_load_all(f) if d and d["spec"]["names"]["kind"] == kind)
    group = crd["spec"]["group"]
    served = [v for v in crd["spec"]["versions"] if v.get("served", True)]
    schema = strict(served[0]["schema"]["openAPIV3Schema"])
    versions = [f"{group}/{v['name']}" for v in served]
    schema["properties"]["apiVersion"] = {"type": "string", "enum": versions}
    schema["properties"]["kind"] = {"type": "string", "const": kind}
    schema["properties"]["metadata"] = {"$ref": "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    required = [r for r in schema.get("required", []) if r not in ("apiVersion", "kind", "metadata")]
    schema["required"] = ["apiVersion", "kind", "metadata"] + required
    schema["type"] = "object"
    schema["additionalProperties"] = False
    with open(os.path.join(HERE, "prometheus", "prometheusrule.schema.json")) as f:
        object_meta = json.load(f)["$defs"]
    out = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": f"{kind} ({', '.join(versions)})",
           "x-source": source}
    out.update(schema)
    out["$defs"] = object_meta
    return out


if __name__ == "__main__":
    crds, kind, source = sys.argv[1:4]
    json.dump(convert(crds, kind, source), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
