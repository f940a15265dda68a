"""Images, tables and histograms: plain files and small references, read back exactly."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from PIL import Image as PILImage

import ledger
from tests.helpers import quiet_init

RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, size=(9, 13, 3), dtype=np.uint8)


def _logged(root, run_id):
    return ledger.open(root).run(run_id)


class TestImages:
    @pytest.mark.parametrize(
        "kind", ["png-path", "jpeg-path", "pil", "uint8-rgb", "uint8-grey", "rgba", "float", "torch", "list-3d-grey"]
    )
    def test_round_trip_from_each_input_kind(self, tmp_dir, kind):
        expected = RGB
        if kind == "png-path":
            PILImage.fromarray(RGB).save(tmp_dir / "x.png")
            value = str(tmp_dir / "x.png")
        elif kind == "jpeg-path":
            PILImage.fromarray(RGB).save(tmp_dir / "x.jpg", quality=100)
            value = tmp_dir / "x.jpg"
            expected = np.asarray(PILImage.open(tmp_dir / "x.jpg"))  # what the JPEG holds
        elif kind == "pil":
            value = PILImage.fromarray(RGB)
        elif kind == "uint8-rgb":
            value = RGB
        elif kind == "uint8-grey":
            value = expected = RGB[:, :, 0]
        elif kind == "rgba":
            expected = np.dstack([RGB, np.full(RGB.shape[:2], 200, np.uint8)])
            value = expected
        elif kind == "float":
            value = RGB.astype(np.float32) / 255.0
        elif kind == "torch":
            torch = pytest.importorskip("torch")
            value = torch.from_numpy(RGB.copy())
        else:
            value = RGB[:, :, :1]  # HxWx1
            expected = RGB[:, :, 0]
        run = quiet_init("p", root="results")
        run.log({"samples": ledger.Image(value, caption=f"a {kind}")}, step=3)
        run.finish()
        (img,) = _logged(tmp_dir / "results", run.id).images("samples")
        assert (img.step, img.path, img.caption) == (3, "media/images/samples/3.png", f"a {kind}")
        assert (img.width, img.height) == (13, 9)
        assert img.read().startswith(b"\x89PNG")
        np.testing.assert_array_equal(img.to_numpy(), expected)
        assert (tmp_dir / "results/p/runs" / run.id / "media/images/samples/3.png").is_file()

    def test_a_list_of_images_and_a_reused_buffer(self, tmp_dir):
        buf = RGB.copy()
        run = quiet_init("p", root="results")
        run.log({"val/grid": [ledger.Image(buf), ledger.Image(buf[:, :, 0], caption="grey")]})
        buf[:] = 0  # the caller reuses its buffer at once: what was logged must not change
        run.log({"val/grid": [ledger.Image(buf)]})
        run.finish()
        images = _logged(tmp_dir / "results", run.id).images("val/grid")
        assert [(i.step, i.path) for i in images] == [
            (0, "media/images/val/grid/0-0.png"), (0, "media/images/val/grid/0-1.png"), (1, "media/images/val/grid/1-0.png"),
        ]  # fmt: skip
        np.testing.assert_array_equal(images[0].to_numpy(), RGB)
        assert images[2].to_numpy().max() == 0

    def test_references_in_history_and_not_in_summary(self, tmp_dir):
        run = quiet_init("p", root="results")
        run.log({"loss": 0.5, "img": ledger.Image(RGB)})
        run.finish()
        view = _logged(tmp_dir / "results", run.id)
        assert view.summary == {"loss": 0.5}
        ref = view.history()["img"].iloc[0]
        assert ref == {"_type": "image", "path": "media/images/img/0.png", "width": 13, "height": 9}

    def test_huge_images_are_downscaled_with_a_warning(self, tmp_dir, caplog):
        caplog.set_level(logging.WARNING, logger="ledger")
        run = quiet_init("p", root="results")
        run.log({"big": ledger.Image(np.zeros((5000, 4000), np.uint8))})
        run.finish()
        (img,) = _logged(tmp_dir / "results", run.id).images("big")
        assert (img.width, img.height) == (2000, 2500)
        assert "image of 4000x5000 pixels is downscaled 2x" in caplog.text

    @pytest.mark.parametrize(("bad", "message"), [
        ("hello", "Image: no file 'hello'"),
        ({"a": 1}, "expected a path, a PIL image or an array"),
        (np.zeros((2, 2, 5)), "of shape HxW, HxWx3 or HxWx4"),
    ])  # fmt: skip
    def test_bad_images_are_refused(self, tmp_dir, bad, message):
        with pytest.raises((TypeError, FileNotFoundError), match=message):
            ledger.Image(bad)

    def test_media_and_scalar_keys_cannot_collide(self, tmp_dir):
        run = quiet_init("p", root="results")
        run.log({"x": 1.0})
        with pytest.raises(ValueError, match="'x' was logged as a number; give the Image another name"):
            run.log({"x": ledger.Image(RGB)})
        run.log({"y": ledger.Image(RGB)})
        with pytest.raises(ValueError, match="'y' was logged as media; a number needs another name"):
            run.log({"y": 2.0})
        run.finish()


class TestTables:
    def test_dataframe_rows_and_dicts(self, tmp_dir):
        frame = pd.DataFrame({"id": [1, 2, 3], "label": ["cat", "dog", "cat"], "score": [0.9, 0.4, 0.75]})
        run = quiet_init("p", root="results")
        run.log({"preds": ledger.Table(frame)}, step=1)
        run.log({"preds": ledger.Table([[1, "cat", 0.5]], columns=["id", "label", "score"])}, step=2)
        run.log({"other": ledger.Table([{"a": 1, "b": "x"}, {"a": 2}])}, step=2)
        run.finish()
        view = _logged(tmp_dir / "results", run.id)
        pd.testing.assert_frame_equal(view.table("preds", step=1), frame)
        assert view.table("preds").to_dict("list") == {"id": [1], "label": ["cat"], "score": [0.5]}
        assert view.table("other").columns.tolist() == ["a", "b"]
        assert view.history()["preds"].iloc[0] == {"_type": "table", "path": "media/tables/preds/1.csv", "rows": 3,
                                                   "columns": ["id", "label", "score"]}  # fmt: skip
        with pytest.raises(KeyError, match="has no table 'preds' at step 9"):
            view.table("preds", step=9)

    def test_ragged_rows_are_refused(self):
        with pytest.raises(ValueError, match="every row must have 2 values"):
            ledger.Table([[1, 2], [3]], columns=["a", "b"])


class TestHistograms:
    def test_bins_and_counts_are_exact(self, tmp_dir):
        values = RNG.normal(size=1000)
        run = quiet_init("p", root="results")
        run.log({"w": ledger.Histogram(values, bins=16)})
        run.log({"w": ledger.Histogram([1.0, 1.0, float("nan"), float("inf")], bins=4)})
        run.finish()
        first, second = _logged(tmp_dir / "results", run.id).histograms("w")
        counts, edges = np.histogram(values, bins=16, range=(values.min(), values.max()))
        assert first.counts == counts.tolist()
        np.testing.assert_allclose(first.edges, edges, rtol=0, atol=1e-12)
        assert sum(first.counts) == 1000
        assert second.counts == [2, 0, 0, 0]  # non-finite values are not counted
        assert second.edges == [1.0, 1.25, 1.5, 1.75, 2.0]

    def test_torch_tensor_counts_match_numpy(self, tmp_dir):
        torch = pytest.importorskip("torch")
        t = torch.randn(500, generator=torch.Generator().manual_seed(0))
        h = ledger.Histogram(t, bins=8)
        counts, _ = np.histogram(t.numpy(), bins=8, range=(float(t.min()), float(t.max())))
        assert h.counts == counts.tolist()

    @pytest.mark.parametrize("bins", [0, 10**6, 2.5])
    def test_bad_bins(self, bins):
        with pytest.raises(ValueError, match="bins must be an int from 1 to 10000"):
            ledger.Histogram([1, 2], bins=bins)


def test_media_on_remote_roots(remote_root):
    run = quiet_init("p", root=remote_root)
    run.log({"img": ledger.Image(RGB), "h": ledger.Histogram([1, 2, 3], bins=2)})
    run.finish()
    view = ledger.open(remote_root).run(run.id)
    np.testing.assert_array_equal(view.images("img")[0].to_numpy(), RGB)
    assert view.histograms("h")[0].counts == [1, 2]
