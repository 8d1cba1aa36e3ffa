"""A webhook receiver on a local port: it keeps every JSON body POSTed to it, and answers what it is told to."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """`with Receiver() as hook:` then `hook.url`, `hook.bodies`, `hook.answer = 500` to refuse the next ones."""

    def __init__(self):
        self.bodies = []
        self.answer = 200
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = receiver.answer
                if status < 300:
                    with receiver._lock:
                        receiver.bodies.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def kinds(self, key=None):
        """The `kind` of every message received (about incident `key` only, if given), in order."""
        with self._lock:
            return [body["kind"] for body in self.bodies if key is None or body.get("groupKey") == key]

    def wait_for(self, count, key=None, timeout=30.0):
        """Wait until `count` messages (about `key`) arrived; their kinds."""
        deadline = time.monotonic() + timeout
        while len(self.kinds(key)) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.kinds(key)
