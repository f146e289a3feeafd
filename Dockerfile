# syntax=docker/dockerfile:1
#
# glow-serve images. The default target is the CPU image; the GPU image is the `gpu` target:
#
#   docker build -t glow-serve .                           # CPU (Debian bookworm, Node 20)
#   docker build --target gpu -t glow-serve:gpu .          # GPU (CUDA 11.2 + cuDNN 8, tfjs-node-gpu)
#
#   docker run --rm -p 8080:8080 glow-serve
#   docker run --rm --gpus all -p 8080:8080 glow-serve:gpu
#
# Both serve every checkpoint shipped in models/ (GLOW_MODELS_DIR; mnist is the default, ?model=avatars
# the faces) as the non-root user 1000 and keep
# the attribute database in /app/data (mount a volume there to keep user-made attributes).

ARG NODE_IMAGE=node:20-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04

# ---------------------------------------------------------------- application files (no dependencies)
FROM scratch AS app
COPY package.json package-lock.json tsconfig.json /app/
COPY src /app/src
COPY public /app/public
COPY models /app/models

# ---------------------------------------------------------------- CPU: production dependencies
# The compiler builds the native GEMM (native/blas, against OpenBLAS) that npm ci's postinstall makes
# for the wasm backend's matMul and conv2d, and better-sqlite3 if it has no prebuilt binary.
FROM ${NODE_IMAGE} AS cpu-deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 make g++ libopenblas-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY scripts/build-native.ts ./scripts/
COPY native/blas/binding.gyp native/blas/gemm.c ./native/blas/
# tsx is a regular dependency (npm start runs TypeScript directly), so --omit=dev is all we need.
RUN npm ci --omit=dev --no-audit --no-fund \
 && test -f native/blas/build/Release/glow_blas.node

# ---------------------------------------------------------------- GPU: Node 20 on the CUDA base
FROM ${NODE_IMAGE} AS node
FROM ${CUDA_IMAGE} AS gpu-base
# The official Node 20 binary needs glibc >= 2.28; Ubuntu 20.04 has 2.31.
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version

FROM gpu-base AS gpu-deps
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# npm ci's postinstall (the optional native GEMM) finds no OpenBLAS here and skips it: this image computes with tfjs-node-gpu.
COPY scripts/build-native.ts ./scripts/
COPY native/blas/binding.gyp native/blas/gemm.c ./native/blas/
# tfjs-node-gpu 4.22 runs on libtensorflow 2.9.1 (CUDA 11.2, cuDNN 8), fetched by its install script.
# GLOW_BACKEND=auto tries it first, so this image computes on the GPU when one is visible.
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm install --omit=dev --no-save --no-audit --no-fund @tensorflow/tfjs-node-gpu@4.22.0

FROM gpu-base AS gpu
RUN groupadd --gid 1000 glow && useradd --uid 1000 --gid glow --create-home --shell /usr/sbin/nologin glow
# MALLOC_ARENA_MAX: glibc gives each thread that mallocs (libuv's pool decoding uploads, the
# inference worker) an arena of its own and keeps freed memory in them; with two, less is kept after
# a burst of large uploads (docs/reliability.md, "Memory after bursts").
ENV NODE_ENV=production \
    PORT=8080 \
    HOST=0.0.0.0 \
    GLOW_MODELS_DIR=/app/models \
    GLOW_DATA_DIR=/app/data \
    GLOW_BACKEND=auto \
    MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=gpu-deps /app/node_modules ./node_modules
COPY --from=app /app ./
RUN mkdir -p /app/data && chown 1000:1000 /app/data
USER 1000:1000
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node itself as PID 1 (not npm): SIGTERM reaches the server, which drains and exits.
CMD ["node", "--import", "tsx", "src/server/server.ts"]

# ---------------------------------------------------------------- CPU image (the default target: last)
FROM ${NODE_IMAGE} AS cpu
# OpenBLAS's runtime library, for the native GEMM built in cpu-deps.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopenblas0 \
 && rm -rf /var/lib/apt/lists/*
# MALLOC_ARENA_MAX: glibc gives each thread that mallocs (libuv's pool decoding uploads, the
# inference worker) an arena of its own and keeps freed memory in them; with two, less is kept after
# a burst of large uploads (docs/reliability.md, "Memory after bursts").
ENV NODE_ENV=production \
    PORT=8080 \
    HOST=0.0.0.0 \
    GLOW_MODELS_DIR=/app/models \
    GLOW_DATA_DIR=/app/data \
    GLOW_BACKEND=auto \
    MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=cpu-deps /app/node_modules ./node_modules
COPY --from=cpu-deps /app/native/blas/build/Release/glow_blas.node ./native/blas/build/Release/
COPY --from=app /app ./
# The node image's own unprivileged user (uid 1000) owns only the data directory.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "--import", "tsx", "src/server/server.ts"]
