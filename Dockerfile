# Levee as a container: `docker build -t levee .` then `docker run -p 9092:9092 -v levee-data:/var/lib/levee levee`.
# Multi-stage: the SDK image publishes `levee`; the runtime image (ASP.NET Core runtime, which the broker's Kestrel
# listeners need) carries only the published output, runs as the image's non-root `app` user, and keeps its data in
# a volume. Every setting comes from LEVEE_* environment variables (LEVEE_NODE_ID for node.id, LEVEE_LISTENERS for
# listeners, ...; docs/container.md). tests/Levee.Compat/ContainerTests.cs runs this file's ENV and CMD without a
# container builder.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish src/Levee/Levee.csproj -c Release -o /out

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /out .
RUN mkdir -p /var/lib/levee && chown app:app /var/lib/levee
USER app
VOLUME /var/lib/levee
ENV LEVEE_LOG_DIRS=/var/lib/levee
ENV LEVEE_LISTENERS=PLAINTEXT://0.0.0.0:9092
ENV LEVEE_ADVERTISED_LISTENERS=PLAINTEXT://localhost:9092
ENV LEVEE_QUORUM_PORT=9093
# The admin HTTP API, /metrics and the dashboard, inside the container only: to publish it, set
# LEVEE_ADMIN_LISTENER=0.0.0.0:8080 together with LEVEE_ADMIN_TOKEN (required off loopback).
ENV LEVEE_ADMIN_LISTENER=127.0.0.1:8080
EXPOSE 9092 9093 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s CMD ["dotnet", "/app/levee.dll", "topics", "list", "--bootstrap-server", "127.0.0.1:9092", "--timeout-s", "4"]
ENTRYPOINT ["dotnet", "/app/levee.dll"]
CMD ["serve"]
