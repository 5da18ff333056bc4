"""The notes' remaining building blocks: a choice of normalisation and spatial dropout for every
conv net, SELU with alpha dropout (and LeCun init) for the MLP."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import lit_dl.nets as nets
from lit_dl.errors import UserError
from lit_dl.nets import layers

IMAGE = [3, 8, 8]
# Small versions of every conv net: (class, input_shape, init_args). MobileNet needs 32x32 to keep
# more than one pixel per map to its end (instance norm cannot normalise a single value).
CONV_NETS = {
    "simple_cnn": (nets.SimpleCNN, IMAGE, dict(channels=(8, 16), hidden_dim=16, dropout=0.0)),
    "resnet": (nets.ResNet, IMAGE, dict(blocks=(1, 1), widths=(8, 16))),
    "inception": (nets.Inception, IMAGE, dict(width_mult=1 / 8, stem_channels=64, dropout=0.0)),
    "mobilenet": (nets.MobileNet, [3, 32, 32], dict(width_mult=0.125, dropout=0.0)),
}
NORM_CLASSES = {
    "batch": nn.BatchNorm2d,
    "group": nn.GroupNorm,
    "instance": nn.InstanceNorm2d,
    "layer": nn.GroupNorm,
}
NORM_TYPES = (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d, nn.LayerNorm)



def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def convs(net: nn.Module) -> list[nn.Conv2d]:
    return [m for m in net.modules() if isinstance(m, nn.Conv2d)]


def norms(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, NORM_TYPES)]


@pytest.mark.parametrize("norm", ["batch", "group", "instance", "layer", "none"])
@pytest.mark.parametrize("name", CONV_NETS)
def test_every_conv_net_takes_every_norm(name, norm):
    cls, shape, kwargs = CONV_NETS[name]
    torch.manual_seed(0)
    net = cls(shape, 3, norm=norm, norm_groups=4, **kwargs)
    found = norms(net)
    if norm == "none":
        assert not found and all(conv.bias is not None for conv in convs(net))
    else:
        # Exactly one norm of the named kind after every conv, and no conv bias beside it.
        assert len(found) == len(convs(net)) and all(type(m) is NORM_CLASSES[norm] for m in found)
        assert all(conv.bias is None for conv in convs(net))
    out = net(torch.randn(4, *shape))
    assert out.shape == (4, 3)
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


@pytest.mark.parametrize("name", CONV_NETS)
def test_group_norm_gets_the_groups_asked_for(name):
    cls, shape, kwargs = CONV_NETS[name]
    net = cls(shape, 3, norm="group", norm_groups=4, **kwargs)
    groups = {(m.num_groups, m.num_channels) for m in norms(net)}
    # Every layer whose channels 4 divides has 4 groups; others the largest divisor below.
    assert all(g == 4 for g, c in groups if c % 4 == 0)
    assert all(c % g == 0 and g <= 4 for g, c in groups)
    assert any(g == 4 for g, _ in groups)


def test_layer_norm_is_one_group_over_channels_and_space():
    norm = layers.norm2d("layer", 6)
    assert isinstance(norm, nn.GroupNorm) and norm.num_groups == 1
    x = torch.randn(2, 6, 5, 5)
    expected = nn.functional.layer_norm(x, x.shape[1:])
    torch.testing.assert_close(norm(x), expected)  # affine starts at scale 1, shift 0


def test_group_norm_falls_back_to_a_group_count_that_divides():
    assert layers.norm2d("group", 24, groups=32).num_groups == 24
    assert layers.norm2d("group", 20, groups=8).num_groups == 5
    assert layers.norm2d("group", 64, groups=32).num_groups == 32


def test_unknown_norm_is_a_user_error():
    with pytest.raises(UserError, match="unknown norm 'weight'; choose one of: batch, group"):
        nets.ResNet(IMAGE, 3, blocks=(1,), widths=(8,), norm="weight")


# The seed's counts stay; each norm but "none" learns 2 * channels, like BatchNorm2d.
SIZES = [
    (nets.SimpleCNN, "none", 1_147_466),  # the notes' net: no norm, biased convs (the default)
    (nets.SimpleCNN, "batch", 1_147_690),
    (nets.SimpleCNN, "group", 1_147_690),
    (nets.ResNet18, "batch", 11_173_962),  # the notes' ResNet([2, 2, 2, 2]) (the default)
    (nets.ResNet18, "group", 11_173_962),
    (nets.ResNet18, "layer", 11_173_962),
    (nets.ResNet18, "instance", 11_173_962),
    (nets.ResNet18, "none", 11_169_162),
    (nets.Inception, "none", 5_864_762),
    (nets.MobileNet, "none", 3_561_258),
]


@pytest.mark.parametrize("cls, norm, parameters", SIZES, ids=lambda v: getattr(v, "__name__", str(v)))
def test_parameter_counts_by_norm(cls, norm, parameters):
    assert count_parameters(cls([3, 32, 32], 10, norm=norm)) == parameters


def test_defaults_keep_the_seed_counts():
    assert count_parameters(nets.SimpleCNN([3, 32, 32], 10)) == 1_147_466
    assert count_parameters(nets.ResNet([3, 32, 32], 10, blocks=(2, 2, 2, 2))) == 11_173_962


@pytest.mark.parametrize("name", CONV_NETS)
def test_spatial_dropout_reaches_the_net_and_drops_whole_maps(name):
    cls, shape, kwargs = CONV_NETS[name]
    plain = cls(shape, 3, **kwargs)
    assert not any(isinstance(m, nn.Dropout2d) for m in plain.modules())
    net = cls(shape, 3, spatial_dropout=0.3, **kwargs)
    dropouts = [m for m in net.modules() if isinstance(m, nn.Dropout2d)]
    assert dropouts and all(m.p == 0.3 for m in dropouts)
    assert count_parameters(net) == count_parameters(plain)
    net.eval()
    x = torch.randn(2, *shape)
    torch.testing.assert_close(net(x), net(x))  # off in evaluation


def test_dropout2d_zeroes_whole_feature_maps():
    torch.manual_seed(0)
    (dropout,) = layers.spatial_dropout(0.5)
    out = dropout(torch.ones(4, 16, 5, 5))
    per_map = out.flatten(2)
    assert bool(((per_map == 0).all(-1) | (per_map == 2).all(-1)).all())


def test_spatial_dropout_out_of_range_is_a_user_error():
    with pytest.raises(UserError, match="spatial_dropout must be in"):
        nets.SimpleCNN(IMAGE, 3, channels=(4,), spatial_dropout=1.0)


def test_selu_mlp_uses_alpha_dropout_and_keeps_its_statistics():
    torch.manual_seed(0)
    net = nets.MLP([64], 3, hidden_dims=(256, 256, 256), activation="selu", dropout=0.1, init="lecun")
    assert isinstance(net.features[1], nn.SELU)
    assert [type(m) for m in net.features if "Dropout" in type(m).__name__] == [nn.AlphaDropout] * 3
    hidden = net.features(torch.randn(4096, 64))  # training mode: alpha dropout active
    # Self-normalisation: about zero mean and unit variance after three layers, dropout included.
    assert abs(hidden.mean().item()) < 0.1 and abs(hidden.std().item() - 1) < 0.1


def test_alpha_dropout_is_an_explicit_option_too():
    relu_alpha = nets.MLP([8], 2, hidden_dims=(16,), dropout=0.1, alpha_dropout=True)
    selu_plain = nets.MLP([8], 2, hidden_dims=(16,), activation="selu", dropout=0.1, alpha_dropout=False)
    assert any(isinstance(m, nn.AlphaDropout) for m in relu_alpha.modules())
    assert not any(isinstance(m, nn.AlphaDropout) for m in selu_plain.modules())
    assert any(type(m) is nn.Dropout for m in selu_plain.modules())


def test_lecun_init_has_variance_one_over_fan_in():
    torch.manual_seed(0)
    net = nets.MLP([400], 2, hidden_dims=(300,), init="lecun")
    weight = net.features[0].weight
    assert abs(weight.std().item() * 400**0.5 - 1) < 0.02
    assert bool((net.features[0].bias == 0).all())


def test_selu_is_an_activation_and_is_plotted(tmp_path):
    assert "selu" in layers.ACTIVATION_NAMES
    assert isinstance(layers.activation("SELU"), nn.SELU)
    from lit_dl.plots import plot_activations

    path = plot_activations(tmp_path / "act.png")
    assert path.stat().st_size > 10_000
