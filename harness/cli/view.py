"""`harness view [reports/]`: serve a reports folder on this machine, list its runs and diff any two.

The standard library's http.server, bound to 127.0.0.1 unless --host names another interface
and --allow-remote says so. Only files inside the folder are served: a path is decoded once,
must be relative, may not hold '..', a backslash or a NUL, and must still be inside the folder
once symlinks are resolved. Diffs are rendered in memory from the listed runs; nothing is written.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from harness.core import exit_codes

DEFAULT_PORT = 8800


def add_view_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    view = sub.add_parser("view", help="serve a reports folder locally: list runs, open reports, diff two runs",
                          description=__doc__.split("\n\n")[1].replace("\n", " "))  # fmt: skip
    view.add_argument("folder", nargs="?", default="reports", metavar="FOLDER", help="the reports folder (default: reports)")
    view.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    view.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    view.add_argument("--allow-remote", action="store_true",
                      help="allow --host to be an interface other machines can reach (the reports hold prompts "
                           "and replies; anyone who can reach the port can read them)")  # fmt: skip


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def safe_path(root: Path, raw: str) -> Path | None:
    """The file ``raw`` (a URL path below /runs/, still percent-encoded) names inside ``root``, or None."""
    path = unquote(raw)
    if not path or "\x00" in path or "\\" in path or path.startswith("/") or "%" in path:
        return None  # absolute, NUL, Windows separators, or encoded twice
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts) or ":" in parts[0]:
        return None
    target = (root / Path(*parts)).resolve()
    base = root.resolve()
    if target != base and base not in target.parents:
        return None  # a symlink that leads out of the folder
    return target if target.is_file() else None


if TYPE_CHECKING:
    from http import HTTPStatus
    from http.server import BaseHTTPRequestHandler


def make_handler(root: Path) -> type[BaseHTTPRequestHandler]:
    import mimetypes
    from http import HTTPStatus
    from http.server import BaseHTTPRequestHandler

    class Handler(BaseHTTPRequestHandler):
        server_version = "harness-view"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            url = urlsplit(self.path)
            if url.path in ("/", "/index.html"):
                self._index()
            elif url.path == "/diff":
                self._diff({k: v[-1] for k, v in parse_qs(url.query).items()})
            elif url.path.startswith("/runs/"):
                self._file(url.path[len("/runs/"):])
            else:
                self._send(HTTPStatus.NOT_FOUND, "not found\n", "text/plain")

        def _index(self) -> None:
            from harness.report.html import render_runs_index
            from harness.results.run_index import find_runs

            self._send(HTTPStatus.OK, render_runs_index(find_runs(root), str(root)), "text/html")

        def _diff(self, q: dict[str, str]) -> None:
            from harness.core.result import ResultFileError
            from harness.report.html import render_compare_html
            from harness.results.compare import compare_runs
            from harness.results.run_index import load_listed_run
            from harness.results.variant_table import VariantChoiceError, split_variants

            try:
                if q.get("run"):
                    run = load_listed_run(root, q["run"])
                    a, b = q.get("base_variant", ""), q.get("head_variant", "")
                    base, head = split_variants(run, a, b)
                    names = (f"{q['run']} [{a}]", f"{q['run']} [{b}]")
                else:
                    base, head = load_listed_run(root, q.get("base", "")), load_listed_run(root, q.get("head", ""))
                    names = (q["base"], q["head"])
            except (ResultFileError, VariantChoiceError, KeyError) as e:
                self._send(HTTPStatus.BAD_REQUEST, f"cannot diff: {e}\n", "text/plain")
                return
            comparison = compare_runs(base, head, base_name=names[0], head_name=names[1])
            self._send(HTTPStatus.OK, render_compare_html(comparison), "text/html")

        def _file(self, raw: str) -> None:
            target = safe_path(root, raw)
            if target is None:
                self._send(HTTPStatus.NOT_FOUND, "not found\n", "text/plain")
                return
            kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
            self._send(HTTPStatus.OK, target.read_bytes(), kind)

        def _send(self, status: HTTPStatus, body: str | bytes, kind: str) -> None:
            data = body.encode("utf-8") if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", kind + ("; charset=utf-8" if kind.startswith("text/") else ""))
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

    return Handler


def cmd_view(args: argparse.Namespace) -> int:
    from http.server import ThreadingHTTPServer  # here, not at the top: `harness --version` must not pay for it

    root = Path(args.folder)
    if not root.is_dir():
        print(f"error: {root}: no such folder; run `harness run ... --out {root}/NAME` first or name the reports folder",
              file=sys.stderr)  # fmt: skip
        return exit_codes.BAD_INPUT
    if not is_loopback(args.host) and not args.allow_remote:
        print(f"error: --host {args.host} would serve the reports (prompts and replies) beyond this machine; "
              "add --allow-remote if that is what you want", file=sys.stderr)  # fmt: skip
        return exit_codes.BAD_INPUT
    try:
        server = ThreadingHTTPServer((args.host, args.port), make_handler(root.resolve()))
    except OSError as e:
        print(f"error: cannot listen on {args.host}:{args.port}: {e.strerror or e}; pick another --port", file=sys.stderr)
        return exit_codes.BAD_INPUT
    host, port = server.server_address[:2]
    print(f"serving {root} at http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.server_close()
    return exit_codes.OK
