"""Security basics: no credentials in the repository, local servers on 127.0.0.1 only, and
``digestflow sql`` confined to the warehouse (it can neither read nor write any other file)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

CREDENTIAL_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret key": re.compile(r"aws_secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+]{40}"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "URL with password": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:([^@\s/'\"$]{3,})@"),
}
# In compose, env and config files: KEY=value / KEY: value where the key names a secret.
SECRET_ASSIGNMENT = re.compile(
    r"^\s*-?\s*[\"']?([A-Za-z0-9_.]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|FERNET_KEY)[A-Za-z0-9_]*)[\"']?"
    r"\s*[:=]\s*[\"']?([^\"'\s#]*)",
    re.IGNORECASE | re.MULTILINE,
)
CONFIG_SUFFIXES = {".yml", ".yaml", ".env", ".cfg", ".ini", ".conf", ".properties", ".toml", ".json"}
PLACEHOLDER = re.compile(r"^(\$\{[A-Za-z0-9_]+(?::?[-?][^}]*)?\}|\$[A-Za-z_]+|<[^>]+>|change-?me|\*+|x+|)$", re.I)


def repository_files() -> list[Path]:
    """Tracked files plus untracked ones that are not ignored: everything a commit could include."""
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    files = [REPO / name for name in out.split("\0") if name]
    return [f for f in files if f.is_file() and f.stat().st_size < 5_000_000]


def text_of(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")


def test_no_credentials_in_the_repository() -> None:
    findings = []
    for path in repository_files():
        text = text_of(path)
        if text is None or path == Path(__file__).resolve():
            continue
        rel = path.relative_to(REPO)
        for name, pattern in CREDENTIAL_PATTERNS.items():
            for match in pattern.finditer(text):
                line = text[: match.start()].count("\n") + 1
                findings.append(f"{rel}:{line}: {name}")
        is_config = path.suffix in CONFIG_SUFFIXES or path.name.startswith((".env", "docker-compose"))
        if is_config and path.name != ".env.example":
            for match in SECRET_ASSIGNMENT.finditer(text):
                key, value = match.group(1), match.group(2)
                if key.upper().endswith(("_FILE", "_PATH", "_CMD")):
                    continue  # names where the secret lives, not the secret
                if not PLACEHOLDER.match(value) and not value.startswith("${"):
                    line = text[: match.start()].count("\n") + 1
                    findings.append(f"{rel}:{line}: literal {match.group(1)} (use an env var)")
    assert findings == [], "credentials in the repository:\n" + "\n".join(findings)


def test_no_env_file_is_committed() -> None:
    names = [p.name for p in repository_files()]
    assert [n for n in names if n == ".env" or (n.startswith(".env.") and n != ".env.example")] == []


def test_the_credential_scanner_finds_planted_secrets() -> None:
    """The scanner itself must be able to fail: it flags each kind of planted secret."""
    key_head = "-----BEGIN RSA " + "PRIVATE KEY-----"
    samples = {
        "private key": key_head,
        "AWS access key id": "AKIA" + "ABCDEFGHIJKLMNOP",
        "GitHub token": "ghp_" + "a" * 36,
        "URL with password": "postgresql://airflow:" + "hunter2@localhost/db",
    }
    for name, text in samples.items():
        assert CREDENTIAL_PATTERNS[name].search(text), name
    compose = "services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: hunter2\n      TOKEN: ${TOKEN}\n"
    flagged = [m.group(1) for m in SECRET_ASSIGNMENT.finditer(compose) if not PLACEHOLDER.match(m.group(2))]
    assert flagged == ["POSTGRES_PASSWORD"]


# ------------------------------------------------------------------------------------- local servers

BIND_ANY = re.compile(r"0\.0\.0\.0|\bINADDR_ANY\b|--host[= ]+::(?![:\w])|bind\s*=\s*['\"]?\*")


def test_nothing_binds_to_all_interfaces() -> None:
    """A cheap static guard. It cannot see a server that a library binds on its own (Airflow's task-log
    server did, to ``[::]``): tests/test_airflow_e2e.py lists the listening sockets of every process of
    a running local deployment and fails on any non-loopback address."""
    findings = []
    for path in repository_files():
        if path.suffix == ".md" or path == Path(__file__).resolve():
            continue  # prose may mention 0.0.0.0 to warn against it
        text = text_of(path)
        if text is None:
            continue
        for match in BIND_ANY.finditer(text):
            line = text[: match.start()].count("\n") + 1
            findings.append(f"{path.relative_to(REPO)}:{line}: {text.splitlines()[line - 1].strip()}")
    assert findings == [], "servers must bind to 127.0.0.1:\n" + "\n".join(findings)


def test_compose_publishes_ports_on_loopback_only() -> None:
    """Docker publishes ``"8080:8080"`` on every interface; only ``127.0.0.1:…`` keeps it local."""
    yaml = pytest.importorskip("yaml")
    for compose in REPO.glob("docker-compose*.y*ml"):
        services = (yaml.safe_load(compose.read_text()) or {}).get("services", {})
        for name, service in services.items():
            for port in service.get("ports", []) or []:
                text = str(port.get("host_ip", "") if isinstance(port, dict) else port)
                assert text.startswith("127.0.0.1"), f"{compose.name}: service {name} publishes {port!r}"


def test_standalone_spark_scripts_pin_the_local_ip() -> None:
    """Spark's standalone web UIs bind to SPARK_LOCAL_IP, and to 0.0.0.0 when it is unset."""
    for script in (REPO / "scripts").glob("*spark*"):
        text = script.read_text()
        if "start-master" in text or "deploy.master.Master" in text or "start-worker" in text:
            assert re.search(r"SPARK_LOCAL_IP=[\"']?127\.0\.0\.1", text), script


