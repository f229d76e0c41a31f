#!/usr/bin/env python3
"""Golden run logs for RunArtifactGoldenTests, with an independent oracle.

Writes, for each case, `<name>.events.jsonl` (the event log format:
{"crc":<CRC-32 of the record bytes, 8 hex>,"record":<RuntimeLogRecord proto3 JSON>}, or in the
first format {"sum":<first 8 bytes of sha256(record) as hex>,...}, which is still read)
and either the expected artifacts computed here from reference-system.md 2.4
(`<name>.receipt.json`, `<name>.replay.jsonl`) or the expected rejection
(`<name>.error.txt`). This script shares no code with the Swift side: the
receipt and replay rules are written out again below, from the spec.
Canonical JSON is json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False).

Run from this directory: python3 make_runs.py
"""
import hashlib
import zlib
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def canon(v):
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha(v):
    return hashlib.sha256(canon(v).encode()).hexdigest()


def ts(n):
    """A timestamp n milliseconds (plus some microseconds) into 2026-02-23T10:00:00Z."""
    sec, ms = divmod(n, 1000)
    micros = ms * 1000 + 250 if n % 3 else ms * 1000
    frac = "" if micros == 0 else (".%03d" % (micros // 1000) if micros % 1000 == 0 else ".%06d" % micros)
    return "2026-02-23T10:%02d:%02d%sZ" % (sec // 60, sec % 60, frac)


STATUS = {"created": 1, "running": 2, "canceling": 3, "canceled": 4, "succeeded": 5, "failed": 6}


class Run:
    def __init__(self, run_id, metadata=None, t=0, create=True, legacy=False):
        self.legacy = legacy
        self.run_id, self.metadata, self.created = run_id, metadata, ts(t)
        self.events = []
        self.status = "created"
        self.lsn = 0
        self.lines = []
        run = {"runId": run_id, "status": "RUNTIME_RUN_STATUS_CREATED", "createdAt": self.created, "updatedAt": self.created}
        if metadata is not None:
            run["metadata"] = metadata
        if create:
            self.log({"runCreated": run}, self.created)
        self.event("run.started", {"source": "runtime"}, t=t)

    def log(self, entry, at):
        self.lsn += 1
        record = dict(entry, lsn=str(self.lsn), recordedAt=at)
        body = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()
        if self.legacy:
            self.lines.append(b'{"sum":"' + hashlib.sha256(body).hexdigest()[:16].encode() + b'","record":' + body + b"}\n")
        else:
            self.lines.append(b'{"crc":"%08x","record":' % (zlib.crc32(body) & 0xFFFFFFFF) + body + b"}\n")

    def event(self, event_type, payload=None, key="", t=None, seq=None):
        at = ts(t if t is not None else 100 * (len(self.events) + 1))
        seq = seq if seq is not None else len(self.events) + 1
        e = {"runId": self.run_id, "seq": str(seq), "eventType": event_type, "emittedAt": at}
        if payload is not None:
            e["payloadJson"] = payload
        if key:
            e["idempotencyKey"] = key
        self.log({"runEvent": e}, at)
        self.events.append({"seq": seq, "event_type": event_type, "payload": payload, "key": key or None, "t": at})
        if event_type == "run.started" and self.status == "created":
            self.status = "running"
        elif event_type == "run.cancel_requested":
            self.status = "canceling"
        elif event_type == "run.finished":
            self.status = {"cancelled": "canceled"}.get(payload["status"], payload["status"])

    # --- the artifacts, from reference-system.md 2.4 ---------------------------------

    def policy(self):
        return (self.metadata or {}).get("policy_bundle_id") or "runtime.default"

    def trajectory(self):
        return "sha256:" + sha([{"seq": e["seq"], "event_type": e["event_type"], "payload": e["payload"],
                                 "idempotency_key": e["key"], "recorded_at": e["t"]} for e in self.events])

    def tool(self, e):
        p = e["payload"]
        if not isinstance(p, dict) or not p.get("tool"):
            raise ValueError("event seq %d (tool) needs payload.tool" % e["seq"])
        return {"tool": p["tool"], "params": p.get("params"),
                "params_hash": p.get("params_hash") or "sha256:" + sha(p.get("params")),
                "output_hash": p.get("output_hash") or "sha256:unknown", "latency_ms": p.get("latency_ms", 0),
                "side_effects": [s for s in p.get("side_effects", []) if isinstance(s, str)],
                "exit_code": p.get("exit_code"), "step_utility": p.get("step_utility", 0),
                "id": e["key"] or "runtime.seq:%d" % e["seq"], "step_id": p.get("step_id")}

    def receipt(self):
        trajectory, policy = self.trajectory(), self.policy()
        tools, verification, payments = [], [], []
        metrics = {"tool_calls": 0, "tool_latency_ms_total": 0, "payments_msats_total": 0}
        for e in self.events:
            p = e["payload"]
            if e["event_type"] == "tool":
                c = self.tool(e)
                tools.append({k: c[k] for k in ("tool", "params_hash", "output_hash", "latency_ms", "side_effects")})
                metrics["tool_calls"] += 1
                metrics["tool_latency_ms_total"] += c["latency_ms"]
            elif e["event_type"] == "verification":
                v = {"command": p["command"], "exit_code": p.get("exit_code", -1)}
                for k in ("cwd", "duration_ms"):
                    if k in p:
                        v[k] = p[k]
                verification.append(v)
                metrics["verification_passed"] = metrics.get("verification_passed", True) and v["exit_code"] == 0
            elif e["event_type"] == "payment":
                pay = {"schema": "openagents.treasury.payment_receipt.v1", "rail": p["rail"], "asset_id": p["asset_id"],
                       "amount_msats": p["amount_msats"], "payment_proof": p["payment_proof"], "session_id": self.run_id,
                       "trajectory_hash": trajectory, "policy_bundle_id": policy, "status": p.get("status", "released")}
                if "job_hash" in p:
                    pay["job_hash"] = p["job_hash"]
                pay["canonical_json_sha256"] = sha(pay)
                payments.append(pay)
                metrics["payments_msats_total"] += p["amount_msats"]
        r = {"schema": "openagents.receipt.v1", "session_id": self.run_id, "trajectory_hash": trajectory,
             "policy_bundle_id": policy, "created_at": self.created, "event_count": len(self.events),
             "first_seq": self.events[0]["seq"] if self.events else 0, "last_seq": self.events[-1]["seq"] if self.events else 0,
             "metrics": metrics, "tool_calls": tools, "verification": verification, "payments": payments}
        r["canonical_json_sha256"] = sha(r)
        return canon(r).encode()

    def replay(self):
        out = []

        def line(tag, **fields):
            out.append(canon(dict(fields, event=tag)))
        line("ReplayHeader", replay_version=1, producer="openagents-runtime", created_at=self.created)
        line("SessionStart", t=self.created, session_id=self.run_id, issue_number=None, policy_bundle_id=self.policy())
        calls = latency = 0
        for e in self.events:
            p, t = e["payload"], e["t"]
            if e["event_type"] == "tool" and isinstance(p, dict):
                c = self.tool(e)
                calls += 1
                latency += c["latency_ms"]
                line("ToolCall", t=t, id=c["id"], tool=c["tool"], params=c["params"], params_hash=c["params_hash"], step_id=c["step_id"] or c["id"])
                result = dict(t=t, id=c["id"], output_hash=c["output_hash"], step_utility=c["step_utility"], latency_ms=c["latency_ms"])
                if c["exit_code"] is not None:
                    result["exit_code"] = c["exit_code"]
                line("ToolResult", **result)
            elif e["event_type"] == "verification" and isinstance(p, dict):
                line("Verification", t=t, commands=[p["command"]], exit_codes=[p.get("exit_code", -1)], verification_delta=p.get("verification_delta", 0))
            elif e["event_type"] == "payment" and isinstance(p, dict):
                line("Payment", t=t, rail=p["rail"], asset_id=p["asset_id"], amount_msats=p["amount_msats"],
                     payment_proof=p["payment_proof"], job_hash=p.get("job_hash"), status=p.get("status", "released"))
            else:
                line("RuntimeEvent", t=t, session_id=self.run_id, seq=e["seq"], runtime_event_type=e["event_type"],
                     payload_hash="sha256:" + sha(p), payload=p, idempotency_key=e["key"])
        status, confidence = {"succeeded": ("success", 1), "failed": ("failure", 0), "canceled": ("cancelled", 0)}.get(self.status, ("success", 0.5))
        line("SessionEnd", t=self.events[-1]["t"] if self.events else self.created, status=status, confidence=confidence,
             total_tool_calls=calls, total_latency_ms=latency)
        return ("\n".join(out) + "\n").encode()


def write(name, run, log=None, error=None, artifacts=True):
    with open(os.path.join(HERE, name + ".events.jsonl"), "wb") as f:
        f.write(log if log is not None else b"".join(run.lines))
    for suffix in (".receipt.json", ".replay.jsonl", ".error.txt"):
        path = os.path.join(HERE, name + suffix)
        if os.path.exists(path):
            os.remove(path)
    if error:
        with open(os.path.join(HERE, name + ".error.txt"), "w") as f:
            f.write(error + "\n")
    elif artifacts:
        with open(os.path.join(HERE, name + ".receipt.json"), "wb") as f:
            f.write(run.receipt())
        with open(os.path.join(HERE, name + ".replay.jsonl"), "wb") as f:
            f.write(run.replay())


# A run still going: default policy bundle, the 0.5-confidence SessionEnd quirk.
r = Run("00000000-0000-7000-8000-000000000001")
r.event("text.delta", {"delta": "hello"})
write("running_minimal", r)

# Tools (computed and given hashes, idempotency keys as ids), verifications (one failing),
# a free-form event with escapes and non-ASCII, run.finished succeeded.
r = Run("00000000-0000-7000-8000-000000000002", metadata={"policy_bundle_id": "bundle.2026-02", "zeta": [1, 2], "alpha": {"b": True, "a": None}})
r.event("tool", {"tool": "repo.read", "params": {"path": "README.md", "lines": [1, 20], "Zed": "é", "ä": 1}, "latency_ms": 14}, key="call-1")
r.event("tool", {"tool": "shell.exec", "params": {"cmd": "swift test"}, "params_hash": "sha256:given", "output_hash": "sha256:out",
                 "latency_ms": 2300, "side_effects": ["fs.write", 7, "net"], "exit_code": 1, "step_utility": 0.25, "step_id": "step-2"})
r.event("verification", {"command": "swift build", "exit_code": 0, "cwd": "/repo", "duration_ms": 900, "verification_delta": 1})
r.event("verification", {"command": "swift test", "exit_code": 2})
r.event("note", {"text": "quote \" backslash \\ tab \t newline \n control \u0001 snowman \u2603", "n": -3.5})
r.event("note", None, key="bare")
r.event("run.finished", {"status": "succeeded", "reason": "done"})
write("succeeded_with_tools", r)

# A payment recorded by the treasury, a cancel request, then the run is canceled.
r = Run("00000000-0000-7000-8000-000000000003", metadata={"policy_bundle_id": ""})
r.event("payment", {"rail": "lightning", "asset_id": "BTC_LN", "amount_msats": 21000, "payment_proof": "preimage:ab", "job_hash": "sha256:job"})
r.event("payment", {"rail": "lightning", "asset_id": "BTC_LN", "amount_msats": 1000, "payment_proof": "preimage:cd", "status": "refunded"})
r.event("run.cancel_requested", {"reason": "user"})
r.event("run.finished", {"status": "canceled"})
write("canceled_with_payments", r)

# A failed run whose last write was torn by a crash: the torn line is cut, the rest stands.
r = Run("00000000-0000-7000-8000-000000000004")
r.event("run.finished", {"status": "failed"})
torn = b"".join(r.lines) + b'{"crc":"01234567","record":{"lsn":"4","recordedAt":"2026-02-23T10:00:01Z","runEv'
write("failed_torn_tail", r, log=torn)

# A log in the first line format (SHA-256 prefix sums) still reads.
r = Run("00000000-0000-7000-8000-000000000009", legacy=True)
r.event("text.delta", {"delta": "legacy"}, key="k")
r.event("run.finished", {"status": "succeeded"})
write("legacy_sum_lines", r)

# --- logs that must be rejected --------------------------------------------------------

r = Run("00000000-0000-7000-8000-000000000005")
r.event("tool", {"params": {}})
write("tool_without_name", r, error="receipt: event seq 2 (tool) needs payload.tool")

r = Run("00000000-0000-7000-8000-000000000006")
r.event("text.delta", {"delta": "a"})
r.event("text.delta", {"delta": "b"})
lines = list(r.lines)
lines[2] = lines[2].replace(b'"delta":"a"', b'"delta":"A"')
write("damaged_mid_file", r, log=b"".join(lines), error="log: line 3: checksum")

r = Run("00000000-0000-7000-8000-000000000007")
r.event("text.delta", {"delta": "a"})
r.event("text.delta", {"delta": "c"}, seq=4)
write("sequence_gap", r, error="log: line 4: run 00000000-0000-7000-8000-000000000007 seq 4 does not follow 2")

orphan = Run("00000000-0000-7000-8000-000000000008", create=False)
write("event_for_unknown_run", orphan,
      error="log: line 1: event for unknown run 00000000-0000-7000-8000-000000000008")
