FROM python:3.11-slim
WORKDIR /app
RUN pip install --no-cache-dir uv==0.13.8
COPY pyproject.toml uv.lock README.md ./
COPY lkbus lkbus
COPY schemas schemas
COPY producers producers
COPY consumers consumers
RUN uv sync --locked --no-dev --no-editable && rm -rf /root/.cache
ENV PATH="/app/.venv/bin:$PATH"
USER nobody
ENTRYPOINT []
CMD ["lkbus", "--help"]
