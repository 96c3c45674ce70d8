"""The faceset browser and the mask editor in a real headless chromium: what a person sees after each action."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fs_faceset import Faceset


def _open(page: Any, server: Any, view: str = "") -> None:
    page.goto(server.url + (f"#{view}" if view else ""))
    page.wait_for_selector("body[data-ready='1']")


def test_browse_page_delete_undo(serve: Any, faceset: Path, page: Any, shot: Any) -> None:
    server = serve(facesets=(faceset,))
    _open(page, server)
    page.wait_for_function("document.querySelectorAll('#grid .tile img').length === 200")
    page.wait_for_function(
        "[...document.querySelectorAll('#grid .tile img')].slice(0, 20)"
        ".every(i => i.complete && i.naturalWidth === 128)"
    )
    assert page.inner_text("#face-count") == "240 faces"
    assert page.inner_text("#page-label") == "page 1 / 2"
    shot(page, "browser_page1")
    page.click("#next-page")
    page.wait_for_function("document.querySelectorAll('#grid .tile').length === 40")
    assert page.inner_text("#page-label") == "page 2 / 2"
    page.click("#prev-page")
    page.wait_for_function("document.querySelectorAll('#grid .tile').length === 200")
    tiles = page.query_selector_all("#grid .tile")
    chosen = [t.get_attribute("data-id") for t in tiles[:3]]
    for t in tiles[:3]:
        t.click()
    assert len(page.query_selector_all("#grid .tile.selected")) == 3
    shot(page, "browser_selected")
    page.click("#delete-btn")
    page.wait_for_function("document.querySelector('#face-count').textContent === '237 faces (3 removed)'")
    visible = {t.get_attribute("data-id") for t in page.query_selector_all("#grid .tile")}
    assert not set(chosen) & visible
    assert len(Faceset.open(faceset)) == 237
    shot(page, "browser_after_delete")
    page.click("#undo-btn")
    page.wait_for_function("document.querySelector('#face-count').textContent === '240 faces'")
    assert set(chosen) <= {t.get_attribute("data-id") for t in page.query_selector_all("#grid .tile")}
    assert len(Faceset.open(faceset)) == 240


def test_sort_and_overlays(serve: Any, faceset: Path, page: Any, shot: Any) -> None:
    fs = Faceset.open(faceset)
    fid = fs.ids[0]
    fs.set_polygons(
        [fid], [[("include", [[8, 8], [56, 8], [56, 56], [8, 56]]), ("exclude", [[20, 20], [40, 20], [30, 40]])]]
    )
    server = serve(facesets=(faceset,))
    _open(page, server)
    page.wait_for_function("document.querySelectorAll('#grid .tile').length === 200")
    first = page.get_attribute("#grid .tile", "data-id")
    page.select_option("#sort-select", "brightness")
    page.wait_for_function(f"document.querySelector('#grid .tile').dataset.id !== '{first}'")
    from fs_faceset import sort

    expect = [fs.ids[i] for i in sort.by_brightness(fs)[:5]]
    assert [t.get_attribute("data-id") for t in page.query_selector_all("#grid .tile")[:5]] == expect
    page.select_option("#sort-select", "index")
    page.wait_for_function(f"document.querySelector('#grid .tile').dataset.id === '{fid}'")
    img = page.query_selector("#grid .tile img")
    plain = img.screenshot()
    page.check("input.overlay[value=landmarks]")
    page.check("input.overlay[value=polygons]")
    page.wait_for_function("document.querySelector('#grid .tile img').src.includes('overlay=landmarks,polygons')")
    page.wait_for_function("document.querySelector('#grid .tile img').complete")
    page.wait_for_timeout(200)
    assert img.screenshot() != plain  # the overlay is drawn on the face
    shot(page, "browser_overlays")


def test_mask_editor_polygon_survives_reload(serve: Any, faceset: Path, tiny_xseg: Path, page: Any, shot: Any) -> None:
    server = serve(facesets=(faceset,), xseg=tiny_xseg)
    _open(page, server)
    page.wait_for_function("document.querySelectorAll('#grid .tile').length === 200")
    fid = page.get_attribute("#grid .tile:nth-child(2)", "data-id")
    page.dblclick("#grid .tile:nth-child(2)")
    page.wait_for_function("document.querySelector('#view-editor').classList.contains('active')")
    page.wait_for_function(f"document.querySelector('#editor-face').textContent.includes('{fid}')")
    box = page.query_selector("#editor-canvas").bounding_box()
    px = lambda x, y: (box["x"] + x * box["width"] / 64, box["y"] + y * box["height"] / 64)  # noqa: E731
    for x, y in ((10, 12), (54, 12), (54, 58), (10, 58)):
        page.mouse.click(*px(x, y))
    page.mouse.click(*px(10, 12))  # back on the first point closes it
    page.check("input[name=kind][value=exclude]")
    page.mouse.click(*px(28, 30))  # inside the include polygon: an exclude one cut out of it
    for x, y in ((46, 30), (37, 46)):
        page.mouse.click(*px(x, y))
    page.keyboard.press("Enter")
    page.click("#save-poly")
    page.wait_for_function("document.querySelector('#editor-msg').textContent === 'saved 2 polygon(s)'")
    # the XSeg prediction beside the labels (an untrained net here: only that it is computed and shown)
    page.wait_for_function("!document.querySelector('#xseg-fig').hidden")
    page.wait_for_function("document.querySelector('#xseg-img').complete")
    assert page.evaluate("document.querySelector('#xseg-img').naturalWidth") == 64
    shot(page, "editor_saved")
    face = Faceset.open(faceset)[Faceset.open(faceset).index_of(fid)]
    assert [k.value for k, _ in face.polygons] == ["include", "exclude"]
    assert abs(float(face.polygons[0][1][1][0]) - 54) < 1.0  # the second click, in face pixels
    # the labels as XSeg trains from them: white inside the include square, black in the exclude cut
    page.reload()  # the token left the URL: the session cookie carries it now
    page.wait_for_selector("body[data-ready='1']")
    page.click("#tabs button[data-view=browser]")
    page.wait_for_function("document.querySelectorAll('#grid .tile').length === 200")
    page.dblclick("#grid .tile:nth-child(2)")
    page.wait_for_function(f"document.querySelector('#editor-face').textContent.includes('{fid}')")
    page.wait_for_function(
        "document.querySelector('#labels-img').complete && document.querySelector('#labels-img').naturalWidth > 0"
    )
    inside_px = page.evaluate(
        """() => { const c = document.createElement('canvas'), img = document.getElementById('labels-img');
        c.width = img.naturalWidth; c.height = img.naturalHeight; const g = c.getContext('2d'); g.drawImage(img, 0, 0);
        const at = (x, y) => g.getImageData(x * c.width / 64, y * c.height / 64, 1, 1).data[0];
        return [at(16, 50), at(5, 5), at(37, 35)]; }"""
    )
    assert inside_px[0] > 200 and inside_px[1] < 30 and inside_px[2] < 30  # include, outside, the exclude cut
    # the canvas shows the saved polygons again after the reload: a green edge pixel on the include square
    green = page.evaluate(
        """() => { const g = document.getElementById('editor-canvas').getContext('2d');
        const d = g.getImageData(Math.round(32 * 8), Math.round(12 * 8), 1, 1).data; return [d[0], d[1], d[2]]; }"""
    )
    assert green[1] > 150 and green[0] < 120, green
    shot(page, "editor_after_reload")


def test_two_tabs_lose_nothing(serve: Any, faceset: Path, browser: Any, shot: Any) -> None:
    server = serve(facesets=(faceset,))
    context = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
    a, b = context.new_page(), context.new_page()
    for pg in (a, b):
        _open(pg, server)
        pg.wait_for_function("document.querySelectorAll('#grid .tile').length === 200")
    ids = [t.get_attribute("data-id") for t in a.query_selector_all("#grid .tile")[:3]]
    # deletes from both tabs, each tab still showing the other's face: both removals are kept
    a.click(f"#grid .tile[data-id='{ids[0]}']")
    a.click("#delete-btn")
    a.wait_for_function("document.querySelector('#face-count').textContent === '239 faces (1 removed)'")
    b.click(f"#grid .tile[data-id='{ids[1]}']")
    b.click("#delete-btn")
    b.wait_for_function("document.querySelector('#face-count').textContent === '238 faces (2 removed)'")
    assert not {ids[0], ids[1]} & set(Faceset.open(faceset).ids)
    # both tabs open the same face's labels; the second save would overwrite the first: it is refused and the
    # tab shows the labels the other tab saved
    fid = ids[2]
    for pg in (a, b):
        pg.dblclick(f"#grid .tile[data-id='{fid}']")
        pg.wait_for_function(f"document.querySelector('#editor-face').textContent.includes('{fid}')")
    for pg, pts in ((a, ((10, 10), (50, 10), (50, 50))), (b, ((12, 40), (40, 40), (26, 60)))):
        box = pg.query_selector("#editor-canvas").bounding_box()
        for x, y in pts:
            pg.mouse.click(box["x"] + x * box["width"] / 64, box["y"] + y * box["height"] / 64)
        pg.keyboard.press("Enter")
    a.click("#save-poly")
    a.wait_for_function("document.querySelector('#editor-msg').textContent === 'saved 1 polygon(s)'")
    b.click("#save-poly")
    b.wait_for_function("document.querySelector('#editor-msg').textContent.startsWith('another tab saved')")
    b.wait_for_function(  # the rasterised labels beside it are tab A's triangle now
        """() => { const img = document.getElementById('labels-img');
        if (!img.complete || !img.naturalWidth) return false;
        const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext('2d'); g.drawImage(img, 0, 0); return g.getImageData(45, 15, 1, 1).data[0] > 200; }"""
    )
    shot(b, "two_tabs_conflict")
    face = Faceset.open(faceset)[Faceset.open(faceset).index_of(fid)]
    assert len(face.polygons) == 1 and abs(float(face.polygons[0][1][1][0]) - 50) < 1  # tab A's triangle
    b.click("#save-poly")  # B now works on top of A's labels: saving again keeps A's polygon
    b.wait_for_function("document.querySelector('#editor-msg').textContent === 'saved 1 polygon(s)'")
    context.close()
