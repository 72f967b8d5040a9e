# The reproducible GPU test environment.
#   docker build -t gpudeep .
#   docker run --rm --gpus all gpudeep          # gpudeep info, then the whole test suite on CuPy
# CUDA 13 instead of 12:
#   docker build -t gpudeep:cuda13 --build-arg CUDA_IMAGE=nvidia/cuda:13.0.1-runtime-ubuntu24.04 \
#     --build-arg CUPY_PACKAGE=cupy-cuda13x==14.2.0 --build-arg CUDA_HEADERS_PACKAGE="nvidia-cuda-runtime==13.0.*" .
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-runtime-ubuntu24.04
FROM ${CUDA_IMAGE}

# The runtime image has the CUDA libraries but not the headers CuPy's kernel compiler needs:
# they come from NVIDIA's wheel of the same CUDA major.
ARG CUPY_PACKAGE=cupy-cuda12x==14.2.0
ARG CUDA_HEADERS_PACKAGE="nvidia-cuda-runtime-cu12==12.6.*"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    MPLBACKEND=Agg

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv \
    && useradd --create-home --uid 10001 gpudeep \
    && install -d -o 10001 -g 10001 /opt/gpudeep

WORKDIR /opt/gpudeep
COPY --chown=10001:10001 pyproject.toml README.md ./
COPY --chown=10001:10001 gpudeep ./gpudeep
RUN pip install "${CUPY_PACKAGE}" "${CUDA_HEADERS_PACKAGE}" ".[test,track]"
COPY --chown=10001:10001 tests ./tests
COPY --chown=10001:10001 notebooks ./notebooks
COPY --chown=10001:10001 benchmarks ./benchmarks
COPY --chown=10001:10001 scripts ./scripts
# The tests read these: the Dockerfile and its lint rules, and the README's commands against CI's.
COPY --chown=10001:10001 Dockerfile .hadolint.yaml ./
COPY --chown=10001:10001 .ci ./.ci

USER 10001
ENV GPUDEEP_BACKEND=cupy
CMD ["scripts/docker-test.sh"]
