"""The learning-curve figure: which baselines go on which panel, and a gradient-norm panel."""

import matplotlib.image

from jaxlstm.train.engine.plots import baseline_lines, plot_learning_curves

BASELINE = {"unigram_bpc": 4.7, "uniform_bpc": 6.63, "majority_valid_accuracy": 0.07,
            "majority_test_accuracy": 0.08, "empty_output_ler": 1.0}


def test_baselines_go_on_the_panel_of_their_metric():
    assert baseline_lines("bpc", BASELINE) == [("unigram_bpc", 4.7), ("uniform_bpc", 6.63)]
    assert baseline_lines("accuracy", BASELINE) == [("majority_valid_accuracy", 0.07)]
    assert baseline_lines("test_accuracy", BASELINE) == [("majority_test_accuracy", 0.08)]
    assert baseline_lines("ler", BASELINE) == [("empty_output_ler", 1.0)]
    assert baseline_lines("loss", BASELINE) == [] and baseline_lines("bpc", None) == []


def test_figure_has_a_panel_per_curve(tmp_path):
    records = [{"step": s, "split": "train", "loss": 1 / s, "grad_norm": 2 / s} for s in (1, 2, 3)]
    records += [{"step": 3, "split": "valid", "loss": 0.5, "bpc": 5.0}]
    path = plot_learning_curves(records, tmp_path / "c.png", baseline=BASELINE)
    height, width, _ = matplotlib.image.imread(path).shape
    # loss, gradient norm, valid bpc and valid loss: 4 panels of 4.2 inches at 100 dpi
    assert width == 4 * 420 and height == 340
    without = plot_learning_curves([r for r in records if r["split"] == "valid"], tmp_path / "d.png")
    assert matplotlib.image.imread(without).shape[1] == 3 * 420  # no gradient norm logged
