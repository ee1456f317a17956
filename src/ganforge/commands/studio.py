"""``ganforge studio``: a local web app over a runs folder (watch training, compare runs, explore models).

Every flag is checked, the folder looked at and the port bound before the server starts, so a typo, a
missing folder or a port in use is one line and exit 2. The work is ``ganforge.studio.app.create_app``
served by uvicorn on a socket bound here; Ctrl-C (or SIGTERM) stops it cleanly with exit 0.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import re
import secrets
import socket
import sys

from ganforge.args import bounded_int, path_text
from ganforge.errors import GanforgeError

DEFAULT_PORT = 7860
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
DEVICES_HELP = "cpu (default), cuda, cuda:N or auto: where Explore computes its images"


def register(sub) -> argparse.ArgumentParser:
    s = sub.add_parser("studio", help="web app: watch runs train, compare them, explore generators")
    s.add_argument("runs_dir", nargs="?", default="runs", type=path_text("RUNS_DIR"),
                   help="folder of run directories, as `ganforge train --out` makes it (default: runs)")
    s.add_argument("--port", type=bounded_int("--port", 0, 65535), default=DEFAULT_PORT,
                   help=f"TCP port (default {DEFAULT_PORT}; 0: any free port)")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only). Any other address "
                        "needs a token: one is generated and printed in the URL unless --token is given")
    s.add_argument("--token", default=None,
                   help="the token every request must carry (16-128 letters, digits, - or _); "
                        "default: none on loopback, a random one otherwise")
    s.add_argument("--device", default="cpu", help=DEVICES_HELP)
    s.set_defaults(func=run)
    return s


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str) -> str:
    """``host`` if it is an IP address or ``localhost`` (a name would be resolved by the system and could
    mean any interface)."""
    if host == "localhost":
        return host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise GanforgeError(f"--host {host[:80]!r}: expected an IP address such as 127.0.0.1 (this machine "
                            "only), 0.0.0.0 (every IPv4 interface) or ::1, or localhost") from None
    return host


def check_token(token: str | None, host: str) -> tuple[str | None, bool]:
    """The token to require (None: none) and whether it was generated here."""
    if token is not None:
        if not TOKEN_RE.match(token):
            raise GanforgeError(f"--token {token[:20]!r}...: expected 16 to 128 letters, digits, '-' or '_'")
        return token, False
    if is_loopback(host):
        return None, False
    return secrets.token_urlsafe(24), True


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or one clear error (port in use, address not of this machine)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as e:
        sock.close()
        why = "is in use (another studio?); choose another with --port, or --port 0 for any free one" \
            if e.errno == errno.EADDRINUSE else f"cannot be opened: {e.strerror or e}"
        raise GanforgeError(f"port {port} on {host} {why}") from None
    sock.set_inheritable(True)
    return sock


def url_of(host: str, port: int, token: str | None) -> str:
    shown = socket.gethostname() if host in ("0.0.0.0", "::") else (f"[{host}]" if ":" in host else host)
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ganforge.devices import resolve_device

    host = check_host(args.host)
    token, generated = check_token(args.token, host)
    root = Path(args.runs_dir)
    if not root.is_dir():
        raise GanforgeError(f"RUNS_DIR {str(root)!r} is not a folder; give the folder `ganforge train --out` "
                            "wrote its runs into (default: runs)")
    device = resolve_device(args.device, "--device")
    try:
        import uvicorn  # noqa: F401
        import starlette  # noqa: F401
    except ImportError:
        raise GanforgeError("ganforge studio needs its web packages: pip install 'ganforge[studio]'") from None
    from ganforge.studio.app import create_app

    app = create_app(root, str(device), token=token)
    sock = bind(host, args.port)
    port = sock.getsockname()[1]
    if not is_loopback(host):
        print(f"ganforge: warning: the studio listens on {host}, reachable from other machines; every request "
              f"needs the token{' generated for this session' if generated else ''}. Anyone with the URL can "
              "see the runs and use the device.", file=sys.stderr)
    print(f"ganforge studio: {root.resolve()} on {device}", flush=True)
    print(f"open {url_of(host, port, token)}   (Ctrl-C stops it)", flush=True)
    serve(app, sock)
    print("ganforge studio: stopped", flush=True)
    return 0


class _Stop(Exception):
    """SIGTERM, raised again by uvicorn after its graceful shutdown."""


def _on_sigterm(signum, frame):
    raise _Stop


def serve(app, sock: socket.socket) -> None:
    """uvicorn on the bound ``sock`` until Ctrl-C / SIGTERM. uvicorn shuts down gracefully (open requests
    get 5 s) and then raises the signal it caught again, to the handler that was there before it: a
    KeyboardInterrupt for Ctrl-C, ``_Stop`` for SIGTERM; both are the normal end of the studio."""
    import signal

    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        server.run(sockets=[sock])
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
