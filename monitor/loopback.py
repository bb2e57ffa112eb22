"""A small JSON HTTP server on 127.0.0.1, for tests and the bundled example systems.

``LoopbackServer(handler)`` binds at construction and serves from a daemon
thread, so it is usable at once (no waiting). Every request is turned into a
``LoopbackRequest``, recorded in ``server.requests`` and passed to
``handler``, whose ``LoopbackResponse`` is sent back::

    def handler(request: LoopbackRequest) -> LoopbackResponse:
        return LoopbackResponse(body={"data": [...]})

    with LoopbackServer(handler) as server:
        httpx.get(server.url + "/items")

A response body may be bytes (sent as is), an iterator of bytes (streamed with
chunked encoding, for bodies too large to build), or any JSON-able value
(serialised). ``drop=True`` closes the connection without an answer. A handler
that raises gets a 500, and the exception is kept in ``server.errors``.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson

__all__ = ["LoopbackRequest", "LoopbackResponse", "LoopbackServer", "InProcessTransport", "Handler"]


@dataclass(frozen=True)
class LoopbackRequest:
    """One request as received. Header names are lower-case; ``query`` keeps repeated values."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""
    raw_query: str = ""

    def param(self, name: str) -> str | None:
        """The first value of query parameter ``name``, or None."""
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LoopbackResponse:
    """What the handler answers. A ``Content-Length`` in ``headers`` is sent as given
    (even if it does not match the body: a way to fake a transfer cut short)."""

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


Handler = Callable[[LoopbackRequest], LoopbackResponse]


class LoopbackServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 calling ``handler`` for each request."""

    def __init__(self, handler: Handler, port: int = 0) -> None:
        self.handler = handler
        self.requests: list[LoopbackRequest] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), _RequestHandler, self)
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name=f"loopback-{self.port}", daemon=True)
        self._thread.start()

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def close(self) -> None:
        """Stop serving, cut open keep-alive connections, release the port."""
        if self._stopping:
            return
        self._stopping = True
        # Wake the accept loop with a connection of our own, so it sees the flag at once.
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5):
                pass
        except OSError:
            pass
        self._thread.join()
        self._server.cut_connections()
        self._server.server_close()

    def _serve(self) -> None:
        # ``handle_request`` blocks until a connection arrives (``timeout`` is None), unlike
        # ``serve_forever``, whose shutdown waits out a polling interval.
        while not self._stopping:
            self._server.handle_request()

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _record(self, request: LoopbackRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _record_error(self, error: BaseException) -> None:
        with self._lock:
            self.errors.append(error)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler_class: type[BaseHTTPRequestHandler],
        owner: LoopbackServer,
    ) -> None:
        self.owner = owner
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler_class)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        # Keep-alive connections would otherwise keep their threads reading until the client goes.
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-response (a timeout test, a size limit) is expected: stay quiet.
        pass


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: don't wait 40ms for an ACK
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        owner = self.server.owner
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        request = LoopbackRequest(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=headers,
            body=self.rfile.read(length) if length else b"",
            raw_query=split.query,
        )
        owner._record(request)
        try:
            response = owner.handler(request)
        except Exception as exc:  # the handler is test code: report, don't crash the server
            owner._record_error(exc)
            response = LoopbackResponse(500, {"error": f"handler raised {type(exc).__name__}"})
        if response.drop:
            self.close_connection = True
            return
        self._send(response)

    def _send(self, response: LoopbackResponse) -> None:
        headers = {name.lower(): value for name, value in response.headers.items()}
        body = response.body
        streamed = isinstance(body, Iterator)
        if not streamed and not isinstance(body, bytes | bytearray):
            body = json.dumps(body).encode()
            headers.setdefault("content-type", "application/json")
        self.send_response_only(response.status)
        if "date" not in headers:
            self.send_header("Date", self.date_time_string())
        for name, value in headers.items():
            self.send_header(name, value)
        if streamed:
            self.send_header("Transfer-Encoding", "chunked")
        elif "content-length" in headers:
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if streamed:
            for chunk in body:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(body)


class InProcessTransport(httpx.BaseTransport):
    """An httpx transport handing each request to a ``Handler`` in the calling thread.

    For replays of the demo world: the same connectors and simulators as on
    loopback, without a socket and a thread hand-off per request (a simulated week
    sends over fifty thousand). Live runs and the tests use ``LoopbackServer``.
    A dict or list body is written by orjson: the same JSON without the spaces (bar
    a NaN, which is not JSON, going out as null); what orjson would write differently
    or refuses (a datetime, a subclass of a built-in type, a key that is not a string,
    a huge integer) is left to ``json.dumps``.
    """

    # orjson hands these to ``default`` (there is none, so it refuses them) rather than writing them itself.
    _ORJSON_STRICT = (
        orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS
    )

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raw_query = request.url.query.decode("ascii")
        headers: dict[str, str] = {}
        for name, value in request.headers.multi_items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        incoming = LoopbackRequest(
            method=request.method,
            path=request.url.path,
            query=parse_qs(raw_query, keep_blank_values=True) if raw_query else {},
            headers=headers,
            body=request.read(),
            raw_query=raw_query,
        )
        answer = self.handler(incoming)
        if answer.drop:
            raise httpx.RemoteProtocolError("the server closed the connection without answering", request=request)
        out_headers = dict(answer.headers)
        body = answer.body
        if isinstance(body, Iterator):
            content = b"".join(body)
        elif isinstance(body, bytes | bytearray):
            content = bytes(body)
        else:
            content = self._json(body)
            out_headers.setdefault("content-type", "application/json")
        return httpx.Response(answer.status, headers=out_headers, content=content, request=request)

    @classmethod
    def _json(cls, body: Any) -> bytes:
        if type(body) is dict or type(body) is list:
            try:
                return orjson.dumps(body, option=cls._ORJSON_STRICT)
            except orjson.JSONEncodeError:
                pass
        return json.dumps(body).encode()
