"""``riskatlas serve``: the public dashboard, the open JSON API and data-card management
for signed-in users (uvicorn)."""

# no `from __future__ import annotations`: Typer reads these signatures at every run,
# and evaluating their annotations from strings cost more than defining them

from typing import Annotated, Any

import typer

from riskatlas.cli.help import h
from riskatlas.cli.options import Db, Methods


def serve(
    host: Annotated[str, typer.Option("--host", help=h("serve.host"))] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help=h("serve.port"))] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help=h("serve.workers"))] = 1,
    snapshot: Annotated[bool, typer.Option("--snapshot/--no-snapshot",
                                           help=h("serve.snapshot"))] = True,
    public_all: Annotated[bool, typer.Option("--public-all", help=h("serve.public_all"))] = False,
    secure_cookies: Annotated[bool, typer.Option("--secure-cookies",
                                                 help=h("serve.secure_cookies"))] = False,
    max_upload_mb: Annotated[int, typer.Option("--max-upload-mb", min=1,
                                               help=h("serve.max_upload_mb"))] = 200,
    forwarded_allow_ips: Annotated[str, typer.Option(
        "--forwarded-allow-ips", metavar="IPS", help=h("serve.forwarded_allow_ips"))] = "",
    methods: Methods = None,
    db: Db = None,
) -> None:
    """Serve the store: a bilingual dashboard, the JSON API under /api/ (OpenAPI at
    /openapi.json) and, for users added with 'riskatlas users add', data-card entry,
    approval and uploads. Imports may run meanwhile from another process."""
    import os

    import uvicorn

    from riskatlas.errors import StoreError
    from riskatlas.paths import db_url, resolve_db

    url = db_url(db)  # a PostgreSQL store: every worker reads and writes it in place
    path = resolve_db(db)
    if url is None and not path.exists():
        raise StoreError("store.missing", path=str(path))
    if workers > 1:  # each worker process builds its app from the environment
        os.environ["RISKATLAS_DB"] = url or str(path.resolve())
        os.environ["RISKATLAS_WEB_SNAPSHOT"] = "1" if snapshot else "0"
        os.environ["RISKATLAS_WEB_PUBLIC_ALL"] = "1" if public_all else "0"
        os.environ["RISKATLAS_WEB_SECURE_COOKIES"] = "1" if secure_cookies else "0"
        os.environ["RISKATLAS_WEB_MAX_UPLOAD_MB"] = str(max_upload_mb)
        os.environ["RISKATLAS_WEB_WORKERS"] = str(workers)
        if methods:
            os.environ["RISKATLAS_WEB_METHODS"] = str(methods.resolve())
        _run_workers(workers, host, port, forwarded_allow_ips)
        return
    from riskatlas.web.app import PREPARE, app_for_server

    app = app_for_server(url or path, methods=methods, snapshot=snapshot,
                         public_all=public_all, secure_cookies=secure_cookies,
                         max_upload_mb=max_upload_mb, prepare=PREPARE)
    uvicorn.run(app, host=host, port=port, **proxy_options(forwarded_allow_ips))


def proxy_options(forwarded_allow_ips: str) -> dict[str, Any]:
    """uvicorn's proxy settings: X-Forwarded-For and -Proto are believed only from the
    addresses listed (comma-separated: the reverse proxy's), and from nobody by default.
    (uvicorn's own default trusts 127.0.0.1, or $FORWARDED_ALLOW_IPS: behind no proxy, any
    local client could then claim any address and escape the sign-in limits.)"""
    allowed = ",".join(part.strip() for part in forwarded_allow_ips.split(",") if part.strip())
    return {"proxy_headers": bool(allowed), "forwarded_allow_ips": allowed}


def _run_workers(workers: int, host: str, port: int, forwarded_allow_ips: str = "") -> None:
    """``uvicorn.run`` with ``workers``, but with Nagle's algorithm off on connections:
    uvicorn's listening socket has protocol 0, so asyncio leaves TCP_NODELAY unset on the
    connections it accepts, and an answer written in two parts waited 40 ms for the
    client's delayed ACK (measured). Accepted sockets inherit it from the listening one."""
    import socket

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config("riskatlas.web.app:app_from_environment", factory=True,
                            host=host, port=port, workers=workers,
                            **proxy_options(forwarded_allow_ips))
    sock = config.bind_socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(config, sockets=[sock]).run()
