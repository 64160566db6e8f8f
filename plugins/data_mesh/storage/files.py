"""Files beside the tables (staging) on the warehouse's filesystem: a local folder, S3 or any fsspec URL.

S3 uses the same settings as the catalog (storage/s3.py: the `data_mesh_s3` Connection,
`DATA_MESH_S3_*`), so an S3-compatible endpoint (MinIO, moto) works for staging exactly as it does
for the tables. pyarrow is imported inside the function.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from data_mesh.storage.s3 import s3_properties

if TYPE_CHECKING:
    import pyarrow.fs as pafs


def filesystem(url: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path inside it) for a file:// or s3:// URL, a local path, or any fsspec URL."""
    import pyarrow.fs as pafs

    if "://" not in url:
        return pafs.LocalFileSystem(), os.path.abspath(url)
    scheme, rest = url.split("://", 1)
    if scheme == "file":
        return pafs.LocalFileSystem(), "/" + rest.lstrip("/")
    if scheme in ("s3", "s3a"):
        props = s3_properties(url)
        endpoint = props.get("s3.endpoint")
        fs = pafs.S3FileSystem(
            access_key=props.get("s3.access-key-id"),
            secret_key=props.get("s3.secret-access-key"),
            region=props.get("s3.region"),
            endpoint_override=endpoint.split("://", 1)[-1] if endpoint else None,
            scheme=endpoint.split("://", 1)[0] if endpoint and "://" in endpoint else "https",
        )
        return fs, rest
    import fsspec

    fsspec_fs, path = fsspec.core.url_to_fs(url)
    return pafs.PyFileSystem(pafs.FSSpecHandler(fsspec_fs)), path
