# Veil gateway and worker image: `veil serve` (default) or `veil worker`.
# bin/veil runs the TypeScript sources through tsx, which is a runtime dependency, so no build step.
FROM node:20-slim

ENV NODE_ENV=production \
    VEIL_DATA_DIR=/var/lib/veil/data \
    VEIL_KEYS__DIR=/var/lib/veil/keys \
    VEIL_PROTECTION__PSEUDONYM_SECRET_FILE=/var/lib/veil/keys/pseudonym.secret

WORKDIR /app

# Dependencies first, so source edits do not invalidate the npm layer.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY tsconfig.json ./
COPY bin ./bin
COPY config ./config
COPY src ./src
COPY workers ./workers

# Private keys and spooled instances live on volumes owned by the unprivileged user.
RUN mkdir -p /var/lib/veil/data /var/lib/veil/keys \
    && chown -R node:node /var/lib/veil \
    && chmod 700 /var/lib/veil/keys
USER node
VOLUME ["/var/lib/veil/data", "/var/lib/veil/keys"]

# HTTP (DICOMweb, admin, health) and DIMSE.
EXPOSE 8080 11112

ENTRYPOINT ["node", "bin/veil"]
CMD ["serve"]
