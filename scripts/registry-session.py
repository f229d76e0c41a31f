#!/usr/bin/env python3
"""A capability-registry session over the JSON-RPC WebSocket, start to stop.

usage: registry-session.py [AGENT_TYPE] [MESSAGE]
       (SESSION_TOKEN in the environment: `openagents token session --user-id you`;
        OA_CONTROL_URL defaults to http://127.0.0.1:8080)

Calls initialize and prints the runtime registry, starts a session on
AGENT_TYPE (codex by default), watches it, sends MESSAGE, stops it, and
prints every session/event the server pushed until the stop's event
arrived. Needs the `websockets` package (scripts/test-tools.sh installs it
into .venv-test). Exits 1 on any JSON-RPC error.
"""
import asyncio
import itertools
import json
import os
import sys

import websockets

ids = itertools.count(1)


async def call(ws, method, params=None, pushed=None):
    """Sends one request and waits for its answer; notifications on the way go to `pushed`."""
    mid = next(ids)
    await ws.send(json.dumps({"jsonrpc": "2.0", "id": mid, "method": method, "params": params or {}}))
    while True:
        message = json.loads(await ws.recv())
        if "method" in message:
            if pushed is not None:
                pushed.append(message["params"])
            continue
        if message.get("id") != mid:
            continue
        if "error" in message:
            sys.exit(f"{method}: {json.dumps(message['error'])}")
        return message["result"]


async def main(agent, text):
    base = os.environ.get("OA_CONTROL_URL", "http://127.0.0.1:8080").replace("http", "ws", 1)
    headers = {"Authorization": "Bearer " + os.environ["SESSION_TOKEN"]}
    async with websockets.connect(base + "/api/rpc/ws", additional_headers=headers) as ws:
        init = await call(ws, "initialize", {"clientInfo": {"name": "registry-session.py", "version": "1"}})
        await ws.send(json.dumps({"jsonrpc": "2.0", "method": "initialized"}))
        registry = init["capabilities"]["runtimeRegistry"]
        print("server:", init["serverInfo"]["name"], init["serverInfo"]["version"], "client:", init["clientId"])
        print("default runtime:", registry["defaultRuntime"])
        for r in registry["runtimes"]:
            print(f'  {r["id"]:8} {r["status"]:10} {r["displayName"]}')
        session = (await call(ws, "session/start", {"agent_type": agent, "workspace_id": "demo"}))["session_id"]
        print("session:", session)
        pushed = []
        watch = await call(ws, "workspace/session/watch", {"session_id": session, "after_seq": 0}, pushed)
        print("watching after seq", watch["after_seq"])
        sent = await call(ws, "session/send", {"agent_type": agent, "session_id": session, "text": text, "client_message_id": "m1"}, pushed)
        print("sent:", sent["client_message_id"], sent["status"])
        stopped = await call(ws, "session/stop", {"agent_type": agent, "session_id": session}, pushed)
        print("stopped:", stopped["status"])
        while not any(p["event"]["event_type"] == "run.cancel_requested" for p in pushed):
            message = json.loads(await ws.recv())
            if message.get("method") == "session/event":
                pushed.append(message["params"])
        for p in pushed:
            e = p["event"]
            print(f'event {e["seq"]} {e["event_type"]}')
        await call(ws, "shutdown")


asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "codex", sys.argv[2] if len(sys.argv) > 2 else "hello from the registry"))
