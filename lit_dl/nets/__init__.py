"""The architecture zoo.

Every whole net takes `input_shape` (one sample's shape) and `num_outputs` first and returns
(B, num_outputs); the CLI fills both from the DataModule.
"""

from lit_dl.nets.attention import SelfAttention, TokenEncoder, TransformerBlock, TransformerEncoder
from lit_dl.nets.by_shape import NetForShape
from lit_dl.nets.cnn import ConvBNReLU, SimpleCNN
from lit_dl.nets.inception import Inception, InceptionModule
from lit_dl.nets.layers import activation, init_weights
from lit_dl.nets.mlp import MLP, Perceptron
from lit_dl.nets.mobilenet import DepthwiseSeparableConv, MobileNet, SEBlock
from lit_dl.nets.recurrent import GRU, LSTM, RNN, BiLSTM
from lit_dl.nets.resnet import BasicBlock, ResNet, ResNet18, ResNet34
from lit_dl.nets.vit import PatchEmbedding, VisionTransformer

__all__ = [
    # whole nets
    "Perceptron",
    "MLP",
    "SimpleCNN",
    "ResNet",
    "ResNet18",
    "ResNet34",
    "Inception",
    "MobileNet",
    "RNN",
    "LSTM",
    "GRU",
    "BiLSTM",
    "TransformerEncoder",
    "VisionTransformer",
    "NetForShape",
    # building blocks
    "ConvBNReLU",
    "BasicBlock",
    "InceptionModule",
    "DepthwiseSeparableConv",
    "SEBlock",
    "SelfAttention",
    "TransformerBlock",
    "TokenEncoder",
    "PatchEmbedding",
    # helpers
    "activation",
    "init_weights",
]
