"""The tiny models of delve_advisor.testing have the receptive fields their docs promise."""

from delve_advisor import receptive_field
from delve_advisor.testing import matched_cnn, tail_cnn


def test_matched_cnn_receptive_fields_by_hand():
    analysis = receptive_field(matched_cnn(), input_size=(1, 28, 28))
    by_name = {layer.node_name: layer for layer in analysis.layers}
    # conv5: 5; pool2: 5 + 1 = 6 (jump 2); conv3: 6 + 2*2 = 10; pool2: 10 + 2 = 12 (jump 4);
    # conv3: 12 + 2*4 = 20
    assert [by_name[n].r_max for n in ("0", "2", "3", "5", "6")] == [
        (5, 5),
        (6, 6),
        (10, 10),
        (12, 12),
        (20, 20),
    ]
    assert by_name["10"].is_global
    assert analysis.unproductive(28) == analysis.unproductive(24) == []
    # 21 px: 17 -> 8 -> 6 -> 3, the last conv's input map is no larger than its kernel
    assert analysis.unproductive(21) == ["6"]


def test_tail_cnn_receptive_fields_by_hand():
    analysis = receptive_field(tail_cnn(), input_size=(3, 16, 16))
    by_name = {layer.name: layer for layer in analysis.layers}
    # conv3/s2: 3 (jump 2); conv3/s2: 3 + 2*2 = 7 (jump 4); then + 2*4 = 8 per 3x3 conv
    assert [by_name[n].r_max for n in ("0", "2", "4", "6", "8", "10")] == [
        (3, 3),
        (7, 7),
        (15, 15),
        (23, 23),
        (31, 31),
        (39, 39),
    ]
    # at 16 px the inputs of convs 8 and 10 already see the whole image (23, 31 >= 16)
    assert analysis.unproductive(16) == ["8", "10"]
