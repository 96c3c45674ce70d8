"""``fs ui``: the local web app (fs-ui) over the facesets, training folders and dst video given."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fs_cli._ui import Ui
from fs_cli.errors import CliError


def register(app: typer.Typer) -> None:
    @app.command("ui")
    def ui_cmd(
        ctx: typer.Context,
        paths: Annotated[
            list[Path],
            typer.Argument(help="Faceset folders, training folders (fs train -o) and at most one dst video."),
        ],
        model: Annotated[
            Path | None, typer.Option(help="Model for the merge tuner (default: a training folder's model).")
        ] = None,
        xseg: Annotated[Path | None, typer.Option(help="XSeg checkpoint: its prediction in the mask editor.")] = None,
        out: Annotated[
            Path | None, typer.Option("-o", "--out", help="Where the merge tuner writes merge.toml and swap.mp4.")
        ] = None,
        host: Annotated[
            str, typer.Option(help="Interface to listen on; anything but 127.0.0.1 exposes your faces.")
        ] = "127.0.0.1",
        port: Annotated[int, typer.Option(min=0, max=65535, help="0 picks a free port.")] = 0,
        browser: Annotated[bool, typer.Option(help="Open the browser on the URL.")] = True,
        device: Annotated[str, typer.Option(help="Where the models run: cpu, cuda, mps.")] = "cpu",
    ) -> None:
        """Curate facesets, draw mask polygons, tune the merge frame by frame and watch training in a browser.

        Only the folders and files given here are served or changed; every request needs the secret token in
        the printed URL. Stop with Ctrl-C.

        Examples:

            fs ui dst_faces

            fs ui dst.mp4 dst_faces model_dir --xseg xseg/xseg.safetensors
        """
        import fs_ui

        ui = Ui(ctx)
        try:
            facesets, runs, video = fs_ui.classify_paths(paths)
            config = fs_ui.UiConfig(facesets=tuple(facesets), runs=tuple(runs), video=video, model=model,
                                    xseg=xseg, out_dir=out, device=device)  # fmt: skip
        except fs_ui.UiError as exc:
            raise CliError(str(exc)) from None
        if host not in ("127.0.0.1", "localhost", "::1"):
            ui.warn(f"--host {host}: the UI is reachable from other machines (the token is its only guard)")

        def ready(url: str) -> None:
            ui.out.print(f"fs ui: {url}", markup=False)
            ui.note("only the folders given are served; Ctrl-C stops")

        try:
            fs_ui.serve(config, host=host, port=port, open_browser=browser, on_ready=ready)
        except fs_ui.UiError as exc:
            raise CliError(str(exc)) from None
        except KeyboardInterrupt:  # Ctrl-C is how a server is meant to stop: say so, exit 0
            ui.note("fs ui: stopped")
