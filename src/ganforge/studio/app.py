"""The studio's web application: routes over ``studio.runs`` (reading run folders), ``studio.explore``
(models and images) and ``studio.pages`` (the HTML shells; the pages draw themselves from the JSON API).

Starlette on uvicorn. Everything a page needs ships in ``studio/static``; the Content-Security-Policy
forbids fetching anything from elsewhere, so a page cannot leak what it shows to a third party.

Safety (docs/studio.md):
- files are served only from inside the runs folder (``studio.paths.safe_path``: no ``..``, no symbolic
  link pointing out) and only of the kinds a page shows or offers to download;
- with a token (required by ``ganforge studio`` for a host other than loopback) every request must carry
  it: ``?token=`` (a page then stores it in an http-only cookie), the cookie, or ``X-Ganforge-Token``;
- bound to loopback without a token, only the Host names of this machine are answered (a page of another
  site that rebinds its DNS name to 127.0.0.1 cannot read the runs);
- request bodies (uploads) are bounded before they are read whole; image requests queue boundedly.
"""

from __future__ import annotations

import hmac
import json
from pathlib import Path
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ganforge.errors import GanforgeError
from ganforge.studio import runs as runs_mod
from ganforge.studio.errors import StudioError, bad_request, forbidden, not_found
from ganforge.studio.explore import Explorer, MAX_UPLOAD_BYTES
from ganforge.studio.pages import page_html
from ganforge.studio.paths import safe_path

STATIC_DIR = Path(__file__).with_name("static")
COOKIE = "ganforge_token"
HEADER = "x-ganforge-token"

# What /files serves, by suffix (anything else in a run folder, checkpoints included, is refused).
SERVED_TYPES = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
    ".gif": "image/gif", ".json": "application/json", ".jsonl": "application/x-ndjson",
    ".csv": "text/csv", ".txt": "text/plain; charset=utf-8",
    ".safetensors": "application/octet-stream", ".mp4": "video/mp4",
}
# Files up to this size are read whole (a grid replaced meanwhile is then either the old or the new
# one, never a 500); larger ones (exports) are streamed.
READ_WHOLE_MAX = 32 * 1024 * 1024

