#!/usr/bin/env python3
"""Regenerates the schema data files under schemas/ (a maintainer tool; the tests only read the output).

  pip install kubernetes-validate==1.37.0 xds-protos==1.85.0 'protobuf<7'
  python3 schemas/extract.py

Kubernetes: for each kind below, the strict schema of kubernetes-validate 1.37.0
(kubernetes-json-schema/v1.37.0-local-strict) with only the definitions it reaches, bundled into one
self-contained file (`$ref`s rewritten to `#/$defs/...`).
Envoy: a FileDescriptorSet holding the Bootstrap message and the extensions our artifacts name,
with everything they import, from xds-protos 1.85.0.
"""
import importlib
import json
import os
import re

import kubernetes_validate
from google.protobuf import descriptor_pb2

HERE = os.path.dirname(os.path.abspath(__file__))

KUBERNETES_KINDS = [
    "namespace-v1", "serviceaccount-v1", "service-v1", "configmap-v1", "secret-v1",
    "deployment-apps-v1", "statefulset-apps-v1", "daemonset-apps-v1",
    "cronjob-batch-v1", "job-batch-v1", "poddisruptionbudget-policy-v1",
    "clusterrole-rbac-v1", "clusterrolebinding-rbac-v1", "role-rbac-v1", "rolebinding-rbac-v1",
    "customresourcedefinition-apiextensions-v1",
]

ENVOY_MODULES = [
    "envoy.config.bootstrap.v3.bootstrap_pb2",
    "envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2",
    "envoy.extensions.filters.http.wasm.v3.wasm_pb2",
    "envoy.extensions.filters.http.router.v3.router_pb2",
    "envoy.config.trace.v3.opentelemetry_pb2",
    "envoy.extensions.access_loggers.stream.v3.stream_pb2",
    "envoy.extensions.upstreams.http.v3.http_protocol_options_pb2",
]


def kubernetes():
    source = os.path.join(os.path.dirname(kubernetes_validate.__file__),
                          "kubernetes-json-schema", "v1.37.0-local-strict")
    with open(os.path.join(source, "_definitions.json")) as f:
        definitions = json.load(f)["$defs"]
    ref = re.compile(r"^(?:/api/_definitions\.json)?#/\$defs/(.+)$")

    def rewrite(node, reached):
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str):
                    name = ref.match(value).group(1)
                    if name not in reached:
                        reached[name] = None
                        reached[name] = rewrite(definitions[name], reached)
                    out[key] = "#/$defs/" + name
                else:
                    out[key] = rewrite(value, reached)
            return out
        if isinstance(node, list):
            return [rewrite(v, reached) for v in node]
        return node

    for kind in KUBERNETES_KINDS:
        with open(os.path.join(source, kind + ".json")) as f:
            schema = json.load(f)
        reached = {}
        bundled = rewrite(schema, reached)
        bundled["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        bundled["x-source"] = ("kubernetes-validate 1.37.0, kubernetes-json-schema/v1.37.0-local-strict/"
                               + kind + ".json with the _definitions.json entries it references")
        bundled["$defs"] = dict(sorted(reached.items()))
        with open(os.path.join(HERE, "kubernetes", kind + ".json"), "w") as f:
            json.dump(bundled, f, indent=None, separators=(",", ":"), sort_keys=True)
            f.write("\n")


def envoy():
    files = {}

    def add(file_descriptor):
        if file_descriptor.name in files:
            return
        for dependency in file_descriptor.dependencies:
            add(dependency)
        proto = descriptor_pb2.FileDescriptorProto()
        file_descriptor.CopyToProto(proto)
        files[file_descriptor.name] = proto

    for module in ENVOY_MODULES:
        add(importlib.import_module(module).DESCRIPTOR)
    descriptor_set = descriptor_pb2.FileDescriptorSet(file=list(files.values()))
    with open(os.path.join(HERE, "envoy", "envoy-api.binpb"), "wb") as f:
        f.write(descriptor_set.SerializeToString(deterministic=True))


if __name__ == "__main__":
    kubernetes()
    envoy()
