# The opsflow worker, compiled. The build stage compiles src/ to dist/ and prebuilds the workflow bundle with the dev
# dependencies (TypeScript); the runtime stage has the production dependencies only and runs plain JavaScript.
FROM node:20-slim AS build

WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.js ./scripts/
COPY src ./src
RUN npm run build

FROM node:20-slim

WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY opsflow.yaml ./

# The worker writes its logs under .opsflow/; it runs as the unprivileged node user.
RUN mkdir -p .opsflow && chown node:node .opsflow
USER node

ENV TEMPORAL_ADDRESS=temporal:7233 \
    TEMPORAL_NAMESPACE=default

CMD ["node", "--enable-source-maps", "dist/workers/main.js", "--config", "opsflow.yaml"]
