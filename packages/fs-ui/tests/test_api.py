"""API tests: the token on every request, path traversal refused, concurrent edits lose nothing."""

from __future__ import annotations

import dataclasses
import http.client
import json
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest

from fs_faceset import Faceset, FacesetWriter
from fs_ui import UiConfig, UiError, classify_paths
from fs_ui._paths import inside


def raw(server: Any, method: str, path: str, *, token: bool = True, body: Any = None,
        headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:  # fmt: skip
    """One request with the path sent exactly as given (no client-side normalisation of ``..``)."""
    host = urlsplit(server.base)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
    hdrs = dict(headers or {})
    if token:
        hdrs["X-FS-Token"] = server.config.token
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        hdrs["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=hdrs)
    res = conn.getresponse()
    out = res.status, res.read(), {k.lower(): v for k, v in res.getheaders()}
    conn.close()
    return out


def test_every_request_needs_the_token(serve: Any, faceset: Path) -> None:
    server = serve(facesets=(faceset,))
    for path in ("/", "/static/app.js", "/api/info", "/api/facesets/0/faces", "/api/runs/0"):
        status, body, _ = raw(server, "GET", path, token=False)
        assert status == 403, path
        assert b"token" in body
    assert raw(server, "GET", "/api/info", token=False, headers={"X-FS-Token": "x" * 32})[0] == 403
    assert raw(server, "GET", "/api/info?token=wrong-token-wrong-token", token=False)[0] == 403
    status, body, _ = raw(server, "POST", "/api/facesets/0/remove", token=False, body={"ids": []})
    assert status == 403
    # the token in the query sets an HttpOnly cookie; the cookie alone then works
    status, _, headers = raw(server, "GET", f"/?token={server.config.token}", token=False)
    assert status == 200 and "HttpOnly" in headers["set-cookie"] and "SameSite=Strict" in headers["set-cookie"]
    cookie = headers["set-cookie"].split(";")[0]
    status, body, _ = raw(server, "GET", "/api/info", token=False, headers={"Cookie": cookie})
    assert status == 200 and json.loads(body)["facesets"][0]["count"] == 240
    assert server.url.startswith("http://127.0.0.1:") and f"token={server.config.token}" in server.url


@pytest.mark.parametrize(
    "path",
    [
        "/static/../../../../etc/passwd",
        "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2f..%2f..%2fetc%2fpasswd",
        "/static//etc/passwd",
        "/static/%00app.js",
        "/api/runs/0/file/../../../../etc/passwd",
        "/api/runs/0/file/%2e%2e/%2e%2e/etc/passwd",
        "/api/runs/0/file//etc/passwd",
        "/api/runs/0/file/..%5c..%5cetc%5cpasswd",
        "/api/runs/0/file/link/secret.json",
        "/api/facesets/1/faces",
        "/api/facesets/-1/faces",
        "/api/facesets/0/face/..%2f..%2findex.json",
    ],
)
def test_path_traversal_is_refused(serve: Any, faceset: Path, tmp_path: Path, path: str) -> None:
    run = tmp_path / "run"
    (run / "previews").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "secret.json").write_text('{"secret": 1}')
    (run / "link").symlink_to(secret)
    server = serve(facesets=(faceset,), runs=(run,))
    status, body, _ = raw(server, "GET", path)
    assert status in (400, 404), (path, status, body[:200])
    assert b"root:" not in body and b'"secret": 1' not in body


def test_inside_refuses_escapes(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    assert inside(tmp_path, "a") == (tmp_path / "a").resolve()
    for name in ("../x", "a/../../x", "/etc/passwd", "a\\..\\x", "", "a//b", "c:x", "a\x00b"):
        with pytest.raises(UiError):
            inside(tmp_path, name)


def test_only_given_paths(tmp_path: Path, faceset: Path) -> None:
    with pytest.raises(UiError, match="no such"):
        UiConfig(facesets=(tmp_path / "nope",))
    with pytest.raises(UiError, match="not a faceset"):
        classify_paths([tmp_path])
    assert classify_paths([faceset]) == ([faceset], [], None)


def test_concurrent_removes_from_two_tabs_lose_nothing(serve: Any, faceset: Path) -> None:
    server = serve(facesets=(faceset,))
    ids = Faceset.open(faceset).ids
    a, b = ids[0:60:2], ids[1:60:2]
    results: list[int] = []

    def tab(batch: list[str]) -> None:
        for k in range(0, len(batch), 3):
            results.append(raw(server, "POST", "/api/facesets/0/remove", body={"ids": batch[k : k + 3]})[0])

    threads = [threading.Thread(target=tab, args=(x,)) for x in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) == {200}
    left = Faceset.open(faceset)
    assert len(left) == 240 - 60 and not set(a + b) & set(left.ids)
    # undo one tab's removal: only those come back
    assert raw(server, "POST", "/api/facesets/0/restore", body={"ids": a})[0] == 200
    assert len(Faceset.open(faceset)) == 240 - 30 and set(a) <= set(Faceset.open(faceset).ids)


def _square(x: float, y: float, s: float) -> list[list[float]]:
    return [[x, y], [x + s, y], [x + s, y + s], [x, y + s]]


def test_concurrent_polygon_edits_lose_nothing(serve: Any, faceset: Path) -> None:
    server = serve(facesets=(faceset,))
    ids = Faceset.open(faceset).ids
    faces = ids[:8] + ids[300 % 240 : 300 % 240 + 8]  # faces in the first shard and later ones
    info = {f: json.loads(raw(server, "GET", f"/api/facesets/0/face/{f}")[1]) for f in faces}
    statuses: list[int] = []

    def tab(chosen: list[str], kind: str) -> None:
        for j, f in enumerate(chosen):
            poly = [{"kind": kind, "points": _square(5 + j, 6, 20)}]
            body = {"version": info[f]["version"], "polygons": poly}
            statuses.append(raw(server, "PUT", f"/api/facesets/0/face/{f}/polygons", body=body)[0])

    threads = [threading.Thread(target=tab, args=(faces[k::2], kind)) for k, kind in ((0, "include"), (1, "exclude"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * len(faces)
    fs = Faceset.open(faceset)
    for k, f in enumerate(faces):
        face = fs[fs.index_of(f)]
        assert len(face.polygons) == 1 and face.polygons[0][0].value == ("include" if k % 2 == 0 else "exclude")


def test_stale_polygon_save_gets_409_with_the_current_labels(serve: Any, faceset: Path) -> None:
    server = serve(facesets=(faceset,))
    fid = Faceset.open(faceset).ids[5]
    v0 = json.loads(raw(server, "GET", f"/api/facesets/0/face/{fid}")[1])["version"]
    first = {"version": v0, "polygons": [{"kind": "include", "points": _square(4, 4, 30)}]}
    status, body, _ = raw(server, "PUT", f"/api/facesets/0/face/{fid}/polygons", body=first)
    assert status == 200
    second = {"version": v0, "polygons": [{"kind": "exclude", "points": _square(10, 10, 5)}]}
    status, body, _ = raw(server, "PUT", f"/api/facesets/0/face/{fid}/polygons", body=second)
    assert status == 409
    current = json.loads(body)["current"]
    assert (
        current["polygons"][0]["kind"] == "include"
        and current["version"] == json.loads(raw(server, "GET", f"/api/facesets/0/face/{fid}")[1])["version"]
    )
    # bad labels are refused with the reason, nothing written
    bad = {
        "version": current["version"],
        "polygons": [{"kind": "include", "points": [[0, 0], [10, 10], [0, 10], [10, 0]]}],
    }
    status, body, _ = raw(server, "PUT", f"/api/facesets/0/face/{fid}/polygons", body=bad)
    assert status == 400 and b"self-intersecting" in body


def test_paging_10000_faces_is_fast(serve: Any, make_faces: Any, tmp_path: Path) -> None:
    base = make_faces(40, size=32)
    path = tmp_path / "big"
    with FacesetWriter(path, shard_size=2048) as w:
        for i in range(10_240):
            f = base[i % 40]
            image = np.roll(f.image, i // 40, axis=1)
            w.add(dataclasses.replace(f, image=image, frame_index=i, id=None))
    server = serve(facesets=(path,))
    t0 = time.perf_counter()
    status, body, _ = raw(server, "GET", "/api/facesets/0/faces?offset=9000&limit=200")
    page_s = time.perf_counter() - t0
    page = json.loads(body)
    assert status == 200 and page["count"] == 10_240 and len(page["faces"]) == 200
    assert page["faces"][0]["frame"] == 9000
    t0 = time.perf_counter()
    for f in page["faces"][:50]:
        assert raw(server, "GET", f"/api/facesets/0/thumb/{f['id']}?size=96")[0] == 200
    thumb_ms = (time.perf_counter() - t0) / 50 * 1000
    print(f"10,240 faces: first page {page_s * 1000:.0f} ms, thumbnail {thumb_ms:.1f} ms each")
    assert page_s < 5 and thumb_ms < 200
