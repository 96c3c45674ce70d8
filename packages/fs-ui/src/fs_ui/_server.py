"""Run the app: uvicorn on a socket bound to 127.0.0.1 (a free port unless one is given), in this thread or in a
background thread (:class:`Server`, for tests and embedding)."""

from __future__ import annotations

import socket
import threading
import time
import webbrowser
from typing import Any

import uvicorn

from fs_ui._app import create_app
from fs_ui._config import UiConfig
from fs_ui.errors import UiError

__all__ = ["Server", "serve"]


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UiError(f"{host}:{port}: cannot listen there ({exc.strerror})") from None
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


class Server:
    """The UI on a bound socket: :attr:`url` (with the token), :meth:`run` (blocks), :meth:`start` / :meth:`stop`.

    Args:
        config: what the session may touch, and its token.
        host: the interface (``127.0.0.1`` unless you mean to expose it).
        port: 0 picks a free port.
    """

    def __init__(self, config: UiConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self.sock = _bind(host, port)
        bound = self.sock.getsockname()
        shown = f"[{host}]" if ":" in host else host
        self.base = f"http://{shown}:{bound[1]}"
        self.url = f"{self.base}/?token={config.token}"
        cfg = uvicorn.Config(create_app(config), log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(cfg)
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        """Serve until interrupted (Ctrl-C)."""
        self._server.run(sockets=[self.sock])

    def start(self) -> Server:
        """Serve from a background thread; returns once it accepts connections."""
        self._thread = threading.Thread(target=self.run, name="fs-ui-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise UiError(f"{self.base}: the server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop a server started with :meth:`start`."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.sock.close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve(config: UiConfig, *, host: str = "127.0.0.1", port: int = 0, open_browser: bool = True,
          on_ready: Any = None) -> None:  # fmt: skip
    """Serve the UI until interrupted; ``on_ready(url)`` is called with the URL (token included) first, then the
    browser is opened on it unless ``open_browser`` is false."""
    server = Server(config, host, port)
    if on_ready is not None:
        on_ready(server.url)
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(server.url,)).start()
    server.run()
