"""Where the tables come from: explicit path, env var, cache, verified download."""

import functools
import http.server
import shutil
import threading

import pytest

from nasxfer import data
from nasxfer.benchmark import load_benchmark
from nasxfer.errors import DataFileError

REL = "transnas-bench-101/transbench101_class_object.csv"


@pytest.fixture
def no_env(monkeypatch, tmp_path):
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def server(data_dir, tmp_path):
    """A loopback HTTP server over a copy of the tables (so tests can corrupt it)."""
    root = tmp_path / "served"
    shutil.copytree(data_dir, root)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def test_explicit_path_is_verified_and_used(data_dir, no_env):
    assert data.locate(REL, data_dir) == data_dir / REL


def test_env_var_is_used(data_dir, no_env, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(data_dir))
    assert data.locate(REL) == data_dir / REL


def test_missing_file_in_given_folder_names_the_fix(tmp_path, no_env):
    with pytest.raises(DataFileError, match="does not exist.*Fix: point data_dir"):
        data.locate(REL, tmp_path)


def test_corrupt_file_is_refused(data_dir, tmp_path, no_env):
    (tmp_path / "transnas-bench-101").mkdir()
    text = (data_dir / REL).read_text().replace("46.", "47.", 1)
    (tmp_path / REL).write_text(text)
    with pytest.raises(DataFileError, match="corrupt or not the published file"):
        load_benchmark("transnas-bench-101", tasks="class_object", data_dir=tmp_path)


def test_download_into_cache_then_reuse(server, no_env, monkeypatch):
    root, base = server
    monkeypatch.setattr(data, "url", lambda rel: base + rel)
    path = data.locate(REL)
    assert path == no_env / REL and data.sha256(path) == data.SHA256[REL]
    (root / REL).unlink()  # a second call must not need the server
    assert data.locate(REL) == path


def test_download_with_wrong_checksum_fails_clearly(server, no_env, monkeypatch):
    root, base = server
    (root / REL).chmod(0o644)
    (root / REL).write_text("not the table\n")
    monkeypatch.setattr(data, "url", lambda rel: base + rel)
    with pytest.raises(DataFileError, match="checksum"):
        data.locate(REL)
    assert not (no_env / REL).exists()


def test_offline_download_fails_clearly(no_env, monkeypatch):
    monkeypatch.setattr(data, "url", lambda rel: "http://127.0.0.1:9/" + rel)  # discard port: refused
    with pytest.raises(DataFileError, match="could not download.*NASXFER_DATA"):
        data.locate(REL)


def test_unknown_file_is_refused():
    with pytest.raises(DataFileError, match="no published benchmark file"):
        data.locate("transnas-bench-101/nope.csv")
