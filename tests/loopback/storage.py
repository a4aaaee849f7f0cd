"""Cloud Storage's JSON API on 127.0.0.1, as far as orchwatch reads it: `objects.get`
(`GET /storage/v1/b/BUCKET/o/OBJECT`) answering the object resource Google documents
(`storage#object`: name, bucket, generation, size as a string, `updated` in RFC 3339), or
its error body (`{"error": {"code": 404, ...}}`). The official client
(`google-cloud-storage`) talks to it through `client_options={"api_endpoint": ...}`.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

PREFIX = "/storage/v1/b/"


@dataclass
class LocalStorage:
    """Buckets of objects (name -> when it was updated, its size)."""

    objects: dict[tuple[str, str], tuple[datetime, int]] = field(default_factory=dict)
    deny: set[str] = field(default_factory=set)
    """Buckets whose reads answer 403 (the caller lacks storage.objects.get)."""
    calls: Counter[str] = field(default_factory=Counter)
    _server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        """`http://127.0.0.1:PORT`, for `[gcp.endpoints] storage`."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def put(self, bucket: str, name: str, updated: datetime, size: int = 1024) -> None:
        self.objects[(bucket, name)] = (updated, size)

    def start(self) -> LocalStorage:
        storage = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                if not path.startswith(PREFIX) or "/o/" not in path:
                    self._send(404, _error(404, f"no route {path}"))
                    return
                bucket, _, encoded = path[len(PREFIX) :].partition("/o/")
                name = unquote(encoded)
                storage.calls["objects.get"] += 1
                if bucket in storage.deny:
                    message = (
                        "anonymous caller does not have storage.objects.get access to the "
                        "Google Cloud Storage object. Permission 'storage.objects.get' denied "
                        "on resource (or it may not exist)."
                    )
                    self._send(403, _error(403, message, "forbidden"))
                    return
                held = storage.objects.get((bucket, name))
                if held is None:
                    self._send(404, _error(404, f"No such object: {bucket}/{name}", "notFound"))
                    return
                updated, size = held
                stamp = updated.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
                generation = str(int(updated.timestamp() * 1_000_000))
                self._send(
                    200,
                    {
                        "kind": "storage#object",
                        "id": f"{bucket}/{name}/{generation}",
                        "selfLink": f"{storage.endpoint}{PREFIX}{bucket}/o/{encoded}",
                        "name": name,
                        "bucket": bucket,
                        "generation": generation,
                        "metageneration": "1",
                        "contentType": "application/json",
                        "storageClass": "STANDARD",
                        "size": str(size),
                        "timeCreated": stamp,
                        "updated": stamp,
                        "timeStorageClassUpdated": stamp,
                    },
                )

            def _send(self, code: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _error(code: int, message: str, reason: str = "notFound") -> dict[str, object]:
    """The JSON API's error body."""
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
        }
    }
