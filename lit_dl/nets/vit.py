"""Vision Transformer (Dosovitskiy et al., 2020): an image as a sequence of patch tokens."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from lit_dl.errors import UserError
from lit_dl.nets import layers
from lit_dl.nets.attention import Pooling, TokenEncoder


class PatchEmbedding(nn.Module):
    """Cut an image into non-overlapping patches and project each to `embed_dim`.

    A conv with kernel = stride = patch size is exactly "flatten each patch, apply one linear map".
    """

    def __init__(self, image_size: Sequence[int], patch_size: int, in_channels: int, embed_dim: int) -> None:
        super().__init__()
        height, width = image_size
        if height % patch_size or width % patch_size:
            raise UserError(
                f"image size {height}x{width} is not a multiple of patch_size {patch_size}; "
                f"pick a patch size that divides both"
            )
        self.num_patches = (height // patch_size) * (width // patch_size)
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, num_patches, embed_dim), patches in row-major order."""
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(nn.Module):
    """ViT with a class token and learned position embeddings.

    The defaults are a small ViT for 32x32 images: 4x4 patches give 64 tokens; about 1.8M params.

    Args:
        input_shape: [C, H, W] of one image; H and W must be multiples of patch_size.
        num_outputs: number of classes.
        patch_size: side of each square patch.
        embed_dim: token width.
        depth: transformer blocks.
        num_heads: attention heads; must divide embed_dim.
        mlp_ratio: MLP hidden width as a multiple of embed_dim.
        dropout: dropout on embeddings, attention weights and residual branches.
        pooling: "cls" token or "mean" of the patch tokens.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        patch_size: int = 4,
        embed_dim: int = 192,
        depth: int = 6,
        num_heads: int = 3,
        mlp_ratio: float = 2.0,
        dropout: float = 0.1,
        pooling: Pooling = "cls",
    ) -> None:
        super().__init__()
        name = "VisionTransformer"
        in_channels, height, width = layers.expect_rank(name, input_shape, 3, "[3, 32, 32]")
        layers.check_positive(name, num_outputs=num_outputs, patch_size=patch_size, depth=depth)
        layers.check_dropout(name, dropout)
        self.patch_embed = PatchEmbedding((height, width), patch_size, in_channels, embed_dim)
        self.encoder = TokenEncoder(
            self.patch_embed.num_patches, embed_dim, depth, num_heads, mlp_ratio, dropout, pooling=pooling
        )
        self.head = nn.Linear(embed_dim, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.patch_embed(x)))
