"""The report that per-file importers return."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["ImportReport"]


@dataclass(frozen=True)
class ImportReport:
    """What an import did: the faceset written, the ids added, and each skipped file with the reason."""

    faceset: Path
    ids: tuple[str, ...]
    skipped: tuple[tuple[Path, str], ...]

    @property
    def count(self) -> int:
        """Number of faces imported."""
        return len(self.ids)
