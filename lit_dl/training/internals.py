"""The private APIs of other libraries that lit-dl uses, each in one small function with the reason
no public API serves and the versions it was tested with."""

from __future__ import annotations


def forget_cached_rnn_kernels() -> None:
    """Clear the operator dispatch caches of `aten.lstm.input` and `aten.gru.input` (private:
    `OpOverload._dispatch_cache`).

    Why: given dynamic shapes, `torch.onnx.export` swaps in while-loop decompositions of LSTM and
    GRU (`torch.export._patches.register_*_while_loop_decomposition`) that keep a sequence's
    length free, by writing `op.py_kernels` directly; unlike `py_impl`, that leaves the operator's
    dispatch cache holding the kernel of the previous export. From the second ONNX export of an
    LSTM (or GRU) in one process on, the recurrence is unrolled and the file's length fixed. No
    public API clears an operator's cache (`torch.compiler.reset()` does not). Measured with three
    exports of one LSTM in a process: free, fixed, fixed; with this call before each: free every
    time. Tested with torch 2.14.1; a torch without the attribute is left alone.
    """
    import torch

    for op in (torch.ops.aten.lstm.input, torch.ops.aten.gru.input):
        cache = getattr(op, "_dispatch_cache", None)
        if cache is not None:
            cache.clear()
