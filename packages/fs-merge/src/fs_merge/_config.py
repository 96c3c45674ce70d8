"""``MergeConfig``: every knob of :func:`fs_merge.merge_face`, frozen, validated, saved as JSON or TOML."""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fs_align import MaskSource, atomic_write, parse_enum
from fs_merge._color import ColorTransfer
from fs_merge._mask import Feather
from fs_merge.errors import MergeError

__all__ = ["MERGE_MASK_SOURCES", "MergeConfig", "MergeMode", "SharpenMode", "format_mask", "parse_mask"]

MERGE_MASK_SOURCES = (
    MaskSource.LEARNED_PRD,
    MaskSource.LEARNED_DST,
    MaskSource.HULL,
    MaskSource.COMPONENTS,
    MaskSource.EXTENDED,
    MaskSource.STORED,
    MaskSource.XSEG,
)
"""The :class:`fs_align.MaskSource` members a merge mask can combine (polygons are rasterised into the stored
mask first, e.g. by ``fs mask apply``)."""

_MASK_ALIASES = {"dst": "hull", "xseg_dst": "xseg", "xseg_prd": "xseg"}
"""DeepFaceLab's names: ``dst`` is its landmark-hull mode; ``XSeg-dst``/``XSeg-prd`` an XSeg prediction (fs
segments the dst crop, which the swapped face replaces)."""


class MergeMode(enum.Enum):
    """How the generated face is composited into the frame (DeepFaceLab's merge modes)."""

    OVERLAY = "overlay"
    """Alpha-blend the (colour-transferred) face with the feathered mask."""
    HIST_MATCH = "hist-match"
    """Per-channel histogram matching against the destination face, then overlay."""
    SEAMLESS = "seamless"
    """Poisson blending inside the mask, then alpha-blend with the feathered mask."""
    SEAMLESS_HIST_MATCH = "seamless-hist-match"
    """Histogram matching, then seamless."""
    RAW_RGB = "raw-rgb"
    """Paste the whole warped face square, no mask (for inspecting the model's output in place)."""
    RAW_PREDICT = "raw-predict"
    """Return the processed face in face space (``S x S``), not a frame (DeepFaceLab's raw-predict)."""


class SharpenMode(enum.Enum):
    """Kernel of the face sharpening (a positive ``sharpen_amount``) or blur (a negative one)."""

    NONE = "none"
    BOX = "box"
    GAUSSIAN = "gaussian"


def _parse_enum(cls: type[enum.Enum], value: Any, field: str) -> Any:
    return parse_enum(cls, value, f"MergeConfig.{field}: unknown value", MergeError)


def parse_mask(value: str | MaskSource | Iterable[str | MaskSource]) -> tuple[MaskSource, ...]:
    """A merge mask combination: the product of :class:`fs_align.MaskSource` masks.

    Accepts DeepFaceLab's strings (``"learned-prd*hull"``, ``"learned-prd*learned-dst"``, ``"XSeg-dst"``,
    ``"dst"`` = hull), ``"full"`` (the whole face square: the empty product), one member, or a sequence of members
    or names. Repeated sources count once.

    Raises:
        MergeError: an unknown name, or a source that does not apply at merge (``polygons``).
    """
    if isinstance(value, MaskSource):
        parts: list[Any] = [value]
    elif isinstance(value, str):
        text = value.strip()
        parts = [] if text.lower() in ("full", "") else [p.strip() for p in text.split("*")]
    else:
        try:
            parts = list(value)
        except TypeError:
            raise MergeError(f"MergeConfig.mask: expected a string like 'learned-prd*hull', got {value!r}") from None
    out: list[MaskSource] = []
    for part in parts:
        if isinstance(part, str):
            part = _MASK_ALIASES.get(part.lower().replace("-", "_"), part)
        src = parse_enum(MaskSource, part, "MergeConfig.mask: unknown mask source", MergeError)
        if src not in MERGE_MASK_SOURCES:
            raise MergeError(
                f"MergeConfig.mask: {src.value!r} does not apply at merge (rasterise polygons into the stored mask, "
                f"e.g. `fs mask apply`, and use 'stored'); known: {', '.join(m.value for m in MERGE_MASK_SOURCES)}"
            )
        if src not in out:
            out.append(src)
    return tuple(out)


def format_mask(mask: Iterable[MaskSource]) -> str:
    """The DeepFaceLab-style string of a mask combination (``"learned-prd*hull"``; ``"full"`` when empty)."""
    return "*".join(m.value for m in mask) or "full"


