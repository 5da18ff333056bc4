# lit-dl on a CUDA-enabled PyTorch image; `lit-dl` is the entry point.
#
#   docker build -t lit-dl .
#   docker run --gpus all --ipc=host -v "$PWD/runs:/workspace/runs" -v "$PWD/data:/workspace/data" \
#       lit-dl fit --config experiments/quickstart.yaml --config experiments/trainer/gpu_bf16.yaml
#
# The container runs as the non-root user `litdl`; to own what it writes into bind-mounted
# folders, run it as yourself: --user "$(id -u):$(id -g)" -e HOME=/tmp
#
# Another base: --build-arg BASE=<image with python3 and pip>, e.g.
# pytorch/pytorch:<version>-cuda<x.y>-cudnn9-runtime. The base's torch and torchvision are kept
# when they meet lit-dl's floor in pyproject.toml (torch>=2.14); an older one stops the build with
# one line, and a base without torch gets pip's.
# Offline, through a mirror or a TLS proxy: --build-arg PIP_INDEX_URL=..., PIP_EXTRA_INDEX_URL=...,
# PIP_FIND_LINKS=..., PIP_CERT=... (folders and files mounted for the build, e.g. buildah bud
# --volume DIR:DIR:ro). They reach pip during the build, not the image's environment (its history
# lists them, as for any build argument). tests/container builds this file on a Debian base.
ARG BASE=pytorch/pytorch:2.14.1-cuda13.0-cudnn9-runtime
FROM ${BASE}

ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_CERT
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/lit-dl
COPY pyproject.toml README.md ./
COPY lit_dl ./lit_dl
COPY scripts/docker/keep_torch.py /tmp/keep_torch.py
RUN python3 /tmp/keep_torch.py > /tmp/keep-torch.txt \
 && python3 -m pip install -c /tmp/keep-torch.txt . \
 && rm -rf /tmp/keep_torch.py /tmp/keep-torch.txt build lit_dl.egg-info

# Runs and data live in volumes; experiment files are in the image, or mount your own.
RUN useradd --create-home --shell /bin/bash litdl \
 && mkdir -p /workspace/runs /workspace/data \
 && chown -R litdl:litdl /workspace
COPY --chown=litdl:litdl experiments /workspace/experiments
WORKDIR /workspace
USER litdl
ENV HOME=/home/litdl
VOLUME ["/workspace/runs", "/workspace/data"]

ENTRYPOINT ["lit-dl"]
CMD ["--help"]
