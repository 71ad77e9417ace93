# The Celula image: one image for the operator (dist/src/main.js) and the cell runtime
# (dist/src/cell/main.js). Build: `npm run images` (bases made on this machine, docs/operations.md),
# or `docker build .` with the public defaults below.
#
# The default entrypoint is the cell: the operator's cell pods (src/builders/pod.ts) set no command,
# so the image's entrypoint is what a cell runs, and it must start Node with --disable-sigusr1
# (src/cell/hygiene.ts). The chart's Deployment sets its own command for the operator.
#
# No `# syntax=` line on purpose: it would make BuildKit pull a frontend image.

# A Node 24 image with npm (the builder stages) and a Node 24 runtime with no shell or package
# manager, node at /nodejs/bin/node and a non-root user 65532 (the final stage).
ARG BUILD_BASE=node:24-bookworm
ARG RUNTIME_BASE=gcr.io/distroless/nodejs24-debian12:nonroot

FROM ${BUILD_BASE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the only install scripts are dev-only (the `node` binary download, a file watcher).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN node node_modules/typescript/bin/tsc -p tsconfig.json

FROM ${BUILD_BASE} AS deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${RUNTIME_BASE}
ARG RUNTIME_BASE
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG SOURCE=
LABEL org.opencontainers.image.title="celula" \
      org.opencontainers.image.description="Celula operator and cell runtime: keeps a service's secret in memory only, on hardened nodes" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${RUNTIME_BASE}"
# node on PATH for the chart's `command: ["node", ...]`; NODE_OPTIONS stays unset (a cell refuses it).
ENV PATH=/nodejs/bin:/usr/local/bin:/usr/bin:/bin \
    NODE_ENV=production
WORKDIR /app
# Owned by root, read-only to the process: the app cannot change itself even on a writable root fs.
COPY package.json ./
COPY hijack/hijack.sh ./hijack/hijack.sh
COPY --from=deps /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["node", "--disable-sigusr1", "dist/src/cell/main.js"]
