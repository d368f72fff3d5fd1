"""Run several ASGI apps with uvicorn on loopback sockets in one background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import uvicorn


def bind(port: int) -> socket.socket:
    """A listening TCP socket on 127.0.0.1 (port 0 = a free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # inherited by accepted sockets: without it, headers and body go out as two small writes and
    # Nagle plus the client's delayed ACK add ~40 ms to every answer
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class ServerThread:
    """uvicorn servers for (app, socket) pairs, served from one event loop in a daemon thread."""

    def __init__(self, pairs, certfile: str | None = None, keyfile: str | None = None):
        self.servers = []
        self.sockets = []
        for app, sock in pairs:
            config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", http="h11",
                                    timeout_graceful_shutdown=1, timeout_keep_alive=30,
                                    date_header=False,  # the services send their fleet's clock (web.py)
                                    ssl_certfile=certfile, ssl_keyfile=keyfile)
            self.servers.append(uvicorn.Server(config))
            self.sockets.append(sock)
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self, timeout: float = 10) -> None:
        """Start serving; return once every server listens."""
        self.thread = threading.Thread(target=self._run, name="mdmtui-sim", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not all(s.started for s in self.servers):
            if self.error or not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"simulator failed to start: {self.error!r}")
            time.sleep(0.01)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced to start()
            self.error = exc

    async def _serve(self) -> None:
        await asyncio.gather(*(srv.serve(sockets=[sock]) for srv, sock in zip(self.servers, self.sockets)))

    def stop(self) -> None:
        """Ask every server to exit and wait for the thread."""
        for srv in self.servers:
            srv.should_exit = True
        if self.thread:
            self.thread.join(timeout=10)
        for sock in self.sockets:
            sock.close()
