# The opsflow worker. tsx runs the TypeScript sources directly, so there is no build step; tsx is a
# runtime dependency, hence a plain `npm ci`.
FROM node:20-slim

WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund && npm cache clean --force

COPY tsconfig.json opsflow.yaml ./
COPY bin ./bin
COPY src ./src

# The worker writes its logs under .opsflow/; it runs as the unprivileged node user.
RUN mkdir -p .opsflow && chown node:node .opsflow
USER node

ENV TEMPORAL_ADDRESS=temporal:7233 \
    TEMPORAL_NAMESPACE=default

CMD ["node", "--import", "tsx", "src/workers/main.ts", "--config", "opsflow.yaml"]
