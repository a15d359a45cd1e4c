"""Run the health API with uvicorn until SIGINT or SIGTERM: the socket is bound first (a port in use is one line,
exit 5), uvicorn's own signal handling is replaced by aladia's (a graceful stop, then "stopped: signal")."""

from __future__ import annotations

import contextlib
import errno
import re
import socket
import threading
from pathlib import Path

from aladia_etl.core.errors import ConfigError, PortInUse, UsageError
from aladia_etl.core.settings import Settings
from aladia_etl.core.signals import stop_on_signals

_HOST = re.compile(r"[A-Za-z0-9._-]{1,253}|\[?[0-9A-Fa-f:.]+\]?")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or a one-line error."""
    if not _HOST.fullmatch(host):
        raise UsageError(f"--host: {host!r} is not a host name or IP address", "use an address such as 127.0.0.1")
    host = host.strip("[]")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"--host: cannot resolve {host!r} ({exc})", "use an address such as 127.0.0.1") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"cannot serve: port {port} on {host} is already in use",
                "stop the process that holds it, or choose another port with --port",
            ) from None
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}", "choose another --host or --port"
        ) from None
    sock.set_inheritable(True)
    return sock


def is_loopback(sock: socket.socket) -> bool:
    """Whether the bound socket listens on a loopback address only."""
    import ipaddress

    address = ipaddress.ip_address(sock.getsockname()[0].split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def check_exposure(sock: socket.socket, host: str, token: str | None, insecure: bool) -> None:
    """A health API reachable from other machines needs a token (or an explicit --insecure)."""
    if token is None and not insecure and not is_loopback(sock):
        raise ConfigError(
            f"refusing to serve the health API on {host} without a token: anyone who reaches the port could read it",
            "set ALADIA_SERVE__TOKEN (or ALADIA_SERVE__TOKEN_FILE), serve on 127.0.0.1, or pass --insecure",
        )


def check_tls(certfile: Path | None, keyfile: Path | None) -> None:
    if (certfile is None) != (keyfile is None):
        raise UsageError("--certfile and --keyfile go together", "give both, or neither")
    for option, path in (("--certfile", certfile), ("--keyfile", keyfile)):
        if path is not None and not path.is_file():
            raise UsageError(f"{option}: {path} is not a readable file", f"check the path given to {option}")


def make_server(
    app, sock: socket.socket, stop: threading.Event, certfile: Path | None = None, keyfile: Path | None = None
):
    """A uvicorn server that serves `app` on `sock` (over TLS with a certificate and key) and stops when `stop` is
    set."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):  # aladia's handlers set `stop`; uvicorn must not re-raise the signal afterwards
            yield

        async def on_tick(self, counter: int) -> bool:
            if stop.is_set():
                self.should_exit = True
            return await super().on_tick(counter)

    tls = certfile is not None and keyfile is not None
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
        ssl_certfile=str(certfile) if tls else None,
        ssl_keyfile=str(keyfile) if tls else None,
    )
    server = Server(config)
    return server


def serve(
    settings: Settings,
    host: str,
    port: int,
    stop: threading.Event | None = None,
    on_ready=None,
    *,
    insecure: bool = False,
    certfile: Path | None = None,
    keyfile: Path | None = None,
) -> str:
    """Serve until a signal (or `stop`); returns why it stopped. With `settings.serve.token`, every endpoint but
    /health requires it; without one, only a loopback address is served unless `insecure`."""
    from aladia_etl.serve.app import create_app
    from aladia_etl.serve.observe import Observer

    check_tls(certfile, keyfile)
    token = settings.serve.token.get_secret_value() if settings.serve.token else None
    stop = stop or threading.Event()
    sock = bind(host, port)
    try:
        check_exposure(sock, host, token, insecure)
        observer = Observer(settings)
    except BaseException:
        sock.close()
        raise
    try:
        server = make_server(create_app(observer, token), sock, stop, certfile, keyfile)
        shown = f"[{host}]" if ":" in host else host
        if on_ready is not None:
            on_ready(f"{'https' if certfile else 'http'}://{shown}:{sock.getsockname()[1]}/")
        with stop_on_signals(stop):
            server.run(sockets=[sock])
    finally:
        observer.close()
        sock.close()
    return "signal"
