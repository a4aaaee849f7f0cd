"""Cloud Storage: the pipeline's exported files, read with the JSON API's `objects.get`
(one call per object; the object's metadata only, never its content)."""

from __future__ import annotations

from collections.abc import Sequence

from orchwatch.model import StoredObject
from orchwatch.sources.gcp.clients import GcpClients, plain_datetime
from orchwatch.sources.gcp.errors import api_errors

CALL_TIMEOUT = 20.0


class GcpExports:
    """The `ExportSource` over Cloud Storage."""

    def __init__(self, clients: GcpClients) -> None:
        self.clients = clients

    def fetch_objects(self, wanted: Sequence[tuple[str, str]]) -> list[StoredObject]:
        """The objects of `wanted` (bucket, name) that exist.

        Raises:
            SourceError: an object cannot be read (a denied or missing bucket, a timeout).
        """
        found: list[StoredObject] = []
        with api_errors(self.clients.api("storage")):
            client = self.clients.storage()
            for bucket, name in wanted:
                self.clients.meter.count("storage", "objects.get")
                blob = client.bucket(bucket).get_blob(name, timeout=CALL_TIMEOUT, retry=None)
                if blob is not None:
                    found.append(
                        StoredObject(bucket, name, plain_datetime(blob.updated), blob.size or 0)
                    )
        return found
