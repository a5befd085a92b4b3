# One image for every fitmesh process; the command names the service:
#   docker run fitmesh gateway | user_service | activity_service | scoring_service
FROM python:3.11-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv
WORKDIR /app
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY fitmesh ./fitmesh
COPY servicekit ./servicekit
COPY scoring_service ./scoring_service
COPY user_service ./user_service
COPY activity_service ./activity_service
COPY gateway ./gateway

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app fitmesh
WORKDIR /app
COPY --from=build /app /app
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1
USER 10001
EXPOSE 8000 50051 50052 50053 9101 9102 9103
ENTRYPOINT ["python", "-m"]
CMD ["gateway"]
