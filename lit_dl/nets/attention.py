"""Multi-head self-attention, the transformer block, and a transformer encoder for (B, T, F) sequences."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from lit_dl.errors import UserError
from lit_dl.nets import layers
from lit_dl.nets.layers import ActivationName, lengths_to_mask

Pooling = Literal["cls", "mean"]


class SelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention.

    `key_padding_mask` is (B, T) and True where a token is padding, as in `nn.MultiheadAttention`:
    no query attends to those keys.
    """

    def __init__(self, embed_dim: int, num_heads: int = 8, dropout: float = 0.0) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise UserError(
                f"embed_dim {embed_dim} must be divisible by num_heads {num_heads}; "
                f"change one of them"
            )
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim)  # one matmul for queries, keys and values
        self.out = nn.Linear(embed_dim, embed_dim)

    def forward(
        self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None, need_weights: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: (B, T, D). Returns the output (B, T, D) and the weights (B, heads, T, T),
        or None for the weights when `need_weights` is False (then a fused kernel is used)."""
        batch, steps, dim = x.shape
        q, k, v = (
            self.qkv(x).view(batch, steps, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        )
        keep = None if key_padding_mask is None else ~key_padding_mask[:, None, None, :]
        dropout = self.dropout if self.training else 0.0

        if need_weights:
            scores = q @ k.transpose(-2, -1) / self.head_dim**0.5
            if keep is not None:
                # The most negative float, not -inf: a fully padded row then stays finite.
                scores = scores.masked_fill(~keep, torch.finfo(scores.dtype).min)
            weights = scores.softmax(dim=-1)
            context = F.dropout(weights, dropout) @ v
        else:
            weights = None
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, dropout_p=dropout)
        return self.out(context.transpose(1, 2).reshape(batch, steps, dim)), weights


class TransformerBlock(nn.Module):
    """Self-attention and an MLP, each wrapped in a residual connection with LayerNorm.

    `norm_first=True` (pre-norm, as in ViT and GPT-2) normalises each sub-layer's input and trains
    stably without warm-up; `False` is the original post-norm transformer.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int = 8,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        norm_first: bool = True,
        activation: ActivationName = "gelu",
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.attention = SelfAttention(embed_dim, num_heads, dropout)
        self.norm1 = nn.LayerNorm(embed_dim)
        self.norm2 = nn.LayerNorm(embed_dim)
        hidden = int(embed_dim * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(embed_dim, hidden),
            layers.activation(activation),
            nn.Dropout(dropout),
            nn.Linear(hidden, embed_dim),
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.norm_first:
            x = x + self._attend(self.norm1(x), key_padding_mask)
            return x + self.dropout(self.mlp(self.norm2(x)))
        x = self.norm1(x + self._attend(x, key_padding_mask))
        return self.norm2(x + self.dropout(self.mlp(x)))

    def _attend(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None) -> torch.Tensor:
        return self.dropout(self.attention(x, key_padding_mask, need_weights=False)[0])


class TokenEncoder(nn.Module):
    """The part every transformer classifier shares: prepend a class token, add learned position
    embeddings, run the blocks, and pool the tokens to one vector per sample.

    Args:
        max_tokens: the longest token sequence (without the class token).
        pooling: "cls" reads the class token; "mean" averages the valid tokens.
    """

    def __init__(
        self,
        max_tokens: int,
        embed_dim: int,
        depth: int,
        num_heads: int,
        mlp_ratio: float,
        dropout: float,
        norm_first: bool = True,
        pooling: Pooling = "cls",
    ) -> None:
        super().__init__()
        if pooling not in ("cls", "mean"):
            raise UserError(f"pooling must be 'cls' or 'mean', got {pooling!r}")
        self.pooling = pooling
        self.max_tokens = max_tokens
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, max_tokens + 1, embed_dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)  # ViT's init: small, symmetry-breaking
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(embed_dim, num_heads, mlp_ratio, dropout, norm_first) for _ in range(depth)
        )
        # Pre-norm blocks leave the residual stream unnormalised; post-norm blocks end normalised.
        self.norm: nn.Module = nn.LayerNorm(embed_dim) if norm_first else nn.Identity()

    def forward(self, tokens: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """tokens: (B, N, D); padding_mask: (B, N), True on padding. Returns (B, D)."""
        batch, num_tokens, _ = tokens.shape
        if num_tokens > self.max_tokens:
            raise UserError(
                f"got {num_tokens} tokens but the position embeddings cover {self.max_tokens}; "
                f"build the net with the longer input_shape"
            )
        x = torch.cat([self.cls_token.expand(batch, -1, -1), tokens], dim=1)
        x = self.dropout(x + self.pos_embed[:, : num_tokens + 1])
        if padding_mask is not None:
            padding_mask = F.pad(padding_mask, (1, 0), value=False)  # the class token is never padding
        for block in self.blocks:
            x = block(x, padding_mask)
        x = self.norm(x)

        if self.pooling == "cls":
            return x[:, 0]
        x = x[:, 1:]
        if padding_mask is None:
            return x.mean(1)
        valid = (~padding_mask[:, 1:]).unsqueeze(-1)
        return (x * valid).sum(1) / valid.sum(1)


class TransformerEncoder(nn.Module):
    """A transformer over (B, T, F) sequences: project each step to `embed_dim`, encode, pool.

    Args:
        input_shape: [T, F]: the longest sequence and features per step.
        num_outputs: classes, or regression targets.
        embed_dim: token width.
        depth: transformer blocks.
        num_heads: attention heads; must divide embed_dim.
        mlp_ratio: MLP hidden width as a multiple of embed_dim.
        dropout: dropout on embeddings, attention weights and residual branches.
        norm_first: pre-norm (True) or post-norm (False) blocks.
        pooling: "cls" token or "mean" of the valid steps.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        embed_dim: int = 64,
        depth: int = 2,
        num_heads: int = 4,
        mlp_ratio: float = 2.0,
        dropout: float = 0.1,
        norm_first: bool = True,
        pooling: Pooling = "cls",
    ) -> None:
        super().__init__()
        name = "TransformerEncoder"
        max_len, num_features = layers.expect_rank(name, input_shape, 2, "[T, F] (steps, features)")
        layers.check_positive(name, num_outputs=num_outputs, embed_dim=embed_dim, depth=depth, num_heads=num_heads)
        layers.check_dropout(name, dropout)
        self.embed = nn.Linear(num_features, embed_dim)
        self.encoder = TokenEncoder(
            max_len, embed_dim, depth, num_heads, mlp_ratio, dropout, norm_first=norm_first, pooling=pooling
        )
        self.head = nn.Linear(embed_dim, num_outputs)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, T, F); lengths: (B,) valid steps of each padded sequence, or None."""
        padding_mask = None if lengths is None else ~lengths_to_mask(lengths.to(x.device), x.size(1))
        return self.head(self.encoder(self.embed(x), padding_mask))
