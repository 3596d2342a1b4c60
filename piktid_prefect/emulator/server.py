"""Running the emulator: in a thread (:class:`EmulatorServer`) or blocking (:func:`serve`)."""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from types import TracebackType

import uvicorn

from piktid_prefect.emulator.app import build_app
from piktid_prefect.emulator.config import EmulatorConfig, FaultConfig
from piktid_prefect.emulator.engine import EmulatorEngine
from piktid_prefect.emulator.faults import DroppedConnection
from piktid_prefect.emulator.stats import EmulatorStats

__all__ = ["EmulatorAccount", "EmulatorServer", "serve"]

_START_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class EmulatorAccount:
    """A logged-in emulator account (its access token works at once)."""

    email: str
    password: str
    access_token: str
    base_url: str
    refresh_token: str = ""


class _HideDroppedConnections(logging.Filter):
    # Dropped connections are deliberate; uvicorn would log each as an ASGI crash.
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], DroppedConnection))


def _uvicorn_config(engine: EmulatorEngine, host: str, port: int, log_level: str) -> uvicorn.Config:
    logging.getLogger("uvicorn.error").addFilter(_HideDroppedConnections())
    return uvicorn.Config(
        build_app(engine),
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )


class EmulatorServer:
    """The emulator on a free loopback port, served by uvicorn in a background thread.

    Example:
        ```python
        with EmulatorServer(EmulatorConfig(time_scale=0.01)) as emulator:
            account = emulator.create_account(credits=100)
            httpx.get(f"{emulator.base_url}/me",
                      headers={"Authorization": f"Bearer {account.access_token}"})
        ```

    Args:
        config: The configuration (defaults: real-time latencies, no faults).
        host: Loopback address to bind.
        port: Port to bind; 0 picks a free one.
    """

    def __init__(
        self, config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.engine = EmulatorEngine(config or EmulatorConfig())
        self._host = host
        self._requested_port = port
        self._port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def config(self) -> EmulatorConfig:
        """The live configuration (latencies may be edited; use :meth:`set_faults` for faults)."""
        return self.engine.config

    @property
    def port(self) -> int:
        """The bound port."""
        return self._port

    @property
    def root_url(self) -> str:
        """``http://HOST:PORT`` (result files live under ``/files``)."""
        return f"http://{self._host}:{self._port}"

    @property
    def base_url(self) -> str:
        """The API base URL, ``http://HOST:PORT/api``."""
        return f"{self.root_url}/api"

    def start(self) -> EmulatorServer:
        """Bind, start serving and return once requests are accepted."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._requested_port))
        self._port = sock.getsockname()[1]
        config = _uvicorn_config(self.engine, self._host, self._port, "warning")
        self._server = uvicorn.Server(config)
        self.engine.start()
        server = self._server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="piktid-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("The PiktID emulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and stop the scheduler."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.engine.stop()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def create_account(
        self, credits: float = 10_000, *, email: str | None = None, password: str | None = None
    ) -> EmulatorAccount:
        """Create an isolated account and log it in.

        Args:
            credits: Starting balance (fractions allowed, as SuperID charges them).
            email: Defaults to a fresh random address.
            password: Defaults to a random password.
        """
        email = email or f"user-{secrets.token_hex(6)}@piktid.local"
        password = password or secrets.token_urlsafe(12)
        accounts = self.engine.accounts
        accounts.create(email, password, credits)
        tokens = accounts.login(email, password)
        return EmulatorAccount(
            email=email,
            password=password,
            access_token=tokens["access_token"],
            base_url=self.base_url,
            refresh_token=tokens["refresh_token"],
        )

    def stats(self, email: str | None = None) -> EmulatorStats:
        """Counters so far, for every account or only ``email``."""
        self.engine.store.purge()
        return self.engine.recorder.snapshot(email)

    def set_faults(self, faults: FaultConfig) -> None:
        """Replace the injected faults (their RNG restarts from ``faults.seed``)."""
        self.engine.set_faults(faults)

    def advance(self, seconds: float) -> None:
        """Jump the virtual clock forward by ``seconds`` API-seconds."""
        self.engine.clock.advance(seconds)

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every generation due by now has been notified (or ``timeout``)."""
        return self.engine.drain(timeout)

    def expire_access_token(self, token: str) -> None:
        """Make ``token`` expired: its next use answers 401."""
        if not self.engine.accounts.expire_access(token):
            raise KeyError("Unknown access token")


def serve(host: str = "127.0.0.1", port: int = 8765, config: EmulatorConfig | None = None) -> None:
    """Serve the emulator in the foreground until interrupted (Ctrl-C).

    Args:
        host: Address to bind.
        port: Port to bind.
        config: The configuration (defaults: real-time latencies, no faults).
    """
    config = config or EmulatorConfig()
    engine = EmulatorEngine(config)
    engine.start()
    # The user needs to know where to point the client.
    print(
        f"PiktID emulator on http://{host}:{port}/api "
        f"(demo account {config.demo_email} / {config.demo_password}, "
        f"time_scale={config.time_scale:g})",
        flush=True,
    )
    try:
        uvicorn.Server(_uvicorn_config(engine, host, port, "info")).run()
    finally:
        engine.stop()