def test_spark_driver_binds_to_loopback(spark) -> None:
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.driver.bindAddress") == "127.0.0.1"
    assert conf.get("spark.driver.host") == "127.0.0.1"
    assert conf.get("spark.ui.enabled", "true") == "false"


# --------------------------------------------------------------------------------- digestflow sql


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> dict[str, Path]:
    """A warehouse with one small papers partition, and secret files right next to it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path_factory.mktemp("sqlsec")
    warehouse = root / "warehouse"
    part = warehouse / "papers" / "digest_date=2025-03-03"
    part.mkdir(parents=True)
    pq.write_table(pa.table({"paper_id": ["p1"], "title": ["A title"]}), part / "part-0.parquet")
    (root / "secret.csv").write_text("secret\nTOPSECRET-CSV\n")
    pq.write_table(pa.table({"secret": ["TOPSECRET-PARQUET"]}), root / "secret.parquet")
    (root / "secret.json").write_text('{"secret": "TOPSECRET-JSON"}\n')
    return {"root": root, "warehouse": warehouse}


def attacks(root: Path, warehouse: Path) -> list[str]:
    csv_, pq_, js = (root / "secret.csv").as_posix(), (root / "secret.parquet").as_posix(), (root / "secret.json").as_posix()
    out = (root / "out").as_posix()
    traversal = (warehouse / ".." / "secret.parquet").as_posix()
    return [
        f"SELECT * FROM read_csv('{csv_}')",
        f"SELECT * FROM read_csv_auto('{csv_}')",
        f"SELECT * FROM '{csv_}'",
        f'SELECT * FROM "{csv_}"',
        f"FROM '{pq_}'",
        f"SELECT * FROM parquet_scan('{pq_}')",
        f"SELECT * FROM parquet_metadata('{pq_}')",
        f"SELECT * FROM read_parquet('{traversal}')",
        f"SELECT * FROM '{traversal}'",
        f"SELECT * FROM read_json('{js}')",
        f"SELECT * FROM '{js}'",
        f"SELECT * FROM sniff_csv('{csv_}')",
        f"SELECT content FROM read_text('{csv_}')",
        f"SELECT * FROM read_blob('{csv_}')",
        "SELECT * FROM glob('/etc/*')",
        f"SUMMARIZE SELECT * FROM '{csv_}'",
        f"DESCRIBE SELECT * FROM '{pq_}'",
        f"WITH x AS (SELECT * FROM '{csv_}') SELECT * FROM x",
        f"SELECT * FROM papers UNION ALL BY NAME SELECT * FROM '{pq_}'",
        f"COPY (SELECT 1) TO '{out}.csv'",
        f"SELECT 1; COPY (SELECT * FROM papers) TO '{out}.parquet'",
        f"EXPORT DATABASE '{out}_db'",
        f"ATTACH '{out}.duckdb' AS x",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "RESET enable_external_access",
        "PRAGMA enable_external_access",
        f"CREATE TABLE t AS SELECT * FROM '{csv_}'",
        "CREATE TEMP TABLE t AS SELECT 1",
        f"CREATE VIEW v AS SELECT * FROM '{csv_}'",
        "DROP VIEW papers",
        f"SELECT 1; SET allowed_directories = ['/']; SELECT * FROM '{csv_}'",
        f"CO/**/PY (SELECT 1) TO '{out}2.csv'",
        f"select * from READ_CSV('{csv_}')",
        "SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')",
    ]


def test_digestflow_sql_cannot_read_or_write_outside_the_warehouse(sandbox) -> None:
    import duckdb

    from digestflow import sql as sqlmod

    root, warehouse = sandbox["root"], sandbox["warehouse"]
    leaked, allowed = [], []
    for attack in attacks(root, warehouse):
        try:
            columns, rows = sqlmod.query(str(warehouse), attack)
        except (sqlmod.QueryRefused, duckdb.Error):
            continue
        text = repr((columns, rows))
        if "TOPSECRET" in text:
            leaked.append(f"{attack!r} -> {text[:120]}")
        else:
            allowed.append(attack)
    written = sorted(p.name for p in root.iterdir() if p.name.startswith("out"))
    assert leaked == [], "digestflow sql read a file outside the warehouse:\n" + "\n".join(leaked)
    assert written == [], f"digestflow sql wrote outside the warehouse: {written}"
    after = sorted(p.relative_to(warehouse).as_posix() for p in warehouse.rglob("*") if p.is_file())
    assert after == ["papers/digest_date=2025-03-03/part-0.parquet"], "the warehouse was written to"
    # What did run (e.g. an in-memory TEMP table) touched no file: checked above.
    assert not any(a.upper().startswith(("COPY", "EXPORT", "ATTACH", "INSTALL", "LOAD")) for a in allowed), allowed


def test_digestflow_sql_still_answers_read_queries(sandbox) -> None:
    from digestflow import sql as sqlmod

    warehouse = sandbox["warehouse"]
    _, rows = sqlmod.query(str(warehouse), "SELECT title, 'copy; create' AS s FROM papers")
    assert rows == [("A title", "copy; create")]


def test_digestflow_sql_cli_refuses_with_a_message(sandbox) -> None:
    root, warehouse = sandbox["root"], sandbox["warehouse"]
    result = subprocess.run(
        [sys.executable, "-m", "digestflow.cli", "sql", "--warehouse", str(warehouse),
         f"SELECT * FROM read_csv('{(root / 'secret.csv').as_posix()}')"],
        capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert "TOPSECRET" not in result.stdout + result.stderr
    assert result.stderr.strip(), "a refusal must say why"
