"""``jitprop summary``: what a model file holds, its layers, parameters and FLOPs."""

import jitprop as jp
from helpers import run_jitprop


def test_summary_counts_the_layers(tmp_path):
    net = jp.Network([jp.Dense(64, "relu"), jp.Dropout(0.5), jp.Dense(10, "softmax")], 64, "cross_entropy", seed=0)
    jp.save(net, tmp_path / "m.safetensors")
    summary = run_jitprop("summary", "m.safetensors", cwd=tmp_path)
    assert summary.returncode == 0, summary.stderr
    rows = {
        line.split()[0]: line.split()
        for line in summary.stdout.splitlines()
        if line[:1].isdigit() or line.startswith("total")
    }
    assert rows["0"][1:] == ["Dense", "relu", "(64,)", "(64,)", "4,160", "8,320"]  # 2·64·64 + 64 + 64
    assert rows["1"][1:6] == ["Dropout", "rate", "0.5", "(64,)", "(64,)"]
    assert rows["2"][1:6] == ["Dense", "softmax", "(64,)", "(10,)", "650"]
    flops = [int(rows[name][-1].replace(",", "")) for name in ("0", "1", "2", "total")]
    assert rows["total"][1] == "4,810" and flops[3] == sum(flops[:3]) and flops[2] >= 2 * 64 * 10 + 10
    assert "2·fan_in·fan_out" in summary.stdout


def test_the_flops_footnote_explains_convolutions_and_pooling_when_there_are_some():
    from jitprop.cli.summary import layer_table

    cnn = jp.Network(
        [jp.Conv2D(4, 3, activation="relu"), jp.MaxPool2D(2), jp.Flatten(), jp.Dense(3, "softmax")],
        input_shape=(6, 6, 1),
        loss="cross_entropy",
    )
    text = layer_table(cnn)
    assert "2·kh·kw·c_in·c_out per output position" in text and "pooling:" in text
    assert "(None" not in text and "(4, 4, 4)" in text
    dense = jp.Network([jp.Dense(3, "softmax")], 4, "cross_entropy")
    assert "convolution" not in layer_table(dense)
