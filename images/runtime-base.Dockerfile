# The local runtime base (scripts/images.sh): the same layout as a distroless Node 24 image, made
# here. `collect` copies from the builder base only what node needs: the binary, the shared
# libraries `ldd` lists for it, CA certificates, time zones and a passwd/group with the non-root
# user. The result is FROM scratch: no shell, no package manager, no coreutils.
ARG BUILD_BASE
FROM ${BUILD_BASE} AS collect
COPY collect-runtime.sh /collect-runtime.sh
RUN bash /collect-runtime.sh /out

FROM scratch
COPY --from=collect /out/ /
ENV PATH=/nodejs/bin:/usr/local/bin:/usr/bin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/nodejs/bin/node"]
