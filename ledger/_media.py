"""Beyond scalars: images, tables and histograms, as plain files and small references.

``run.log({"samples": ledger.Image(x)})`` copies what it needs at once (the caller may
reuse its buffer) and leaves encoding and writing to the run's background thread; the
metric record holds only a reference such as
``{"_type": "image", "path": "media/images/samples/12.png", "width": 28, "height": 28}``.
Histograms are small and live inline in the record as bin edges and counts.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from ledger import _format

log = logging.getLogger("ledger")

MAX_PIXELS = 4096 * 4096  # larger images are downscaled, with a warning
MAX_TABLE_ROWS = 1_000_000
MAX_BINS = 10_000
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ---- images ------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(pixels: bytes, width: int, height: int, channels: int) -> bytes:
    """An 8-bit PNG of raw row-major pixels (1 = grey, 3 = RGB, 4 = RGBA), no dependency."""
    color = {1: 0, 3: 2, 4: 6}[channels]
    stride = width * channels
    raw = b"".join(b"\x00" + pixels[y * stride : (y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    body = _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(raw, 6)) + _png_chunk(b"IEND", b"")
    return _PNG_SIGNATURE + body


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's header."""
    if not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        msg = "not a PNG file"
        raise ValueError(msg)
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


class Image:
    """An image to log: a file path, a PIL image, or an array (HxW, HxWx3, HxWx4; floats in
    [0, 1] or uint8). Stored once as PNG under ``media/images/<key>/<step>.png``."""

    def __init__(self, data: Any, caption: Any = None) -> None:
        if caption is not None and not isinstance(caption, str):
            msg = f"Image caption must be a string, got {type(caption).__name__}"
            raise TypeError(msg)
        self.caption = caption
        self._png: bytes | None = None
        self._pixels: tuple[bytes, int, int, int] | None = None
        if isinstance(data, (str, os.PathLike)):
            self._from_file(os.fspath(data))
        elif type(data).__module__.startswith("PIL."):
            self._from_pil(data)
        else:
            self._from_array(data)

    def _from_file(self, path: str) -> None:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            msg = f"Image: no file {path!r} (a string is read as a path; give arrays as arrays)"
            raise FileNotFoundError(msg) from None
        if data.startswith(_PNG_SIGNATURE):
            self._png = data
            self.width, self.height = png_size(data)
            return
        try:
            from PIL import Image as PILImage  # noqa: PLC0415
        except ImportError:
            msg = f"Image({path!r}): only PNG files can be read without Pillow; pip install pillow for other formats"
            raise TypeError(msg) from None
        with PILImage.open(io.BytesIO(data)) as img:
            self._from_pil(img)

    def _from_pil(self, img: Any) -> None:
        if img.mode not in ("L", "RGB", "RGBA"):
            img = img.convert("RGBA" if "A" in img.mode else "RGB")
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        self._png = buf.getvalue()
        self.width, self.height = img.size

    def _from_array(self, data: Any) -> None:
        try:
            import numpy as np  # noqa: PLC0415
        except ImportError:
            msg = "Image(array) needs numpy; or give a file path or a PIL image"
            raise TypeError(msg) from None
        if hasattr(data, "detach"):  # a torch tensor
            data = data.detach().cpu().numpy()
        try:
            arr = np.asarray(data)
        except (TypeError, ValueError):
            arr = np.asarray([])
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))) or arr.size == 0:
            msg = (
                f"Image: expected a path, a PIL image or an array of shape HxW, HxWx3 or HxWx4, "
                f"got {type(data).__name__} of shape {getattr(arr, 'shape', None)}"
            )
            raise TypeError(msg)
        if arr.dtype != np.uint8:
            if arr.dtype.kind not in "fiub":
                msg = f"Image: pixel values must be numbers, got dtype {arr.dtype}"
                raise TypeError(msg)
            floats = arr.astype(np.float64)
            if arr.dtype.kind == "f" and np.nanmax(floats, initial=0.0) <= 1.0:
                floats = floats * 255.0
            arr = np.clip(np.nan_to_num(floats), 0, 255).round().astype(np.uint8)
        height, width = arr.shape[:2]
        if height * width > MAX_PIXELS:
            factor = math.ceil(math.sqrt(height * width / MAX_PIXELS))
            log.warning(
                "ledger: an image of %dx%d pixels is downscaled %dx to fit %d pixels", width, height, factor, MAX_PIXELS
            )
            arr = arr[::factor, ::factor]
            height, width = arr.shape[:2]
        channels = 1 if arr.ndim == 2 else arr.shape[2]
        self._pixels = (np.ascontiguousarray(arr).tobytes(), int(width), int(height), int(channels))
        self.width, self.height = int(width), int(height)

    def encode(self) -> bytes:
        """The PNG bytes (encoded on first use, in the writer thread)."""
        if self._png is None:
            assert self._pixels is not None  # noqa: S101 (set by every constructor path)
            self._png = encode_png(*self._pixels)
            self._pixels = None
        return self._png

    def ref(self, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {_format.TYPE_KEY: "image", "path": path, "width": self.width, "height": self.height}
        if self.caption is not None:
            out["caption"] = self.caption
        return out


# ---- tables ------------------------------------------------------------------------------------


class Table:
    """A table to log (predictions: input id, label, prediction, score...): a DataFrame, a
    list of rows (lists or dicts), with ``columns`` naming them. Stored as CSV under
    ``media/tables/<key>/<step>.csv``."""

    def __init__(self, data: Any = None, columns: list[str] | None = None) -> None:
        if hasattr(data, "to_dict") and hasattr(data, "columns"):  # a pandas DataFrame
            self.columns = [str(c) for c in data.columns]
            self.rows = [list(r) for r in data.itertuples(index=False, name=None)]
        else:
            rows = list(data or [])
            if rows and isinstance(rows[0], dict):
                keys = columns or list(dict.fromkeys(k for r in rows for k in r))
                self.columns = [str(k) for k in keys]
                self.rows = [[r.get(k) for k in keys] for r in rows]
            else:
                self.rows = [list(r) for r in rows]
                width = max((len(r) for r in self.rows), default=len(columns or []))
                self.columns = [str(c) for c in columns] if columns else [f"col{i}" for i in range(width)]
        if columns is not None and len(columns) != len(self.columns):
            msg = f"Table: {len(columns)} column names for {len(self.columns)} columns"
            raise ValueError(msg)
        if any(len(r) != len(self.columns) for r in self.rows):
            msg = f"Table: every row must have {len(self.columns)} values ({', '.join(self.columns)})"
            raise ValueError(msg)
        if len(self.rows) > MAX_TABLE_ROWS:
            msg = f"Table: {len(self.rows)} rows is more than {MAX_TABLE_ROWS}; log a sample of them"
            raise ValueError(msg)

    def encode(self) -> bytes:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return buf.getvalue().encode("utf-8")

    def ref(self, path: str) -> dict[str, Any]:
        return {_format.TYPE_KEY: "table", "path": path, "rows": len(self.rows), "columns": list(self.columns)}


# ---- histograms --------------------------------------------------------------------------------


class Histogram:
    """A histogram of values (a list, an array or a tensor), kept inline in the record as
    bin edges and counts: small and deterministic, so thousands of steps stay cheap."""

    def __init__(self, values: Any, bins: int = 64) -> None:
        if not isinstance(bins, int) or isinstance(bins, bool) or not 1 <= bins <= MAX_BINS:
            msg = f"Histogram: bins must be an int from 1 to {MAX_BINS}, got {bins!r}"
            raise ValueError(msg)
        if hasattr(values, "detach"):  # torch: count on the tensor's own device, move 2 small lists
            t = values.detach().flatten().float()
            t = t[t.isfinite()]
            lo, hi = (float(t.min()), float(t.max())) if t.numel() else (0.0, 0.0)
            hi = hi if hi > lo else lo + 1.0
            self.counts = [int(c) for c in t.histc(bins=bins, min=lo, max=hi).tolist()]
        else:
            import numpy as np  # noqa: PLC0415

            arr = np.asarray(values, dtype=np.float64).ravel()
            arr = arr[np.isfinite(arr)]
            lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
            hi = hi if hi > lo else lo + 1.0
            counts, _edges = np.histogram(arr, bins=bins, range=(lo, hi))
            self.counts = [int(c) for c in counts]
        step = (hi - lo) / bins
        self.edges = [lo + i * step for i in range(bins)] + [hi]

    def ref(self) -> dict[str, Any]:
        return {_format.TYPE_KEY: "histogram", "edges": self.edges, "counts": self.counts}


MEDIA_TYPES = (Image, Table, Histogram)


def is_media_value(value: Any) -> bool:
    """Whether a value given to ``log()`` is media: an Image, Table or Histogram, or a
    non-empty list of Images."""
    if isinstance(value, MEDIA_TYPES):
        return True
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, Image) for v in value)


# ---- reading back ------------------------------------------------------------------------------


@dataclass
class LoggedImage:
    """An image as logged: its step, caption and size, and its PNG (``read()``)."""

    step: int
    path: str  # relative to the run folder
    width: int
    height: int
    caption: str | None
    _read: Any

    def read(self) -> bytes:
        """The PNG file's bytes."""
        data: bytes = self._read(self.path)
        return data

    def to_numpy(self) -> Any:
        """The pixels as a uint8 array (needs Pillow and numpy)."""
        import numpy as np  # noqa: PLC0415
        from PIL import Image as PILImage  # noqa: PLC0415

        with PILImage.open(io.BytesIO(self.read())) as img:
            return np.asarray(img)


@dataclass
class LoggedHistogram:
    """A histogram as logged: its step, bin edges (len(counts) + 1) and counts."""

    step: int
    edges: list[float]
    counts: list[int]
