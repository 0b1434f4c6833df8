"""An HTTP server with bounded threads and a deadline per connection.

The stdlib's ThreadingHTTPServer starts a thread per connection and waits on
it forever, so idle or half-open connections each pin a thread (200 of them
made 227 threads), and its listen backlog of 5 refused bursts. Here:

- one loop accepts connections and parks them, threadless, until their first
  bytes arrive; a connection that sends nothing before its deadline is closed;
- a fixed pool of `workers` threads handles connections that have sent
  something, one request per connection, reading under a deadline of
  `request_timeout` seconds for the whole request (a client trickling a byte
  at a time holds a worker that long at most);
- beyond `max_parked` parked or `max_queued` ready connections, a connection
  gets an immediate 503 and is closed;
- the listen backlog is `request_queue_size` (128), so a burst of connects
  lands in the kernel's queue instead of being refused.
"""

from __future__ import annotations

import io
import queue
import selectors
import socket
import threading
import time
from http.server import HTTPServer

_BUSY_BODY = b'{"error": "the server is busy"}'
BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY))


class DeadlineReader(io.RawIOBase):
    """A socket's incoming bytes, each read allowed only the time left until `deadline`."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self.sock = sock
        self.deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request not complete before the deadline")
        self.sock.settimeout(left)
        return self.sock.recv_into(buf)


class PooledHTTPServer(HTTPServer):
    request_queue_size = 128
    workers = 16
    max_parked = 256
    max_queued = 64
    request_timeout = 5.0

    def __init__(self, address, handler, *, workers: int | None = None, request_timeout: float | None = None) -> None:
        super().__init__(address, handler)
        self.socket.setblocking(False)  # the accept loop only accepts what select saw; never block there
        if workers is not None:
            self.workers = workers
        if request_timeout is not None:
            self.request_timeout = request_timeout
        self._ready: queue.Queue = queue.Queue(maxsize=self.max_queued)
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()
        self._pool = [threading.Thread(target=self._work, daemon=True, name=f"quarry-worker-{i}")
                      for i in range(self.workers)]
        for t in self._pool:
            t.start()

    # -- the accept loop (serve_forever's thread) ------------------------------------------
    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._stopped.clear()
        parked: dict[socket.socket, float] = {}  # connection → deadline for its first bytes
        with selectors.DefaultSelector() as sel:
            sel.register(self.socket, selectors.EVENT_READ)
            try:
                while not self._stop.is_set():
                    wait = poll_interval
                    if parked:
                        wait = max(0.0, min(wait, min(parked.values()) - time.monotonic()))
                    for key, _ in sel.select(wait):
                        if key.fileobj is self.socket:
                            self._accept(sel, parked)
                        else:
                            sel.unregister(key.fileobj)
                            del parked[key.fileobj]
                            self._dispatch(key.fileobj, key.data)
                    now = time.monotonic()
                    for conn in [c for c, d in parked.items() if d <= now]:
                        sel.unregister(conn)
                        del parked[conn]
                        self._close(conn)  # sent nothing in time: a half-open or idle connection
                    self.service_actions()
            finally:
                for conn in parked:
                    self._close(conn)
                self._stop.clear()  # like the stdlib: a shutdown() that came first still stops this run
                self._stopped.set()

    def _accept(self, sel, parked: dict) -> None:
        try:
            conn, addr = self.socket.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return  # the client gave up between select and accept
        if len(parked) >= self.max_parked:
            self._refuse(conn)
            return
        parked[conn] = time.monotonic() + self.request_timeout
        sel.register(conn, selectors.EVENT_READ, addr)

    def _dispatch(self, conn: socket.socket, addr) -> None:
        try:
            self._ready.put_nowait((conn, addr))
        except queue.Full:
            self._refuse(conn)

    def _refuse(self, conn: socket.socket) -> None:
        try:
            conn.setblocking(False)
            try:
                conn.recv(65536)  # unread input would turn our close into a reset that eats the 503
            except OSError:
                pass
            conn.send(BUSY)
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self._close(conn)

    @staticmethod
    def _close(conn: socket.socket) -> None:
        try:
            conn.close()
        except OSError:
            pass

    def shutdown(self) -> None:
        """Stop serve_forever and wait for it (called from another thread)."""
        self._stop.set()
        self._stopped.wait()

    # -- the workers -----------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            job = self._ready.get()
            if job is None:
                return
            conn, addr = job
            try:
                self.finish_request(conn, addr)
            except Exception:
                self.handle_error(conn, addr)
            finally:
                self.shutdown_request(conn)

    def handle_error(self, request, client_address) -> None:
        pass  # a client that went away mid-request is no news; handler bugs are answered as 500s

    def server_close(self) -> None:
        super().server_close()
        if getattr(self, "_closed", False):
            return
        self._closed = True
        while True:  # drop what no worker will take now
            try:
                job = self._ready.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                self._close(job[0])
        for _ in self._pool:
            self._ready.put(None)
        for t in self._pool:
            t.join(timeout=self.request_timeout + 1)