CSP = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]", "::1")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class Guard:
    """ASGI middleware: the token, the Host check and the security headers of every response."""

    def __init__(self, app, *, token: str | None, loopback_only: bool):
        self.app, self.token, self.loopback_only = app, token, loopback_only

    def _host_ok(self, request: Request) -> bool:
        if not self.loopback_only:
            return True
        host = request.headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name in LOOPBACK_NAMES or host in LOOPBACK_NAMES or host == "testserver"

    def _token_ok(self, request: Request) -> tuple[bool, bool]:
        """(accepted, from the query string)."""
        if self.token is None:
            return True, False
        given = request.query_params.get("token")
        if given is not None and hmac.compare_digest(given.encode(), self.token.encode()):
            return True, True
        for value in (request.cookies.get(COOKIE), request.headers.get(HEADER)):
            if value is not None and hmac.compare_digest(value.encode(), self.token.encode()):
                return True, False
        return False, False

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        if not self._host_ok(request):
            response = _error(403, f"host {request.headers.get('host', '')!r} refused: the studio answers only "
                                   "127.0.0.1, localhost and [::1] when it runs without a token")
            return await response(scope, receive, send)
        ok, from_query = self._token_ok(request)
        if not ok:
            response = _error(403, "this studio needs its token: open the URL `ganforge studio` printed "
                                   "(it ends in ?token=...) or send the X-Ganforge-Token header")
            return await response(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")]
                if from_query:
                    headers.append((b"set-cookie", f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
                                    .encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(root: str | Path, device: str = "cpu", token: str | None = None, *,
               loopback_only: bool | None = None, max_models: int = 2, max_pending: int = 8) -> Starlette:
    """The studio over the runs folder ``root``. ``token``: required on every request when given.
    ``loopback_only`` (default: when there is no token): answer only requests addressed to this machine's
    loopback names. Images are computed on ``device`` by an ``Explorer`` (``max_models`` kept loaded,
    ``max_pending`` image requests queued at most)."""
    root = Path(root)
    explorer = Explorer(root, device, max_models=max_models, max_pending=max_pending)

    def page(kind: str, title: str):
        async def endpoint(request: Request) -> HTMLResponse:
            return HTMLResponse(page_html(kind, title))
        return endpoint

    async def api_runs(request: Request) -> JSONResponse:
        runs = await run_in_threadpool(runs_mod.list_runs, root)
        return JSONResponse({"root": str(root), "runs": runs})

    async def api_run(request: Request) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(runs_mod.run_detail, root, request.path_params["name"]))

    async def api_stats(request: Request) -> Response:
        name = request.path_params["name"]
        fmt = request.query_params.get("format", "table")
        if fmt not in ("table", "json", "csv"):
            raise bad_request(f"format={fmt[:40]!r}: expected table, json or csv")
        stem = name.replace("/", "-")
        if fmt == "csv":
            text = await run_in_threadpool(runs_mod.stats_csv, root, name)
            return Response(text, media_type="text/csv; charset=utf-8",
                            headers={"content-disposition": f'attachment; filename="{stem}-stats.csv"'})
        columns, rows = await run_in_threadpool(runs_mod.stats_table, root, name)
        body = {"columns": columns, "rows": rows}
        if fmt == "json":
            return Response(json.dumps(body), media_type="application/json",
                            headers={"content-disposition": f'attachment; filename="{stem}-stats.json"'})
        return JSONResponse(body)

    async def files(request: Request) -> Response:
        rel = request.path_params["path"]
        path = safe_path(root, rel)
        media = SERVED_TYPES.get(path.suffix.lower())
        if media is None or not path.is_file():
            raise forbidden(f"{rel[:80]!r}: the studio serves only {', '.join(sorted(SERVED_TYPES))} files")

        def read() -> bytes | None:
            try:
                if path.stat().st_size > READ_WHOLE_MAX:
                    return None
                return path.read_bytes()
            except FileNotFoundError:
                raise not_found(f"{rel[:80]!r} is gone (replaced while it was read?); reload") from None

        data = await run_in_threadpool(read)
        headers = {"cache-control": "no-cache"}
        if path.suffix.lower() == ".safetensors":
            headers["content-disposition"] = f'attachment; filename="{path.name}"'
        if data is None:
            return FileResponse(path, media_type=media, headers=headers)
        return Response(data, media_type=media, headers=headers)

    async def api_models(request: Request) -> JSONResponse:
        return JSONResponse({"models": await run_in_threadpool(runs_mod.list_models, root)})

    def model_param(request: Request) -> str:
        model = request.query_params.get("model")
        if not model:
            raise bad_request("model: missing; give the path of an export inside the runs folder, "
                              "e.g. ?model=00000-dcgan-fmnist32/generator.safetensors (see /api/models)")
        return model

    async def api_model(request: Request) -> JSONResponse:
        return JSONResponse(await explorer.run(explorer.info, model_param(request)))

    def png(data: bytes) -> Response:
        return Response(data, media_type="image/png", headers={"cache-control": "no-store"})

    async def api_image(request: Request) -> Response:
        model, args = model_param(request), explorer.parse_image_args(request.query_params)
        return png(await explorer.run(explorer.image, model, **args))

    async def api_mix(request: Request) -> Response:
        model, args = model_param(request), explorer.parse_mix_args(request.query_params)
        return png(await explorer.run(explorer.mix, model, **args))

    async def api_interp(request: Request) -> Response:
        model, args = model_param(request), explorer.parse_interp_args(request.query_params)
        return png(await explorer.run(explorer.interp, model, **args))

    async def api_translate(request: Request) -> Response:
        model = model_param(request)
        data = await read_upload(request)
        return png(await explorer.run(explorer.translate, model, data))

    routes = [
        Route("/", page("runs", "Runs")),
        Route("/run/{name:path}", page("run", "Run")),
        Route("/compare", page("compare", "Compare")),
        Route("/explore", page("explore", "Explore")),
        Route("/api/runs", api_runs),
        Route("/api/runs/{name:path}/stats", api_stats),
        Route("/api/runs/{name:path}", api_run),
        Route("/api/models", api_models),
        Route("/api/model", api_model),
        Route("/api/image", api_image),
        Route("/api/mix", api_mix),
        Route("/api/interp", api_interp),
        Route("/api/translate", api_translate, methods=["POST"]),
        Route("/files/{path:path}", files),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]

    async def on_studio_error(request: Request, exc: StudioError) -> JSONResponse:
        return _error(exc.status, exc.message)

    async def on_ganforge_error(request: Request, exc: GanforgeError) -> JSONResponse:
        return _error(400, str(exc))

    async def on_http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, exc.detail if isinstance(exc.detail, str) else "error")

    async def on_other_error(request: Request, exc: Exception) -> JSONResponse:
        return _error(500, f"internal error ({type(exc).__name__}); the server's terminal shows the details")

    app = Starlette(routes=routes, exception_handlers={
        StudioError: on_studio_error, GanforgeError: on_ganforge_error, HTTPException: on_http_error,
        Exception: on_other_error})
    app.state.explorer = explorer
    app.state.root = root
    guarded = Guard(app, token=token, loopback_only=(token is None) if loopback_only is None else loopback_only)
    return guarded  # type: ignore[return-value]


async def read_upload(request: Request) -> bytes:
    """The uploaded image's bytes: a multipart field ``image`` or the raw body, refused (413) beyond
    ``MAX_UPLOAD_BYTES`` before more than that is read."""
    declared = request.headers.get("content-length")
    limit = MAX_UPLOAD_BYTES + 64 * 1024  # multipart framing
    if declared is not None:
        try:
            if int(declared) > limit:
                raise StudioError(413, f"upload of {int(declared)} bytes refused: at most "
                                       f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MiB")
        except ValueError:
            raise bad_request(f"content-length {declared[:20]!r} is not a number") from None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise StudioError(413, f"upload refused: more than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB")
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        return await _multipart_image(bytes(body), request)
    if not body:
        raise bad_request("no image: POST the image as the multipart field 'image' or as the body")
    return bytes(body)


async def _multipart_image(body: bytes, request: Request) -> bytes:
    """The field ``image`` of a multipart body already bounded in size (Starlette's parser, at most one
    file and 8 fields)."""
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException, MultiPartParser

    async def stream():
        yield body

    try:
        form = await MultiPartParser(request.headers, stream(), max_files=1, max_fields=8).parse()
    except MultiPartException as e:
        raise bad_request(f"malformed multipart upload: {e}") from None
    try:
        field = form.get("image")
        if field is None:
            raise bad_request(f"multipart upload without the field 'image' (fields: {', '.join(sorted(form.keys())) or 'none'})")
        return await field.read() if isinstance(field, UploadFile) else field.encode()
    finally:
        await form.close()


class BackgroundServer:
    """``app`` (``create_app``'s) served by uvicorn in a daemon thread on a free loopback port, for a
    notebook, a test or a benchmark (``ganforge studio`` serves in the foreground): ``url`` is where it
    answers; ``close()`` (or leaving a ``with`` block) stops it. A server that does not start within
    ``timeout_s`` is a RuntimeError."""

    def __init__(self, app, timeout_s: float = 30.0):
        import socket
        import threading
        import time

        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"the studio server did not start within {timeout_s:g} s")
            time.sleep(0.02)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()

    def __enter__(self) -> "BackgroundServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
