# subgate container image: a static binary on distroless (see docs/deploy.md).
#
#   docker build -t subgate --build-arg VERSION=$(git describe --tags --always --dirty) .
#   docker run -v subgate-data:/data -v $PWD/config.toml:/etc/subgate/config.toml:ro -p 127.0.0.1:8080:8080 subgate
#
# The config must listen on 0.0.0.0:8080 and use data_dir = "/data".

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# TARGETOS and TARGETARCH come from BuildKit (docker buildx --platform).
ARG TARGETOS TARGETARCH VERSION=dev COMMIT=none DATE=unknown
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH:-amd64} go build -trimpath \
      -ldflags "-s -w -X main.version=$VERSION -X main.commit=$COMMIT -X main.date=$DATE" \
      -o /out/subgate . \
 && mkdir -p /out/data

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/subgate /usr/local/bin/subgate
# The volume's mount point belongs to the image's user, so a fresh named
# volume starts out writable by it.
COPY --from=build --chown=nonroot:nonroot /out/data /data
VOLUME /data
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/subgate"]
CMD ["serve", "-c", "/etc/subgate/config.toml"]
