"""An independent RFC 6455 client (PyPI `websockets`) against our echo
endpoint: fragmented text, binary, ping/pong and the close handshake.
Prints `ok` and exits 0 when every exchange holds."""
import asyncio
import sys

import websockets


async def main(url: str) -> None:
    async with websockets.connect(url, max_size=None) as ws:
        # A text message sent as three fragments comes back whole.
        await ws.send(iter(["frag", "men", "ted"]))
        assert await ws.recv() == "fragmented"
        # Binary stays binary, bytes for bytes.
        blob = bytes(range(256)) * 300  # over 64 KiB: the 8-byte length form
        await ws.send(blob)
        got = await ws.recv()
        assert isinstance(got, bytes) and got == blob, "binary echo differs"
        # A ping is answered by a pong with the same payload.
        pong = await ws.ping(b"khala")
        await asyncio.wait_for(pong, 5)
        # Unicode text survives.
        await ws.send("héllo ✓")
        assert await ws.recv() == "héllo ✓"
        await ws.close(code=1000, reason="done")
    assert ws.close_code == 1000, f"close code {ws.close_code}"
    print("ok")


asyncio.run(main(sys.argv[1]))
