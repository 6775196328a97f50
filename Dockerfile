# The orchestrator service image. No build step: the service runs its TypeScript through tsx (a
# runtime dependency), as `make run` does. Build from the repository root:
#   docker build -t orchestrator:$(git describe --tags --always) \
#     --build-arg GIT_COMMIT=$(git rev-parse HEAD) --build-arg BUILD_TIME=$(date -u +%FT%TZ) .

FROM node:20-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY gen ./gen
COPY machines ./machines
COPY src ./src
# The image has no git: build-info reads these instead (InfoService, orchestrator_up labels).
ARG GIT_COMMIT=unknown
ARG BUILD_TIME=
ENV GIT_COMMIT=$GIT_COMMIT \
    BUILD_TIME=$BUILD_TIME \
    PORT=8002 \
    HOST=0.0.0.0 \
    DATA_DIR=/data/pglite
# PGlite's directory when DATABASE_URL is unset; mount a volume here to keep it.
RUN mkdir -p /data && chown 1000:1000 /data
# The image's `node` user, by number so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 8002
# node itself as PID 1 receives SIGTERM and drains (SHUTDOWN_GRACE_MS); no npm or shell wrapper.
CMD ["node", "--import", "tsx", "src/main.ts"]
