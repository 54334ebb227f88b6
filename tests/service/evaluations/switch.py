"""A system under test whose behaviour a test switches after registering it."""

from __future__ import annotations

import asyncio
import contextlib


class Switch:
    """An ASGI app that forwards each request to ``self.app``: a system registers
    while it is well-behaved, then ``switch.app = system_app(mode=...)`` makes it
    misbehave (registration would refuse a system that times out or answers garbage).

    A request whose client hangs up is cancelled, as a server with a request
    timeout would drop it: a ``timeout``-mode answer (30 s) must not keep the test
    server from stopping."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        hung_up = asyncio.Event()
        request = {"type": "http.request", "body": b"".join(body), "more_body": False}
        delivered = False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return request
            await hung_up.wait()
            return {"type": "http.disconnect"}

        handler = asyncio.create_task(self.app(scope, replay, send))
        watcher = asyncio.create_task(receive())
        done, _ = await asyncio.wait({handler, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if handler in done:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            handler.result()
            return
        hung_up.set()
        handler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await handler
