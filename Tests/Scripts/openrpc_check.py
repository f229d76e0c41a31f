"""Checks an OpenRPC 1.2.6 document with an independent JSON Schema library.

usage: openrpc_check.py DOCUMENT.json [SAMPLES.json]

DOCUMENT is what GET /api/rpc/discover served. The structure the OpenRPC
specification requires is checked (openrpc, info.title/version, unique
method names, content descriptors with name and schema, results on
requests), every schema in it must be a valid JSON Schema (draft 7, the
version OpenRPC uses), and every $ref must resolve. SAMPLES maps a method
name to results the server really answered: each must validate against that
method's published result schema. Prints one line per problem; exit 1 on any.
"""
import json
import sys

import jsonschema

problems = []


def problem(text):
    problems.append(text)


def walk_refs(node, doc, where):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            if not ref.startswith("#/"):
                problem(f"{where}: external $ref {ref}")
            else:
                target = doc
                for part in ref[2:].split("/"):
                    if not isinstance(target, dict) or part not in target:
                        problem(f"{where}: $ref {ref} does not resolve")
                        break
                    target = target[part]
        for k, v in node.items():
            walk_refs(v, doc, f"{where}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk_refs(v, doc, f"{where}/{i}")


def check_schema(schema, where):
    try:
        jsonschema.Draft7Validator.check_schema(schema)
    except jsonschema.exceptions.SchemaError as e:
        problem(f"{where}: not a JSON Schema: {e.message}")


def main():
    doc = json.load(open(sys.argv[1]))
    samples = json.load(open(sys.argv[2])) if len(sys.argv) > 2 else {}
    if doc.get("openrpc") != "1.2.6":
        problem(f"openrpc is {doc.get('openrpc')!r}, not 1.2.6")
    info = doc.get("info", {})
    for key in ("title", "version"):
        if not isinstance(info.get(key), str):
            problem(f"info.{key} is missing")
    names = set()
    for m in doc.get("methods", []):
        name = m.get("name")
        if not isinstance(name, str) or not name:
            problem(f"a method has no name: {m}")
            continue
        if name in names:
            problem(f"method {name} is listed twice")
        names.add(name)
        if m.get("paramStructure", "by-position") not in ("by-position", "by-name", "either"):
            problem(f"{name}: paramStructure {m.get('paramStructure')}")
        params = m.get("params")
        if not isinstance(params, list):
            problem(f"{name}: params is not a list")
            params = []
        seen = set()
        for p in params:
            if not isinstance(p.get("name"), str) or "schema" not in p:
                problem(f"{name}: a param lacks name or schema: {p}")
                continue
            if p["name"] in seen:
                problem(f"{name}: param {p['name']} twice")
            seen.add(p["name"])
            check_schema(p["schema"], f"{name}.params.{p['name']}")
        direction = m.get("x-openagents-direction")
        if direction is None:
            result = m.get("result")
            if not isinstance(result, dict) or "schema" not in result or "name" not in result:
                problem(f"{name}: a request needs a result content descriptor")
            else:
                check_schema(result["schema"], f"{name}.result")
        elif "result" in m:
            problem(f"{name}: a notification has no result")
    for key, schema in doc.get("components", {}).get("schemas", {}).items():
        check_schema(schema, f"components.schemas.{key}")
    for key, error in doc.get("components", {}).get("errors", {}).items():
        if not isinstance(error.get("code"), int) or not isinstance(error.get("message"), str):
            problem(f"components.errors.{key} needs an integer code and a message")
    walk_refs(doc, doc, "#")
    by_name = {m.get("name"): m for m in doc.get("methods", [])}
    for method, results in samples.items():
        m = by_name.get(method)
        if m is None or "result" not in m:
            problem(f"sample for {method}, which has no result in the document")
            continue
        schema = dict(m["result"]["schema"])
        schema["components"] = doc.get("components", {})
        validator = jsonschema.Draft7Validator(schema)
        for i, r in enumerate(results):
            for e in validator.iter_errors(r):
                problem(f"{method} result {i} does not match its schema at {list(e.absolute_path)}: {e.message}")
    for p in problems:
        print(p)
    print(f"{len(names)} methods, {len(problems)} problems")
    sys.exit(1 if problems else 0)


main()
