# The local builder base (scripts/images.sh): a debootstrap minbase rootfs (imported as ROOTFS) plus
# the Node 24 binary of the `node` dev dependency and the host's npm. Used only for the builder
# stages of ../Dockerfile; nothing of it but node_modules and dist/ reaches the final image.
ARG ROOTFS
FROM ${ROOTFS}
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
# This machine's egress re-signs TLS: npm trusts the host's CA bundle (a builder-only file).
COPY host-ca.crt /usr/local/share/celula/host-ca.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version
ENV NPM_CONFIG_CAFILE=/usr/local/share/celula/host-ca.crt \
    NPM_CONFIG_UPDATE_NOTIFIER=false
