# gwsim: one static binary in a small non-root image (about 13 MB: distroless
# static, 2 MB, and the 11 MB binary).
#   docker build --build-arg VERSION="$(git describe --tags --always --dirty)" -t gwsim .
#   docker run --rm gwsim run                 # the seed suite
#   docker run --rm gwsim --version           # names the commit given as VERSION
# (.git stays out of the build context, so without VERSION the image says
# "devel"; go install of a tagged module version knows its own.)
#   docker run --rm gwsim backend --help
#
# The image is generic: docker-compose.yml picks the subcommand per service
# and gives each its HEALTHCHECK. The final image is distroless (no shell, no
# curl), so health checks use the exec form and gwsim itself:
#   healthcheck: {test: ["CMD", "/usr/local/bin/gwsim", "health", "http://127.0.0.1:9081/healthz"]}
# Works with the classic builder and with BuildKit (no cache mounts needed).

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so editing the sources does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
# Static: no cgo, no libc; -trimpath and -s -w for a small, reproducible binary.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/gwsim ./cmd/gwsim \
 && /out/gwsim version

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gwsim /usr/local/bin/gwsim
# nonroot is uid/gid 65532; gwsim needs no privilege (all ports > 1024).
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/gwsim"]
CMD ["run"]