@dataclass(frozen=True)
class MergeConfig:
    """Settings of :func:`fs_merge.merge_face` (all pixel sizes are frame pixels unless noted).

    Attributes:
        mode: the :class:`MergeMode`.
        color_transfer: the :class:`fs_merge.ColorTransfer` method applied to the face against the destination
            face (in face space) before compositing; ``none`` to skip.
        erode_px: shrink the mask by this many pixels (negative grows it).
        feather_px: soften the mask edge over this many pixels.
        feather: :class:`fs_merge.Feather` kernel of the softening.
        clip_to_face: keep the mask (and its feathered edge) inside the warped face square.
        sharpen: :class:`SharpenMode` kernel for ``sharpen_amount``.
        sharpen_amount: -100..100 in face space: > 0 unsharp-masks the face, < 0 blurs it.
        sharpen_radius: kernel radius of sharpen/blur in face pixels.
        denoise_power: 0..100: bilateral-filter strength applied to the face (0 = off).
        motion_blur_power: 0..100: blur the pasted face along its motion (``merge_face(motion=...)``) by
            ``|motion| * power / 100`` pixels.
        hist_match_threshold: 0..255: cap of the hist-match modes (255 = none).
        masked_hist_match: take hist-match statistics inside the mask only.
        seamless_mixed: mix gradients in the seamless modes instead of cloning.
        allow_partial: merge faces whose mask reaches outside the frame (clipped to the frame) instead of
            raising :class:`fs_merge.MergeError`.
        mask: which masks :func:`fs_merge.swap_frames` multiplies into the pasted face's mask, a tuple of
            :class:`fs_align.MaskSource` (strings like ``"learned-prd*hull"`` are parsed, see
            :func:`parse_mask`; the empty tuple, ``"full"``, is the whole face square). ``merge_face`` takes its
            mask as an argument and ignores this field.
    """

    mode: MergeMode = MergeMode.OVERLAY
    color_transfer: ColorTransfer = ColorTransfer.RCT
    erode_px: int = 0
    feather_px: int = 0
    feather: Feather = Feather.GAUSSIAN
    clip_to_face: bool = True
    sharpen: SharpenMode = SharpenMode.NONE
    sharpen_amount: int = 0
    sharpen_radius: int = 2
    denoise_power: int = 0
    motion_blur_power: int = 0
    hist_match_threshold: int = 255
    masked_hist_match: bool = True
    seamless_mixed: bool = False
    allow_partial: bool = False
    mask: tuple[MaskSource, ...] = (MaskSource.LEARNED_PRD,)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mask", parse_mask(self.mask))
        object.__setattr__(self, "mode", _parse_enum(MergeMode, self.mode, "mode"))
        try:
            object.__setattr__(self, "color_transfer", ColorTransfer.parse(self.color_transfer))
        except ValueError as exc:
            raise MergeError(f"MergeConfig.color_transfer: {exc}") from exc
        object.__setattr__(self, "feather", _parse_enum(Feather, self.feather, "feather"))
        object.__setattr__(self, "sharpen", _parse_enum(SharpenMode, self.sharpen, "sharpen"))
        ranges = {
            "erode_px": (-1000, 1000),
            "feather_px": (0, 1000),
            "sharpen_amount": (-100, 100),
            "sharpen_radius": (1, 50),
            "denoise_power": (0, 100),
            "motion_blur_power": (0, 100),
            "hist_match_threshold": (0, 255),
        }
        for name, (lo, hi) in ranges.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise MergeError(f"MergeConfig.{name}: expected an int in [{lo}, {hi}], got {value!r}")
        for name in ("clip_to_face", "masked_hist_match", "seamless_mixed", "allow_partial"):
            if not isinstance(getattr(self, name), bool):
                raise MergeError(f"MergeConfig.{name}: expected a bool, got {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain ``str -> str | int | bool`` dict (enums by value; ``mask`` as ``"learned-prd*hull"``)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.value if isinstance(value, enum.Enum) else value
        out["mask"] = format_mask(self.mask)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MergeConfig:
        """Build from a dict such as :meth:`to_dict` returns; unknown keys raise :class:`MergeError`.

        Files written before ``mask`` existed read with the default mask; ``mask_mode`` (DeepFaceLab's and the old
        ``fs merge --mask`` name) is read as ``mask``.
        """
        if not isinstance(data, dict):
            raise MergeError(f"MergeConfig: expected a dict, got {type(data).__name__}")
        if "mask_mode" in data and "mask" not in data:
            data = {("mask" if k == "mask_mode" else k): v for k, v in data.items()}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise MergeError(f"MergeConfig: unknown keys {unknown}; known: {sorted(known)}")
        return cls(**data)

    def to_json(self) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> MergeConfig:
        """Parse :meth:`to_json`'s output."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MergeError(f"MergeConfig: not valid JSON ({exc})") from exc
        return cls.from_dict(data)

    def to_toml(self) -> str:
        """TOML text (one ``key = value`` line per field, under ``[merge]``)."""
        lines = ["[merge]"]
        for key, value in self.to_dict().items():
            if isinstance(value, bool):
                lines.append(f"{key} = {'true' if value else 'false'}")
            elif isinstance(value, int):
                lines.append(f"{key} = {value}")
            else:
                lines.append(f"{key} = {json.dumps(str(value))}")
        return "\n".join(lines) + "\n"

    @classmethod
    def from_toml(cls, text: str) -> MergeConfig:
        """Parse TOML with the fields at top level or under ``[merge]`` (Python 3.11's tomllib, or tomli)."""
        try:
            import tomllib as toml_reader
        except ImportError:  # Python 3.10
            try:
                import tomli as toml_reader  # type: ignore[no-redef]
            except ImportError as exc:
                raise MergeError("MergeConfig.from_toml needs Python >= 3.11 or `pip install tomli`") from exc
        try:
            data = toml_reader.loads(text)
        except toml_reader.TOMLDecodeError as exc:
            raise MergeError(f"MergeConfig: not valid TOML ({exc})") from exc
        return cls.from_dict(data.get("merge", data))

    def save(self, path: str | Path) -> Path:
        """Write as ``.json`` or ``.toml`` (by suffix), atomically (temp file, fsync, rename)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".json", ".toml"):
            raise MergeError(f"{path}: MergeConfig files end in .json or .toml")
        return atomic_write(path, self.to_json() if suffix == ".json" else self.to_toml())

    @classmethod
    def load(cls, path: str | Path) -> MergeConfig:
        """Read a ``.json`` or ``.toml`` file written by :meth:`save` (or by hand)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise MergeError(f"{path}: cannot read merge config ({exc})") from exc
        try:
            if path.suffix.lower() == ".toml":
                return cls.from_toml(text)
            return cls.from_json(text)
        except MergeError as exc:
            raise MergeError(f"{path}: {exc}") from exc
