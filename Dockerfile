# The ledger service image: `atlas ledger serve` (charts/ledger runs it).
# `atlas up --driver k3d` builds it (docker build --tag atlas-ledger:0.1.0 .) and
# imports it into every data region's cluster (k3d image import … --cluster dc-us --cluster dc-eu).

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY scripts ./scripts
COPY src ./src
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json /app/oclif.manifest.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/bin ./bin
COPY --from=build /app/dist ./dist
COPY templates ./templates
# the base image's unprivileged "node" user (uid 1000), as the chart's runAsUser expects
USER 1000:1000
EXPOSE 8080 9464
# for `docker run`; Kubernetes ignores it and uses the chart's probes (/healthz, /readyz)
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.ATLAS_HTTP_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/bin/run.js"]
CMD ["ledger", "serve"]
