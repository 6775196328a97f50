# The orchestrator service image: compiled with `make build` (tsc into dist/), run as `make start`
# does (`node dist/src/main.js`, no tsx at run time), production dependencies only, as a non-root
# user. Build from the repository root:
#   docker build -t orchestrator:$(git describe --tags --always) \
#     --build-arg GIT_COMMIT=$(git rev-parse HEAD) --build-arg BUILD_TIME=$(date -u +%FT%TZ) .

# Production dependencies only: what the running service loads.
FROM node:20-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# The compiler and its inputs (tsconfig.build.json's include), with every dependency.
FROM node:20-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY Makefile tsconfig.json tsconfig.build.json ./
COPY gen ./gen
COPY machines ./machines
COPY src ./src
COPY bench/bench-counter-machine.ts ./bench/
RUN make build

FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
# dist/ holds the compiled service and the package.json build-info reads.
COPY --from=build /app/dist ./dist
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
# A larger young generation than V8's default (README.md, "Running"; bench/JOURNAL.md, Session 24).
CMD ["node", "--max-semi-space-size=64", "dist/src/main.js"]
