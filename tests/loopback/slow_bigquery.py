"""A BigQuery REST endpoint whose queries never finish: what a slow query looks like.

The BigQuery emulator runs every query inside `jobs.insert` and answers DONE, so the
path where a job is still RUNNING at the caller's deadline cannot happen on it. This
server speaks the same REST protocol (`jobs.insert`, `jobs.get`, `jobs.getQueryResults`,
`jobs.cancel`, in the shapes of the BigQuery v2 reference) for that one path: a dry run
answers at once with its estimate, a real query stays RUNNING until it is cancelled,
and every cancel is recorded.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class SlowBigQuery:
    """Serve on 127.0.0.1; `cancelled` holds the ids of the jobs cancelled."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.cancelled: list[str] = []
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        """`http://127.0.0.1:PORT`, for `[gcp.endpoints] bigquery`."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> SlowBigQuery:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def _send(self, body: dict[str, Any], code: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                path = self.path.split("?", 1)[0]
                cancel = re.fullmatch(r"/bigquery/v2/projects/([^/]+)/jobs/([^/]+)/cancel", path)
                if cancel:
                    job = server.jobs.get(cancel.group(2))
                    if job is None:
                        self._send({"error": {"code": 404, "message": "Not found"}}, 404)
                        return
                    with server.lock:
                        server.cancelled.append(cancel.group(2))
                        job["status"] = {"state": "DONE"}
                    self._send({"kind": "bigquery#jobCancelResponse", "job": job})
                    return
                insert = re.fullmatch(r"/bigquery/v2/projects/([^/]+)/jobs", path)
                if not insert:
                    self._send({"error": {"code": 404, "message": "Not found"}}, 404)
                    return
                reference = body.get("jobReference") or {}
                job_id = reference.get("jobId") or f"job_{len(server.jobs)}"
                dry = bool(body.get("configuration", {}).get("dryRun"))
                job = {
                    "kind": "bigquery#job",
                    "id": f"{insert.group(1)}:US.{job_id}",
                    "jobReference": {
                        "projectId": insert.group(1),
                        "jobId": job_id,
                        "location": "US",
                    },
                    "configuration": body.get("configuration", {}),
                    "status": {"state": "DONE" if dry else "RUNNING"},
                    "statistics": {
                        "creationTime": str(int(time.time() * 1000)),
                        "query": {"totalBytesProcessed": "0", "referencedTables": []},
                    },
                }
                if not dry:
                    with server.lock:
                        server.jobs[job_id] = job
                self._send(job)

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                results = re.fullmatch(r"/bigquery/v2/projects/([^/]+)/queries/([^/]+)", path)
                got = re.fullmatch(r"/bigquery/v2/projects/([^/]+)/jobs/([^/]+)", path)
                job_id = (results or got).group(2) if (results or got) else ""
                job = server.jobs.get(job_id)
                if job is None:
                    self._send({"error": {"code": 404, "message": "Not found"}}, 404)
                    return
                if results:
                    time.sleep(0.2)  # as the service holds the call up to its timeoutMs
                    self._send(
                        {
                            "kind": "bigquery#getQueryResultsResponse",
                            "jobReference": job["jobReference"],
                            "jobComplete": False,
                        }
                    )
                    return
                self._send(job)

        return Handler
