# The same release binary the README builds (`cargo build --release`), in a small runtime image.
#   docker build -t broadsheet .
#   docker compose up          # with Postgres and a mail catcher, see compose.yaml
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# SQL is checked against the committed .sqlx/ data: the build needs no database.
ENV SQLX_OFFLINE=true
RUN cargo build --release --locked --bin broadsheet

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home /var/lib/broadsheet --create-home broadsheet
COPY --from=build /src/target/release/broadsheet /usr/local/bin/broadsheet
COPY config /etc/broadsheet
ENV BROADSHEET_CONFIG_DIR=/etc/broadsheet \
    BROADSHEET__HTTP__ADDR=0.0.0.0:8080
USER broadsheet
WORKDIR /var/lib/broadsheet
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/broadsheet"]
CMD ["serve"]
