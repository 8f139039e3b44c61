# digestflow: one image for every docker-compose service that runs our code or Spark (Airflow
# api-server, scheduler, dag-processor, triggerer, Spark master and workers). One image means one
# Python and one Spark for driver and executors: pyspark's wheel carries the Spark jars and
# bin/spark-class, so the cluster runs exactly pyspark==<constraints.txt> (docs/scale-out.md).
FROM python:3.11.7-slim-bookworm

ARG DEBIAN_FRONTEND=noninteractive
# Java 17 for Spark; tini reaps the JVMs' children; procps gives Spark's scripts `ps`.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless=17.* tini=0.19.* procps=2:4.* \
    && rm -rf /var/lib/apt/lists/*

ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AIRFLOW_HOME=/opt/airflow \
    SPARK_HOME=/usr/local/lib/python3.11/site-packages/pyspark \
    PYSPARK_PYTHON=/usr/local/bin/python \
    PYSPARK_DRIVER_PYTHON=/usr/local/bin/python \
    GX_ANALYTICS_ENABLED=false
ENV PATH="${SPARK_HOME}/bin:${PATH}"

WORKDIR /opt/digestflow
# Dependencies first (cached layer): exactly the pinned set, never newer.
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
COPY schemas ./schemas
COPY expectations ./expectations
COPY sql ./sql
COPY java ./java
RUN pip install --no-cache-dir -c constraints.txt ".[airflow,docker]" \
    && python -c "import pyspark, digestflow; print('pyspark', pyspark.__version__)"
COPY dags ./dags
COPY jobs ./jobs

# Same uid as the official Airflow image, so bind-mounted ./data keeps working for existing setups.
RUN useradd --uid 50000 --gid 0 --home-dir /opt/airflow --create-home digestflow \
    && mkdir -p /data/landing /data/warehouse \
    && chown -R 50000:0 /data /opt/airflow
USER 50000

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["digestflow", "--help"]
