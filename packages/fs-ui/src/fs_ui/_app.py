"""The Starlette app: routes over the faceset, merge and training services; static files from the package."""

from __future__ import annotations

import json
import mimetypes
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fs_faceset import FacesetError
from fs_ui._auth import TokenMiddleware
from fs_ui._config import UiConfig
from fs_ui._facesets import SORT_KEYS, Conflict, FacesetService
from fs_ui._merge import MergeService
from fs_ui._paths import inside
from fs_ui._training import run_status, send_control
from fs_ui.errors import UiError

__all__ = ["create_app"]

U8 = npt.NDArray[np.uint8]
_STATIC = Path(str(resources.files("fs_ui") / "static"))
_NO_STORE = {"cache-control": "no-store"}


def _image(img: U8, fmt: str = ".jpg", quality: int = 88, headers: dict[str, str] | None = None) -> Response:
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    ok, buf = cv2.imencode(fmt, img, params)
    if not ok:
        raise UiError("image could not be encoded")
    media = "image/jpeg" if fmt == ".jpg" else "image/png"
    return Response(buf.tobytes(), media_type=media, headers={**_NO_STORE, **(headers or {})})


def _error(exc: Exception, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise UiError("request body: expected JSON") from None
    if not isinstance(data, dict):
        raise UiError("request body: expected a JSON object")
    return data


class _Ui:
    """The services of one app (one per :func:`create_app`)."""

    def __init__(self, config: UiConfig) -> None:
        self.config = config
        self.facesets = [FacesetService(p) for p in config.facesets]
        self.runs = list(config.runs)
        self._merge: MergeService | None = None

    def faceset(self, request: Request) -> FacesetService:
        svc: FacesetService = _pick(self.facesets, request.path_params["fs"], "faceset")
        return svc

    def run(self, request: Request) -> Path:
        run: Path = _pick(self.runs, request.path_params["run"], "training folder")
        return run

    def merge(self) -> MergeService:
        """The merge tuner, set up on first use (the model is loaded then)."""
        if self._merge is not None:
            return self._merge
        cfg = self.config
        model = cfg.merge_model
        if cfg.video is None or model is None or not self.facesets:
            raise UiError("the merge tuner needs a dst video, its faceset and --model (or a training folder)")
        errors = []
        for fs in self.facesets:
            try:
                out = cfg.out_dir or cfg.video.parent
                self._merge = MergeService(cfg.video, fs.path, model, out, xseg=cfg.xseg, device=cfg.device)
                return self._merge
            except (UiError, FacesetError) as exc:
                errors.append(str(exc))
        raise UiError("; ".join(errors))


def _pick(items: list[Any], key: str, what: str) -> Any:
    if not key.isdigit() or int(key) >= len(items):
        raise UiError(f"no {what} #{key}")
    return items[int(key)]


def create_app(config: UiConfig) -> Starlette:
    """The Starlette app of one UI session; every request must carry ``config.token`` (see README)."""
    ui = _Ui(config)

    async def index(request: Request) -> Response:
        return Response((_STATIC / "index.html").read_bytes(), media_type="text/html", headers=_NO_STORE)

    async def static(request: Request) -> Response:
        path = inside(_STATIC, request.path_params["name"])
        if not path.is_file():
            return _error(UiError(f"no static file {request.path_params['name']!r}"), 404)
        media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return Response(path.read_bytes(), media_type=media, headers=_NO_STORE)

    async def info(request: Request) -> Response:
        def build() -> dict[str, Any]:
            return {
                "facesets": [{"id": i, **s.summary()} for i, s in enumerate(ui.facesets)],
                "runs": [{"id": i, "name": r.name} for i, r in enumerate(ui.runs)],
                "sort_keys": ["index", *SORT_KEYS],
                "merge": config.video is not None and config.merge_model is not None and bool(ui.facesets),
                "xseg": config.xseg is not None,
            }

        return JSONResponse(await run_in_threadpool(build))

    # -- facesets ---------------------------------------------------------------------------------------------
    async def faces(request: Request) -> Response:
        q = request.query_params
        svc = ui.faceset(request)
        offset, limit = int(q.get("offset", "0")), int(q.get("limit", "100"))
        return JSONResponse(await run_in_threadpool(svc.page, offset, limit, q.get("sort", "index")))

    async def thumb(request: Request) -> Response:
        svc = ui.faceset(request)
        size = max(32, min(int(request.query_params.get("size", "128")), 1024))
        overlays = set(filter(None, request.query_params.get("overlay", "").split(",")))
        img = await run_in_threadpool(svc.thumbnail, request.path_params["id"], size, overlays)
        return _image(img)

    async def face(request: Request) -> Response:
        svc = ui.faceset(request)
        return JSONResponse(await run_in_threadpool(svc.face_info, request.path_params["id"]))

    async def labels_png(request: Request) -> Response:
        svc = ui.faceset(request)
        return _image(await run_in_threadpool(svc.labels_mask, request.path_params["id"]), ".png")

    async def xseg_png(request: Request) -> Response:
        if config.xseg is None:
            return _error(UiError("no XSeg model given (fs ui --xseg FILE)"), 404)
        svc = ui.faceset(request)
        fid = request.path_params["id"]
        return _image(await run_in_threadpool(svc.xseg_mask, fid, config.xseg, config.device), ".png")

    async def remove(request: Request) -> Response:
        svc, data = ui.faceset(request), await _body(request)
        ids = data.get("ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise UiError("remove: expected {ids: [face id, ...]}")
        return JSONResponse(await run_in_threadpool(svc.remove, ids))

    async def restore(request: Request) -> Response:
        svc, data = ui.faceset(request), await _body(request)
        ids = data.get("ids")
        if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
            raise UiError("restore: expected {ids: [face id, ...]} or {ids: null} for all")
        return JSONResponse(await run_in_threadpool(svc.restore, ids))

    async def polygons(request: Request) -> Response:
        svc, data = ui.faceset(request), await _body(request)
        fid = request.path_params["id"]
        try:
            out = await run_in_threadpool(svc.set_polygons, fid, str(data.get("version", "")), data.get("polygons"))
        except Conflict as exc:
            return JSONResponse({"error": str(exc), "current": exc.current}, status_code=409)
        return JSONResponse(out)

    # -- merge ------------------------------------------------------------------------------------------------
    async def merge_info(request: Request) -> Response:
        return JSONResponse((await run_in_threadpool(ui.merge)).info())

    async def merge_frame(request: Request) -> Response:
        svc = await run_in_threadpool(ui.merge)
        return _image(await run_in_threadpool(svc.frame, int(request.path_params["index"])))

    async def merge_preview(request: Request) -> Response:
        svc, data = await run_in_threadpool(ui.merge), await _body(request)
        cfg = svc.parse_config(data.get("config", {}))
        img, ms = await run_in_threadpool(svc.preview, int(data.get("frame", 0)), cfg)
        return _image(img, headers={"x-merge-ms": f"{ms:.1f}"})

    async def merge_save(request: Request) -> Response:
        svc, data = await run_in_threadpool(ui.merge), await _body(request)
        path = await run_in_threadpool(svc.save_config, svc.parse_config(data.get("config", {})))
        return JSONResponse({"saved": str(path)})

    async def merge_render(request: Request) -> Response:
        svc = await run_in_threadpool(ui.merge)
        if request.method == "POST":
            svc.render(svc.parse_config((await _body(request)).get("config", {})))
        job = svc.job
        return JSONResponse(job.__dict__ if job is not None else {"state": "none"})

    # -- training ---------------------------------------------------------------------------------------------
    async def run_info(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(run_status, ui.run(request)))

    async def run_preview(request: Request) -> Response:
        path = inside(ui.run(request), "previews/preview_latest.png")
        if not path.is_file():
            return _error(UiError(f"{path}: no preview yet"), 404)
        return Response(path.read_bytes(), media_type="image/png", headers=_NO_STORE)

    async def run_file(request: Request) -> Response:
        path = inside(ui.run(request), request.path_params["name"])
        if not path.is_file() or path.suffix.lower() not in (".png", ".jpg", ".json", ".jsonl"):
            return _error(UiError(f"{request.path_params['name']!r}: no such image or log in the run"), 404)
        media = mimetypes.guess_type(path.name)[0] or "application/json"
        return Response(path.read_bytes(), media_type=media, headers=_NO_STORE)

    async def run_control(request: Request) -> Response:
        data = await _body(request)
        return JSONResponse(await run_in_threadpool(send_control, ui.run(request), str(data.get("command"))))

    routes = [
        Route("/", index),
        Route("/static/{name:path}", static),
        Route("/api/info", info),
        Route("/api/facesets/{fs}/faces", faces),
        Route("/api/facesets/{fs}/thumb/{id}", thumb),
        Route("/api/facesets/{fs}/face/{id}", face),
        Route("/api/facesets/{fs}/face/{id}/labels.png", labels_png),
        Route("/api/facesets/{fs}/face/{id}/xseg.png", xseg_png),
        Route("/api/facesets/{fs}/face/{id}/polygons", polygons, methods=["PUT"]),
        Route("/api/facesets/{fs}/remove", remove, methods=["POST"]),
        Route("/api/facesets/{fs}/restore", restore, methods=["POST"]),
        Route("/api/merge", merge_info),
        Route("/api/merge/frame/{index:int}", merge_frame),
        Route("/api/merge/preview", merge_preview, methods=["POST"]),
        Route("/api/merge/save", merge_save, methods=["POST"]),
        Route("/api/merge/render", merge_render, methods=["GET", "POST"]),
        Route("/api/runs/{run}", run_info),
        Route("/api/runs/{run}/preview.png", run_preview),
        Route("/api/runs/{run}/file/{name:path}", run_file),
        Route("/api/runs/{run}/control", run_control, methods=["POST"]),
    ]

    async def ui_error(request: Request, exc: Exception) -> Response:
        return _error(exc, 400)

    async def bad_number(request: Request, exc: Exception) -> Response:
        return _error(UiError(f"bad number in the request: {exc}"), 400)

    handlers: dict[Any, Any] = {UiError: ui_error, ValueError: bad_number, json.JSONDecodeError: bad_number}
    return Starlette(
        routes=routes,
        middleware=[Middleware(TokenMiddleware, token=config.token)],
        exception_handlers=handlers,
    )
