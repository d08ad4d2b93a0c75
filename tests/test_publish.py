"""The report's destination (TAIEX_REPORT_URL): a folder, or an fsspec URL on a real S3 server.

The S3 server is moto's, started in this process on a loopback port: real HTTP, real s3fs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from taiex.errors import SettingsError, StorageError
from taiex.files import publish

BUCKET = "taiex-reports"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto S3 server with one bucket; the endpoint, as AWS_ENDPOINT_URL names it to s3fs."""
    s3fs = pytest.importorskip("s3fs", reason="s3fs is not installed: pip install -e '.[s3]'")
    server_module = pytest.importorskip("moto.server", reason="moto[server] is not installed")
    import boto3

    port = free_port()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    credentials = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }
    for name, value in credentials.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    # fsspec keeps a filesystem per set of arguments: one made for an earlier server's endpoint
    # would be reused.
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        yield endpoint
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()


def s3_object(endpoint: str, key: str) -> bytes:
    import boto3

    body = boto3.client("s3", endpoint_url=endpoint).get_object(Bucket=BUCKET, Key=key)["Body"]
    return bytes(body.read())


def test_a_folder_gets_the_file_whole(tmp_path: Path) -> None:
    written = publish(str(tmp_path / "site"), "index.html", b"<p>one</p>")
    assert written == str(tmp_path / "site" / "index.html")
    publish(f"file://{tmp_path / 'site'}", "index.html", b"<p>two</p>")
    assert (tmp_path / "site" / "index.html").read_bytes() == b"<p>two</p>"
    assert [p.name for p in (tmp_path / "site").iterdir()] == ["index.html"]


def test_an_s3_url_on_a_real_s3_server(s3: str) -> None:
    written = publish(f"s3://{BUCKET}/taiex/", "index.html", "<p>加權指數</p>".encode())
    assert written == f"s3://{BUCKET}/taiex/index.html"
    assert s3_object(s3, "taiex/index.html").decode() == "<p>加權指數</p>"
    publish(f"s3://{BUCKET}/taiex", "index.html", b"<p>again</p>")  # no trailing slash
    assert s3_object(s3, "taiex/index.html") == b"<p>again</p>"


def test_a_missing_bucket_is_a_storage_error(s3: str) -> None:
    with pytest.raises(StorageError, match=r"cannot write s3://no-such-bucket/x/index\.html"):
        publish("s3://no-such-bucket/x", "index.html", b"x")


def test_missing_credentials_are_a_storage_error(
    s3: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore's NoCredentialsError is no OSError: it was a traceback."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance metadata to ask
    with pytest.raises(
        StorageError, match=r"cannot write s3://taiex-reports/x/index\.html: .*cred"
    ):
        publish(f"s3://{BUCKET}/x", "index.html", b"x")


def test_a_scheme_without_its_package_names_the_setting() -> None:
    pytest.importorskip("fsspec")
    with pytest.raises(SettingsError, match=r"TAIEX_REPORT_URL=gcs://bucket/x: .*gcsfs"):
        publish("gcs://bucket/x", "index.html", b"x")


def test_taiex_report_writes_the_page_to_s3(s3: str, tmp_path: Path) -> None:
    """`taiex report` in an empty TAIEX_HOME on an empty database: the page lands in the bucket
    and nothing is left in the home but what the command keeps there (no page)."""
    home = tmp_path / "home"
    env = {
        **os.environ,
        "TAIEX_HOME": str(home),
        "TAIEX_DB_URL": f"sqlite:///{tmp_path / 'taiex.db'}",
        "TAIEX_REPORT_URL": f"s3://{BUCKET}/daily/",
    }
    done = subprocess.run(
        [sys.executable, "-c", "from taiex.cli import main; main()", "report"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"s3://{BUCKET}/daily/index.html" in done.stdout
    page = s3_object(s3, "daily/index.html").decode()
    assert "<html" in page and "taiex" in page.lower()
    assert not (home / "report").exists()
