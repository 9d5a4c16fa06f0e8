"""The fault server's HTTP plumbing: one handler per connection, a threading server.

`FaultServer` (`llm_retry.testing._server`) owns the script and the record; this module only
reads requests off the socket, asks the owner for the reply, and writes it (or a stream).
Only the standard library is used.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from llm_retry.testing._replies import (
    RecordedRequest,
    Response,
    allows_body,
    api_for_path,
    lower_headers,
    reason_phrase,
    render_reply,
    response_headers,
)
from llm_retry.testing._sse import plan_stream, wants_stream

if TYPE_CHECKING:
    from llm_retry.testing._server import FaultServer

__all__ = ["HOST", "JOIN_TIMEOUT", "HTTPServer"]

HOST = "127.0.0.1"

JOIN_TIMEOUT = 5.0  # how long closing waits for each connection thread, in seconds


class _Handler(BaseHTTPRequestHandler):
    """Answers each request of a connection with the owner's next reply."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms stall between the headers and the body
    server: HTTPServer

    def do_GET(self) -> None:
        """Answer a GET request."""
        self._serve()

    def do_POST(self) -> None:
        """Answer a POST request."""
        self._serve()

    def do_PUT(self) -> None:
        """Answer a PUT request."""
        self._serve()

    def do_PATCH(self) -> None:
        """Answer a PATCH request."""
        self._serve()

    def do_DELETE(self) -> None:
        """Answer a DELETE request."""
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean: log nothing."""

    def _serve(self) -> None:
        """Record the request, then answer it as its reply says."""
        raw = self._read_body()
        url = urlsplit(self.path)
        request, serial = self.server.owner._receive(
            method=self.command,
            path=url.path,
            query=url.query,
            headers=lower_headers(self.headers.items()),
            raw_body=raw,
        )
        reply = request.reply
        try:
            interrupted = reply.delay > 0 and self.server.closing.wait(reply.delay)
            if reply.drop or interrupted:
                self.close_connection = True
                return
            if wants_stream(request):
                self._send_stream(request, serial)
                return
            self._send(render_reply(request, serial))
        finally:
            self.server.owner._answered(serial)

    def _read_body(self) -> bytes:
        """Read the request body, sized by Content-Length or chunked."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        """Read a chunked request body, trailers included."""
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                break
            chunks.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after the chunk
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(chunks)

    def _send(self, response: Response) -> None:
        """Write a response; a client that went away is not an error."""
        try:
            self.send_response(response.status, reason_phrase(response.status))
            for name, value in response.headers:
                self.send_header(name, value)
            if allows_body(response.status):
                self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
            self.wfile.flush()
        except OSError:  # the client timed out or hung up meanwhile
            self.close_connection = True

    def _send_stream(self, request: RecordedRequest, serial: int) -> None:
        """Write a reply as server-sent events, one HTTP chunk per event."""
        api = api_for_path(request.path)
        plan = plan_stream(request, serial, api)
        headers = response_headers(request.reply, api, serial, "text/event-stream; charset=utf-8")
        try:
            self.send_response(request.reply.status, reason_phrase(request.reply.status))
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for event in plan.events:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
            if plan.drop:
                self.close_connection = True  # no last chunk: the body ends mid-stream
                return
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:  # the client stopped reading
            self.close_connection = True


class HTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that can close every open connection when it stops."""

    daemon_threads = True
    request_queue_size = 128  # the listen backlog: many clients may connect at once

    def __init__(self, owner: FaultServer) -> None:
        self.owner = owner
        self.closing = threading.Event()
        self._lock = threading.Lock()
        self._connections: dict[threading.Thread, socket.socket] = {}
        super().__init__((HOST, 0), _Handler)

    def process_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        """Serve a new connection in a daemon thread that `stop` can find and join."""
        sock = request if isinstance(request, socket.socket) else request[1]
        worker = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"FaultServer-{self.server_address[1]}-connection",
            daemon=True,
        )
        with self._lock:
            if self.closing.is_set():
                self.shutdown_request(request)
                return
            self._connections[worker] = sock
        worker.start()

    def process_request_thread(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        """Serve a connection, then forget it."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._lock:
                self._connections.pop(threading.current_thread(), None)

    def handle_error(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        """Ignore clients that hang up; report anything else."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def stop(self) -> None:
        """Stop accepting, wake delayed replies, close open connections, join their threads."""
        self.shutdown()
        with self._lock:
            self.closing.set()
            connections = dict(self._connections)
        for sock in connections.values():
            with contextlib.suppress(OSError):  # already closed by the client
                sock.shutdown(socket.SHUT_RDWR)
        for worker in connections:
            worker.join(JOIN_TIMEOUT)
        self.server_close()
