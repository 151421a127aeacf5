# gwsim: one static binary in a small non-root image.
#   docker build -t gwsim .
#   docker run --rm gwsim run
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/gwsim ./cmd/gwsim

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gwsim /usr/local/bin/gwsim
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/gwsim"]
CMD ["run"]
