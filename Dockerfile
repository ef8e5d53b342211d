# syntax=docker/dockerfile:1
#
# One image for every Postbus process; the command picks which one runs:
#   node --single-threaded-gc services/<admin|orchestrator|sender|projector|tracking|bounce-processor|sponsor-gateway>/dist/main.js
#     (--single-threaded-gc: see SERVICE_NODE_ARGS in packages/config)
#   node packages/cli/dist/main.js migrate        (the `postbus` CLI)
# docker-compose.yml runs it that way; deploy/README.md has the details.
#
#   docker build -t postbus .
#   docker run --rm --env-file .env postbus node packages/cli/dist/main.js migrate

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: install everything, compile, then cut node_modules down to production dependencies
FROM ${NODE_IMAGE} AS build
ENV CI=true
RUN npm i -g pnpm@12.4.2
WORKDIR /app
# The lockfile alone fills pnpm's store (`pnpm fetch`): this layer is rebuilt only when the
# lockfile changes, not on every source edit.
COPY pnpm-lock.yaml pnpm-workspace.yaml package.json ./
RUN pnpm fetch
COPY . .
RUN pnpm install --offline --frozen-lockfile \
 && pnpm build
# Production dependencies only: reinstall from the same store without devDependencies, then drop
# what no process in the image runs (sources, tests, benchmarks, build info).
RUN rm -rf node_modules packages/*/node_modules services/*/node_modules integration-tests/node_modules bench/node_modules \
 && pnpm install --offline --frozen-lockfile --prod \
 && rm -rf integration-tests bench docs scripts .ci \
      packages/*/src services/*/src services/*/test \
      packages/*/tsconfig*.json services/*/tsconfig*.json tsconfig*.json eslint.config.js vitest*.ts \
 && find packages services -name '*.tsbuildinfo' -delete \
 && find packages services -path '*/dist/*' \( -name '*.test.js' -o -name '*.test.d.ts' -o -name '*.map' \) -delete

# ---- runtime: node, tini as PID 1 (signals reach node, zombies are reaped), a non-root user
FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app /app
USER node
# Services bind 127.0.0.1 by default; in a container they must listen on every interface.
ENV POSTBUS_ADMIN_HOST=0.0.0.0 \
    POSTBUS_TRACKING_HOST=0.0.0.0 \
    POSTBUS_SPONSOR_GATEWAY_HOST=0.0.0.0
ENTRYPOINT ["/usr/bin/tini", "--"]
# No default service: say which one (see the top of this file). Without a command this prints the CLI's usage.
CMD ["node", "packages/cli/dist/main.js", "help"]
