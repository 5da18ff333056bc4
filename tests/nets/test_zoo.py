"""The architecture zoo: every net builds, has the documented size, trains, and fails clearly."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn as nn

import lit_dl.nets as nets
from lit_dl.errors import UserError
from lit_dl.nets import layers

IMAGE = [3, 8, 8]
SEQUENCE = [6, 4]  # T, F

# Small configs that train in a blink: (name, class, input_shape, init_args).
SMALL_ZOO = [
    ("mlp", nets.MLP, [4, 4], dict(hidden_dims=(16,), norm="layer")),
    ("mlp_batchnorm", nets.MLP, [4, 4], dict(hidden_dims=(16, 16), norm="batch", activation="gelu", init="kaiming")),
    ("simple_cnn", nets.SimpleCNN, IMAGE, dict(channels=(4, 8), hidden_dim=16, dropout=0.0, norm="batch")),
    ("resnet", nets.ResNet, IMAGE, dict(blocks=(1, 1), widths=(4, 8))),
    ("resnet_imagenet_stem", nets.ResNet, [3, 16, 16], dict(blocks=(1, 1), widths=(4, 8), stem="imagenet")),
    ("inception", nets.Inception, IMAGE, dict(width_mult=1 / 16, stem_channels=64, dropout=0.0)),
    ("mobilenet", nets.MobileNet, IMAGE, dict(width_mult=0.125, dropout=0.0)),
    ("rnn", nets.RNN, SEQUENCE, dict(hidden_size=16, num_layers=1)),
    ("lstm", nets.LSTM, SEQUENCE, dict(hidden_size=16, num_layers=2, readout="mean")),
    ("gru", nets.GRU, SEQUENCE, dict(hidden_size=16, num_layers=1, readout="max")),
    ("bilstm", nets.BiLSTM, SEQUENCE, dict(hidden_size=16, num_layers=1)),
    ("transformer", nets.TransformerEncoder, SEQUENCE, dict(embed_dim=16, depth=1, num_heads=2, dropout=0.0)),
    ("transformer_postnorm", nets.TransformerEncoder, SEQUENCE,
     dict(embed_dim=16, depth=1, num_heads=2, dropout=0.0, norm_first=False, pooling="mean")),
    ("vit", nets.VisionTransformer, IMAGE, dict(patch_size=4, embed_dim=16, depth=1, num_heads=2, dropout=0.0)),
]  # fmt: skip

# Defaults on their natural data: (class, input_shape, num_outputs, parameters).
DEFAULT_SIZES = [
    (nets.Perceptron, [20], 1, 21),
    (nets.MLP, [1, 28, 28], 10, 52_650),
    (nets.SimpleCNN, [3, 32, 32], 10, 1_147_466),  # the user's notes
    (nets.ResNet, [3, 32, 32], 10, 11_173_962),  # the user's notes: ResNet([2, 2, 2, 2])
    (nets.ResNet18, [3, 32, 32], 10, 11_173_962),
    (nets.ResNet34, [3, 32, 32], 10, 21_282_122),
    (nets.Inception, [3, 32, 32], 10, 5_871_914),
    (nets.MobileNet, [3, 32, 32], 10, 3_572_202),
    (nets.RNN, [50, 8], 2, 13_186),
    (nets.LSTM, [50, 8], 2, 52_354),
    (nets.GRU, [50, 8], 2, 39_298),
    (nets.BiLSTM, [50, 8], 2, 137_474),
    (nets.TransformerEncoder, [50, 8], 2, 71_106),
    (nets.VisionTransformer, [3, 32, 32], 10, 1_806_538),
]



def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def batch_for(input_shape: list[int], size: int = 8, num_classes: int = 3, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(size, *input_shape, generator=generator)
    y = torch.randint(0, num_classes, (size,), generator=generator)
    return x, y


@pytest.mark.parametrize("name, cls, input_shape, kwargs", SMALL_ZOO, ids=[case[0] for case in SMALL_ZOO])
def test_forward_shape_and_every_parameter_gets_a_gradient(name, cls, input_shape, kwargs):
    torch.manual_seed(0)
    net = cls(input_shape, 3, **kwargs)
    x, _ = batch_for(input_shape, size=4)
    out = net(x)
    assert out.shape == (4, 3)
    out.square().sum().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"{name}: no usable gradient for {missing}"


@pytest.mark.parametrize("name, cls, input_shape, kwargs", SMALL_ZOO, ids=[case[0] for case in SMALL_ZOO])
def test_overfits_one_small_batch(name, cls, input_shape, kwargs):
    torch.manual_seed(0)
    net = cls(input_shape, 3, **kwargs)
    x, y = batch_for(input_shape)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert min(losses[-5:]) < losses[0] / 2, f"{name}: loss {losses[0]:.3f} -> {losses[-1]:.3f}"


def test_perceptron_overfits_with_a_single_logit():
    torch.manual_seed(0)
    net = nets.Perceptron([8], num_outputs=2)  # a binary DataModule reports 2 classes
    x, y = batch_for([8], size=8, num_classes=2)
    assert net(x).shape == (8, 1)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.1)
    losses = []
    for _ in range(40):
        optimizer.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(net(x).squeeze(1), y.float())
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 2


@pytest.mark.parametrize("cls, input_shape, num_outputs, expected", DEFAULT_SIZES, ids=[c[0].__name__ for c in DEFAULT_SIZES])
def test_default_parameter_counts(cls, input_shape, num_outputs, expected):
    assert count_parameters(cls(input_shape, num_outputs)) == expected


def test_imagenet_variants_match_the_published_sizes():
    # torchvision's resnet18 / resnet34 and the MobileNet v1 paper (4.2M) on 1000 classes
    assert count_parameters(nets.ResNet18([3, 224, 224], 1000, stem="imagenet")) == 11_689_512
    assert count_parameters(nets.MobileNet([3, 224, 224], 1000, se=False, stem="imagenet")) == 4_231_976


def test_default_image_nets_run_on_a_cifar_batch():
    x = torch.randn(2, 3, 32, 32)
    for net in (nets.SimpleCNN([3, 32, 32], 10), nets.MobileNet([3, 32, 32], 10), nets.VisionTransformer([3, 32, 32], 10)):
        assert net(x).shape == (2, 10)


def test_every_whole_net_is_exported():
    for _, cls, _, _ in SMALL_ZOO:
        assert cls.__name__ in nets.__all__
    for cls, *_ in DEFAULT_SIZES:
        assert cls.__name__ in nets.__all__
    for name in nets.__all__:
        assert hasattr(nets, name)


def test_whole_nets_build_from_a_class_path():
    jsonargparse = pytest.importorskip("jsonargparse")
    parser = jsonargparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("--net", type=nn.Module)

    def config(cls: type, **init_args) -> dict:
        return {"net": {"class_path": f"lit_dl.nets.{cls.__name__}", "init_args": init_args}}

    for name, cls, input_shape, kwargs in SMALL_ZOO:
        as_yaml = {key: list(value) if isinstance(value, tuple) else value for key, value in kwargs.items()}
        parsed = parser.parse_object(config(cls, input_shape=input_shape, num_outputs=3, **as_yaml))
        assert isinstance(parser.instantiate(parsed).net, cls), name
    with pytest.raises(Exception, match="activation"):
        parser.parse_object(config(nets.MLP, input_shape=[4], num_outputs=2, activation="softplus"))


def test_importing_nets_stays_cheap():
    code = "import sys, lit_dl.nets; print(sorted({m.split('.')[0] for m in sys.modules} & {'torchvision', 'lightning', 'matplotlib'}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# Activations and initialisation


@pytest.mark.parametrize("name", layers.ACTIVATION_NAMES)
def test_activation_by_name(name):
    module = layers.activation(name.upper())
    x = torch.linspace(-3, 3, 13)
    assert isinstance(module, nn.Module) and module(x).shape == x.shape
    assert layers.activation(name) is not layers.activation(name)  # fresh module every time


def test_swish_is_silu_and_unknown_names_list_the_choices():
    x = torch.linspace(-3, 3, 13)
    assert torch.equal(layers.activation("swish")(x), nn.functional.silu(x))
    with pytest.raises(UserError, match="relu, leaky_relu, sigmoid, tanh, gelu, silu, swish"):
        layers.activation("softplus")


def test_init_schemes():
    torch.manual_seed(0)
    net = nets.MLP([1000], 10, hidden_dims=(500,))
    before = [p.clone() for p in net.parameters()]
    layers.init_weights(net, "default")
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))

    first = net.features[0]
    layers.init_weights(net, "kaiming")
    assert first.weight.std().item() == pytest.approx((2 / 1000) ** 0.5, rel=0.05)
    assert not first.bias.any()

    layers.init_weights(net, "xavier")
    assert first.weight.std().item() == pytest.approx((2 / (1000 + 500)) ** 0.5, rel=0.05)
    assert not first.bias.any()

    with pytest.raises(UserError, match="default, xavier, kaiming"):
        layers.init_weights(net, "orthogonal")


def test_plot_activations_writes_one_figure(tmp_path):
    pytest.importorskip("matplotlib")
    from lit_dl.plots import plot_activations

    path = plot_activations(tmp_path / "figures" / "activations.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mlp_init_argument_reaches_conv_free_layers():
    net = nets.MLP([64], 2, hidden_dims=(32,), init="xavier")
    assert not net.features[0].bias.any() and not net.head.bias.any()


# Variable-length sequences and attention masks

SEQUENCE_NETS = [
    (nets.RNN, dict(readout="last")),
    (nets.LSTM, dict(readout="mean")),
    (nets.GRU, dict(readout="max")),
    (nets.BiLSTM, dict(readout="last")),
    (nets.BiLSTM, dict(readout="max")),
    (nets.TransformerEncoder, dict(pooling="cls")),
    (nets.TransformerEncoder, dict(pooling="mean", norm_first=False)),
]


@pytest.mark.parametrize("cls, kwargs", SEQUENCE_NETS, ids=[f"{c.__name__}-{list(k.values())[0]}" for c, k in SEQUENCE_NETS])
def test_padding_does_not_change_the_valid_part(cls, kwargs):
    torch.manual_seed(0)
    net = cls([10, 4], 3, **kwargs).eval()
    lengths = torch.tensor([10, 3, 7, 1])
    x = torch.randn(4, 10, 4)
    padded = x.clone()
    for row, length in enumerate(lengths):
        padded[row, length:] = 1e3  # garbage that would dominate any leak
    batched = net(padded, lengths)
    one_by_one = torch.cat([net(x[row : row + 1, :length]) for row, length in enumerate(lengths)])
    torch.testing.assert_close(batched, one_by_one, atol=1e-5, rtol=1e-5)


def test_full_length_lengths_match_no_lengths():
    net = nets.LSTM([5, 3], 2).eval()
    x = torch.randn(3, 5, 3)
    torch.testing.assert_close(net(x, torch.tensor([5, 5, 5])), net(x))


def test_self_attention_honours_the_padding_mask():
    torch.manual_seed(0)
    attention = nets.SelfAttention(embed_dim=16, num_heads=4).eval()
    x = torch.randn(2, 5, 16)
    padding = torch.tensor([[False, False, False, True, True], [False] * 5])
    out, weights = attention(x, padding)
    assert out.shape == (2, 5, 16) and weights.shape == (2, 4, 5, 5)
    assert weights[0, :, :, 3:].abs().max() == 0
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 5))

    changed = x.clone()
    changed[0, 3:] = torch.randn(2, 16) * 100  # padded tokens must not reach valid queries
    out_changed, _ = attention(changed, padding)
    torch.testing.assert_close(out_changed[0, :3], out[0, :3])
    torch.testing.assert_close(out_changed[1], out[1])

    fused, no_weights = attention(x, padding, need_weights=False)
    assert no_weights is None
    torch.testing.assert_close(fused, out, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("norm_first", [True, False])
def test_transformer_block_keeps_the_shape(norm_first):
    block = nets.TransformerBlock(embed_dim=8, num_heads=2, norm_first=norm_first)
    assert block(torch.randn(2, 7, 8)).shape == (2, 7, 8)


def test_patch_embedding_orders_patches_row_major():
    embed = nets.PatchEmbedding((8, 12), patch_size=4, in_channels=1, embed_dim=1)
    nn.init.ones_(embed.proj.weight)
    nn.init.zeros_(embed.proj.bias)
    image = torch.zeros(1, 1, 8, 12)
    image[0, 0, 4:, 8:] = 1  # the bottom-right patch
    tokens = embed(image)
    assert embed.num_patches == 6 and tokens.shape == (1, 6, 1)
    assert tokens[0, :, 0].tolist() == [0, 0, 0, 0, 0, 16]


def test_building_blocks_keep_their_natural_signatures():
    x = torch.randn(2, 8, 6, 6)
    assert nets.ConvBNReLU(8, 4, stride=2)(x).shape == (2, 4, 3, 3)
    assert nets.BasicBlock(8, 16, stride=2)(x).shape == (2, 16, 3, 3)
    assert nets.BasicBlock(8, 8)(x).shape == x.shape
    assert nets.InceptionModule(8, 2, 2, 3, 1, 4, 5)(x).shape == (2, 14, 6, 6)
    assert nets.DepthwiseSeparableConv(8, 12, stride=2, se=True)(x).shape == (2, 12, 3, 3)
    assert nets.SEBlock(8, reduction=2)(x).shape == x.shape


# User mistakes end in a UserError that names the fix


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: nets.Perceptron([4], 3), "MLP"),
        (lambda: nets.MLP([4], 2, dropout=1.0), "dropout"),
        (lambda: nets.MLP([4], 2, hidden_dims=(8, 0)), r"hidden_dims must be at least 1, got \[8, 0\]"),
        (lambda: nets.MLP([4], 2, norm="group"), "norm"),
        (lambda: nets.SimpleCNN([784], 10), r"\[3, 32, 32\]"),
        (lambda: nets.SimpleCNN([3, 8, 8], 10, channels=(4, 4, 4, 4)), "fewer"),
        (lambda: nets.ResNet([3, 32, 32], 10, blocks=(2, 2), widths=(64,)), "same"),
        (lambda: nets.ResNet([3, 32, 32], 10, stem="tiny"), "stem"),
        (lambda: nets.LSTM([3, 32, 32], 10), r"\[T, F\]"),
        (lambda: nets.GRU([5, 3], 2, readout="first"), "readout"),
        (lambda: nets.TransformerEncoder([5, 3], 2, embed_dim=10, num_heads=3), "divisible"),
        (lambda: nets.VisionTransformer([3, 30, 30], 10, patch_size=4), "patch_size"),
        (lambda: nets.MobileNet([3, 32, 32], 10, width_mult=0), "width_mult"),
        (lambda: nets.Inception([3, 32, 32], 10, width_mult=-1), "width_mult"),
        (lambda: nets.MLP([0, 4], 2), "input_shape"),
    ],
)
def test_bad_configs_raise_user_errors(build, message):
    with pytest.raises(UserError, match=message):
        build()


def test_bad_lengths_and_too_long_sequences_raise_user_errors():
    x = torch.randn(2, 5, 3)
    with pytest.raises(UserError, match="lengths"):
        nets.GRU([5, 3], 2)(x, torch.tensor([5, 0]))
    with pytest.raises(UserError, match="lengths"):
        nets.TransformerEncoder([5, 3], 2)(x, torch.tensor([6, 2]))
    with pytest.raises(UserError, match="position embeddings"):
        nets.TransformerEncoder([4, 3], 2)(x)
