#!/usr/bin/env python3
"""Follow a Khala topic over the WebSocket lane and print each frame.

usage: khala-follow.py TOPIC [AFTER_SEQ]   (SYNC_TOKEN in the environment,
       OA_RUNTIME_URL defaults to http://127.0.0.1:4100)

Needs the `websockets` package (scripts/test-tools.sh installs it into
.venv-test). Resume after a disconnect by passing the last sequence printed.
"""
import asyncio
import json
import os
import sys

import websockets


async def follow(topic: str, after: int) -> None:
    base = os.environ.get("OA_RUNTIME_URL", "http://127.0.0.1:4100").replace("http", "ws", 1)
    url = f"{base}/internal/v1/khala/topics/{topic}/ws?after_seq={after}"
    headers = {"Authorization": "Bearer " + os.environ["SYNC_TOKEN"]}
    async with websockets.connect(url, additional_headers=headers) as ws:
        async for text in ws:
            frame = json.loads(text)
            if frame["type"] == "message":
                m = frame["message"]
                print(f'{m["sequence"]} {m["kind"]}', flush=True)
            else:
                print(json.dumps(frame), flush=True)


asyncio.run(follow(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0))
