# lit-dl on a CUDA-enabled PyTorch image; `lit-dl` is the entry point.
#
#   docker build -t lit-dl .
#   docker run --gpus all --ipc=host -v "$PWD/runs:/workspace/runs" -v "$PWD/data:/workspace/data" \
#       lit-dl fit --config experiments/quickstart.yaml --config experiments/trainer/gpu_bf16.yaml
#
# The container runs as the non-root user `litdl`; to own what it writes into bind-mounted
# folders, run it as yourself: --user "$(id -u):$(id -g)" -e HOME=/tmp
# Another PyTorch/CUDA pair: --build-arg BASE=pytorch/pytorch:<version>-cuda<x.y>-cudnn9-runtime
ARG BASE=pytorch/pytorch:2.7.1-cuda12.8-cudnn9-runtime
FROM ${BASE}

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/lit-dl
COPY pyproject.toml README.md ./
COPY lit_dl ./lit_dl
# Keep the image's CUDA build of torch (and torchvision, when the image has it): without the
# constraint pip may replace them with other builds from PyPI.
RUN { pip list --format=freeze | grep -iE '^(torch|torchvision)==' || true; } > /tmp/keep-torch.txt \
 && pip install -c /tmp/keep-torch.txt . \
 && rm /tmp/keep-torch.txt

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
