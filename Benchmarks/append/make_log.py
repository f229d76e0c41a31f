#!/usr/bin/env python3
"""Writes a valid event log with N run events over RUNS runs (default 64), round robin (start-up benchmark input).

Each line is {"crc":"<8 hex>","record":<record JSON>} with crc = CRC-32 (zlib) of
the record's exact bytes, as Sources/RuntimeCore/Storage/LogFile.swift reads it.
Usage: make_log.py N PATH [RUNS]
"""
import hashlib, json, sys, zlib

n, path = int(sys.argv[1]), sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 64
lsn = 0
with open(path, "w") as f:
    def write(record):
        body = json.dumps(record, separators=(",", ":"))
        f.write('{"crc":"%08x","record":%s}\n' % (zlib.crc32(body.encode()) & 0xFFFFFFFF, body))
    seqs = [0] * runs
    for r in range(runs):
        lsn += 1
        write({"lsn": str(lsn), "recordedAt": "2026-11-21T00:00:00Z",
               "runCreated": {"runId": "bench-run-%02d" % r, "status": "RUNTIME_RUN_STATUS_CREATED", "createdAt": "2026-11-21T00:00:00Z"}})
    for i in range(n):
        r = i % runs
        seqs[r] += 1
        lsn += 1
        event_type = "run.started" if seqs[r] == 1 else "tool.call"
        write({"lsn": str(lsn), "recordedAt": "2026-11-21T00:00:01Z",
               "runEvent": {"runId": "bench-run-%02d" % r, "seq": str(seqs[r]), "eventType": event_type, "emittedAt": "2026-11-21T00:00:01Z",
                            "payloadJson": {"tool": "search", "i": i}, "idempotencyKey": "k%d" % i}})
