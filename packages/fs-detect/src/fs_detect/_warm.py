"""Imported by the extraction fork server only (:func:`fs_detect._parallel._preload`), never by a library user.

Importing it compiles fs-align's landmark kernel (numba; or loads it from numba's disk cache) once in the
server, so every helper forked from it starts with the compiled loop instead of paying 0.3-1.5 s on its first
face. Best effort: if that fails, each helper does it on its own, as without this module.
"""

from __future__ import annotations

import contextlib

with contextlib.suppress(Exception):
    from fs_align._ert import warm_up

    warm_up()
