#!/usr/bin/env python3
"""Makes the JSON golden vectors in this folder with a reference implementation.

Reference: Python's `protobuf` package (PyPI, upb backend), json_format, on
dynamic messages built from the same descriptor set our generator reads.
For each sample (text format, below) it writes NAME.binpb (binary, the
sample itself) and NAME.json (json_format.MessageToJson, compact, default
options: JSON names, enum names, 64-bit integers as strings).

Usage (from the repository root): pip install protobuf && python3 Tests/Fixtures/json/make_vectors.py
Not a dependency of the product: the vectors are committed.
"""
import json
import os
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory, text_format

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

# (vector name, message type, proto root relative to ROOT, text-format sample, exact)
# exact: our canonical JSON text must equal the reference's byte for byte
# (samples without maps, so member order is fixed).
SAMPLES = [
    ("runtime_run", "openagents.runtime.v1.RuntimeRun", "proto", """
        run_id: "run_123" thread_id: "thread_abc" status: RUNTIME_RUN_STATUS_CANCELING
        owner_user_ref: "user_1" latest_seq: 18446744073709551615
        terminal_at { seconds: 1771416000 nanos: 120000000 } updated_at { seconds: -62135596800 }
        created_at { seconds: 253402300799 nanos: 999999999 }
    """, True),
    ("runtime_run_event", "openagents.runtime.v1.RuntimeRunEvent", "proto", """
        run_id: "run_1" seq: 7 event_type: "tool.result" emitted_at { seconds: 1 nanos: 1000 }
        tool_result { tool_call_id: "t1" tool_name: "grep" state: "ok" reason_code: REASON_CODE_SSRF_BLOCK_DNS_PIN_MISMATCH
          output { fields { key: "hits" value { list_value { values { number_value: 1 } values { string_value: "x" } values { null_value: NULL_VALUE } } } } } }
        idempotency_key: "idem"
    """, False),
    ("khala_frame", "openagents.sync.v1.KhalaFrame", "proto", r"""
        topic: "run:1:events" seq: 9 kind: KHALA_FRAME_KIND_ERROR payload_bytes: "{\"a\":1}\000\377\376" schema_version: 1
    """, True),
    ("telemetry", "openagents.sync.v1.ClientTelemetryEvent", "proto", """
        schema_version: "openagents.sync.client_telemetry.v1" event_id: "e" occurred_at_unix_ms: -9223372036854775808
        surface: CLIENT_SURFACE_IOS auth_failure { http_status: 401 reason_code: "token_expired" refresh_attempted: true }
    """, True),
    ("paywall_policy", "openagents.lightning.v1.ControlPlanePaywallPolicy", "proto", """
        paywall_id: "p" max_per_request_msats: 0 allowed_hosts: "a.example" quota_per_day: 0 kill_switch: true created_at_ms: -5
    """, True),
    ("revocation", "openagents.control.v1.SessionRevocationRequest", "proto", """
        revoke_all_sessions: false reason: SESSION_REVOCATION_REASON_TOKEN_REPLAY include_current: true
    """, True),
    ("all_types", "fixtures.v1.AllTypes", "Tests/Fixtures/proto", r"""
        f_double: -0.0 f_float: 0.1 f_int64: -9223372036854775808 f_uint64: 18446744073709551615 f_int32: -2147483648
        f_fixed64: 1 f_fixed32: 4294967295 f_bool: true f_string: "\"quoted\" \\ \n\t \001 \303\251 \360\237\231\202"
        f_bytes: "\000\001\373\377" f_uint32: 4294967295 f_sfixed32: -1 f_sfixed64: -1 f_sint32: 5 f_sint64: -5
        f_enum: COLOR_GREEN f_message { a: 1 b: [1, 2] c: "c" }
        o_int32: 0 o_string: "" o_enum: COLOR_UNSPECIFIED o_double: 1e+21
        r_double: [1.5, -1e-07, 123456789012] r_float: [3.4028235e+38, 1.17549435e-38] r_int64: [1, -1] r_uint64: [0]
        r_bool: [true, false] r_string: ["a", ""] r_bytes: ["\377\376"] r_enum: [COLOR_RED, COLOR_UNSPECIFIED]
        r_message { a: 2 } r_message { }
        c_int64: 0
        f_timestamp { seconds: 1 nanos: 500000 }
        f_aliased: ALIASED_ONE
    """, True),
    ("all_types_maps", "fixtures.v1.AllTypes", "Tests/Fixtures/proto", r"""
        m_string { key: "k" value: "v" } m_string { key: "" value: "empty key" }
        m_message { key: -1 value { a: 1 } } m_enum { key: true value: COLOR_RED } m_enum { key: false value: COLOR_GREEN }
        m_bytes { key: 9223372036854775807 value: "\377" } m_double { key: 4294967295 value: -0.5 }
        m_sint { key: -3 value: -3 } m_fixed { key: 0 value: true }
        f_struct { fields { key: "nested" value { struct_value { fields { key: "list" value { list_value { values { bool_value: true } } } } } } }
                   fields { key: "n" value { number_value: -1099511627776 } } }
        c_message { c: "oneof message" }
    """, False),
]


def descriptor_set(root, files):
    with tempfile.NamedTemporaryFile(suffix=".binpb") as out:
        subprocess.run(["protoc", "-I", root, "-I", "/usr/include", "--include_imports",
                        "--descriptor_set_out=" + out.name] + files, check=True)
        fds = descriptor_pb2.FileDescriptorSet()
        fds.ParseFromString(open(out.name, "rb").read())
        return fds


def main():
    pools = {}
    for _, _, root, _, _ in SAMPLES:
        if root in pools:
            continue
        abs_root = os.path.join(ROOT, root)
        files = sorted(os.path.relpath(os.path.join(d, f), abs_root)
                       for d, _, fs in os.walk(abs_root) for f in fs if f.endswith(".proto"))
        pool = descriptor_pool.DescriptorPool()
        for f in descriptor_set(abs_root, files).file:
            pool.Add(f)
        pools[root] = pool
    manifest = []
    for name, type_name, root, text, exact in SAMPLES:
        cls = message_factory.GetMessageClass(pools[root].FindMessageTypeByName(type_name))
        msg = text_format.Parse(text, cls())
        with open(os.path.join(HERE, name + ".binpb"), "wb") as f:
            f.write(msg.SerializeToString(deterministic=True))
        as_dict = json_format.MessageToDict(msg)
        with open(os.path.join(HERE, name + ".json"), "w", encoding="utf-8") as f:
            f.write(json.dumps(as_dict, separators=(",", ":"), ensure_ascii=False))
        manifest.append({"name": name, "type": type_name, "exact": exact})
    with open(os.path.join(HERE, "vectors.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print("wrote %d vectors" % len(manifest), file=sys.stderr)


if __name__ == "__main__":
    main()
