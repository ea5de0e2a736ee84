"""Tests for the EMR support: sizing, configurations, commands, bootstrap, error scan."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml

from roomrec import emr

REPO_ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP_DIR = REPO_ROOT / "emr-bootstrap"
CLUSTER_FILE = BOOTSTRAP_DIR / "cluster.yaml"
CONFIGURATIONS_FILE = BOOTSTRAP_DIR / "configurations.json"
PARAMS_FILE = REPO_ROOT / "params" / "emr.yaml"
SHELL_SCRIPTS = sorted([*BOOTSTRAP_DIR.glob("*.sh"), *(REPO_ROOT / "scripts").glob("*.sh")])

# r4.8xlarge: yarn.nodemanager.resource.memory-mb from the Amazon EMR Release Guide
# ("Task configuration"), and 32 vCPUs.
R4_8XLARGE_YARN_MB = 241664
R4_8XLARGE_VCPUS = 32
# spark.yarn.am.memory (512 MiB) plus its minimum overhead (384 MiB).
CLIENT_MODE_AM_MB = 896
CLASSIFICATIONS = (
    "spark-defaults",
    "spark-env",
    "livy-conf",
    "zeppelin-env",
    "jupyter-sparkmagic-conf",
)


def _mib(value: str) -> int:
    """Convert a Spark memory string (35840m, 32g) to MiB."""
    units = {"m": 1, "g": 1024}
    return int(value[:-1]) * units[value[-1].lower()]


@pytest.fixture(scope="module")
def cluster() -> dict:
    return emr.load_cluster(str(CLUSTER_FILE))


@pytest.fixture(scope="module")
def sizing(cluster) -> emr.ExecutorSizing:
    return emr.size_executors(
        R4_8XLARGE_YARN_MB, R4_8XLARGE_VCPUS, int(cluster["core_instance_count"])
    )


@pytest.fixture(scope="module")
def configurations() -> dict[str, dict]:
    loaded = json.loads(CONFIGURATIONS_FILE.read_text())
    return {item["Classification"]: item for item in loaded}


@pytest.fixture()
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)


# -- sizing ---------------------------------------------------------------------------


def test_sizing_r4_8xlarge_arithmetic(sizing):
    assert sizing.executors_per_node == 6
    assert sizing.executor_cores == 5
    assert sizing.executor_memory_mb == 35840
    assert sizing.executor_memory_overhead_mb == 3584
    assert sizing.executor_instances == 42
    assert sizing.total_cores == 210
    assert sizing.shuffle_partitions == 630


def test_sizing_fits_yarn_memory_with_am(sizing):
    used = sizing.executors_per_node * sizing.container_memory_mb
    assert used <= R4_8XLARGE_YARN_MB
    assert sizing.spare_node_memory_mb == R4_8XLARGE_YARN_MB - used
    assert sizing.spare_node_memory_mb >= CLIENT_MODE_AM_MB
    assert sizing.executors_per_node * sizing.executor_cores <= R4_8XLARGE_VCPUS - 1


def test_sizing_overhead_at_least_ten_percent(sizing):
    assert sizing.executor_memory_overhead_mb >= 0.10 * sizing.executor_memory_mb
    assert sizing.executor_memory_mb % 1024 == 0


def test_sizing_rejects_too_small_node():
    with pytest.raises(ValueError, match="cannot fit an executor of 5 cores"):
        emr.size_executors(16384, 4, 3)


# -- configurations.json ----------------------------------------------------------------


def test_configurations_has_five_classifications(configurations):
    assert set(configurations) == set(CLASSIFICATIONS)
    for item in configurations.values():
        assert isinstance(item.get("Properties", {}), dict)
        for value in item.get("Properties", {}).values():
            assert isinstance(value, str), "EMR classification values must be strings"


def test_spark_defaults_match_sizing(configurations, sizing):
    props = configurations["spark-defaults"]["Properties"]
    assert int(props["spark.executor.cores"]) == sizing.executor_cores
    assert _mib(props["spark.executor.memory"]) == sizing.executor_memory_mb
    assert _mib(props["spark.executor.memoryOverhead"]) == sizing.executor_memory_overhead_mb
    assert int(props["spark.executor.instances"]) == sizing.executor_instances
    assert int(props["spark.dynamicAllocation.maxExecutors"]) == sizing.executor_instances
    assert int(props["spark.sql.shuffle.partitions"]) == sizing.shuffle_partitions
    assert int(props["spark.default.parallelism"]) == sizing.shuffle_partitions
    assert props["spark.checkpoint.dir"] == "hdfs:///roomrec/checkpoints"


def test_spark_defaults_containers_fit_node(configurations):
    props = configurations["spark-defaults"]["Properties"]
    container = _mib(props["spark.executor.memory"]) + _mib(props["spark.executor.memoryOverhead"])
    per_node = int(props["spark.executor.instances"]) // 7
    assert per_node * container + CLIENT_MODE_AM_MB <= R4_8XLARGE_YARN_MB
    assert per_node * int(props["spark.executor.cores"]) <= R4_8XLARGE_VCPUS


def test_python_is_311_everywhere(configurations, cluster):
    for classification in ("spark-env", "zeppelin-env"):
        exports = configurations[classification]["Configurations"][0]
        assert exports["Classification"] == "export"
        assert exports["Properties"]["PYSPARK_PYTHON"] == "python3.11"
        assert exports["Properties"]["PYSPARK_DRIVER_PYTHON"] == "python3.11"
    assert cluster["bootstrap"]["python"] == "python3.11"


def test_sparkmagic_session_matches_sizing(configurations, sizing):
    props = configurations["jupyter-sparkmagic-conf"]["Properties"]
    session = json.loads(props["session_configs"])
    assert session["executorCores"] == sizing.executor_cores
    assert _mib(session["executorMemory"]) == sizing.executor_memory_mb
    conf = session["conf"]
    assert _mib(conf["spark.executor.memoryOverhead"]) == sizing.executor_memory_overhead_mb
    assert int(conf["spark.dynamicAllocation.maxExecutors"]) == sizing.executor_instances
    assert props["spark_statement_errors_are_fatal"] == "true"


def test_livy_closes_idle_sessions(configurations):
    props = configurations["livy-conf"]["Properties"]
    assert props["livy.server.session.timeout-check"] == "true"
    assert props["livy.server.session.timeout"] == "2h"


# -- params/emr.yaml --------------------------------------------------------------------


def test_params_emr_keys_and_values(configurations, sizing):
    params = yaml.safe_load(PARAMS_FILE.read_text())
    assert set(params) == {
        "input_path",
        "input_format",
        "start_date",
        "end_date",
        "data_dir",
        "spark_master",
        "spark_conf",
        "shuffle_partitions",
        "checkpoint_dir",
        "seed",
    }
    assert params["spark_master"] == "yarn"
    assert params["input_path"].startswith("s3://")
    assert params["data_dir"].startswith("s3://")
    assert "{run_id}" in params["data_dir"]
    assert params["checkpoint_dir"] == "hdfs:///roomrec/checkpoints"
    assert params["shuffle_partitions"] == sizing.shuffle_partitions
    conf = params["spark_conf"]
    defaults = configurations["spark-defaults"]["Properties"]
    for key in (
        "spark.executor.cores",
        "spark.executor.memory",
        "spark.executor.memoryOverhead",
        "spark.executor.instances",
        "spark.driver.memory",
        "spark.default.parallelism",
    ):
        assert str(conf[key]) == defaults[key], key
    assert conf["spark.dynamicAllocation.enabled"] == "false"


# -- commands -------------------------------------------------------------------------


def _printed_commands(output: str) -> list[list[str]]:
    lines = [line for line in output.splitlines() if line and not line.startswith("#")]
    return [shlex.split(line) for line in lines]


def _option(command: list[str], flag: str) -> str:
    assert command.count(flag) == 1, f"{flag} appears {command.count(flag)} times"
    return command[command.index(flag) + 1]


def _options_until_next_flag(command: list[str], flag: str) -> list[str]:
    start = command.index(flag) + 1
    values = []
    for item in command[start:]:
        if item.startswith("--"):
            break
        values.append(item)
    return values


def test_dry_run_prints_create_cluster(in_repo, capsys):
    status = emr.main(["--cluster", str(CLUSTER_FILE), "--params", "params/emr.yaml"])
    assert status == 0
    commands = _printed_commands(capsys.readouterr().out)
    create = [c for c in commands if c[:3] == ["aws", "emr", "create-cluster"]]
    assert len(create) == 1
    command = create[0]
    assert _option(command, "--release-label").startswith("emr-7.")
    assert _option(command, "--configurations") == "file://emr-bootstrap/configurations.json"
    assert _options_until_next_flag(command, "--applications") == [
        "Name=Hadoop",
        "Name=Spark",
        "Name=Livy",
        "Name=Zeppelin",
        "Name=JupyterHub",
    ]
    groups = json.loads(_option(command, "--instance-groups"))
    assert [(g["InstanceGroupType"], g["InstanceType"], g["InstanceCount"]) for g in groups] == [
        ("MASTER", "r4.8xlarge", 1),
        ("CORE", "r4.8xlarge", 7),
    ]
    attributes = json.loads(_option(command, "--ec2-attributes"))
    assert set(attributes) == {"KeyName", "SubnetId", "InstanceProfile"}
    assert "--no-auto-terminate" in command


def test_dry_run_bootstrap_action(in_repo, capsys, cluster):
    emr.main(["--params", "params/emr.yaml"])
    command = next(c for c in _printed_commands(capsys.readouterr().out) if "create-cluster" in c)
    actions = json.loads(_option(command, "--bootstrap-actions"))
    assert len(actions) == 1
    assert actions[0]["Path"] == cluster["bootstrap"]["script"]
    assert actions[0]["Args"] == [
        "--wheel",
        cluster["bootstrap"]["wheel"],
        "--python",
        "python3.11",
    ]


def test_dry_run_steps_run_roomrec(in_repo, capsys, cluster):
    emr.main(["--params", "params/emr.yaml"])
    command = next(c for c in _printed_commands(capsys.readouterr().out) if "create-cluster" in c)
    prepare, run = json.loads(_option(command, "--steps"))
    for step in (prepare, run):
        assert step["Type"] == "CUSTOM_JAR"
        assert step["Jar"] == "command-runner.jar"
        assert step["Args"][:2] == ["bash", "-c"]
    assert prepare["ActionOnFailure"] == "CANCEL_AND_WAIT"
    assert "hdfs dfs -mkdir -p hdfs:///roomrec/checkpoints" in prepare["Args"][2]
    assert cluster["project_uri"] in prepare["Args"][2]
    script = run["Args"][2]
    run_line = next(line for line in script.splitlines() if line.startswith("roomrec run"))
    assert shlex.split(run_line.split(" || ")[0])[:4] == [
        "roomrec",
        "run",
        "--params",
        "params/emr.yaml",
    ]
    # scripts/run-step-from-wheel.sh runs step_command locally, so it must be this line.
    assert shlex.split(run_line.split(" || ")[0]) == emr.step_command("params/emr.yaml")
    assert 'exit "$status"' in script
    assert cluster["runs_uri"] in script
    # The step script must be valid bash.
    checked = subprocess.run(["bash", "-n", "-c", script], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_dry_run_uploads_what_cluster_reads(in_repo, capsys, cluster):
    emr.main(["--params", "params/emr.yaml"])
    commands = _printed_commands(capsys.readouterr().out)
    assert commands[0] == ["python3", "-m", "pip", "wheel", "--no-deps", ".", "-w", "dist/"]
    targets = {c[-1] for c in commands if c[:2] == ["aws", "s3"]}
    assert cluster["bootstrap"]["wheel"] in targets
    assert cluster["bootstrap"]["script"] in targets
    assert emr.requirements_uri(cluster) in targets
    assert emr.requirements_uri(cluster).endswith("/dist/requirements.txt")
    assert cluster["project_uri"] + "params/emr.yaml" in targets
    assert cluster["project_uri"] + "notebooks" in targets


def test_dry_run_add_steps(in_repo, capsys):
    status = emr.main(["--params", "params/emr.yaml", "--cluster-id", "j-2AXXXXXXGAPLF"])
    assert status == 0
    commands = _printed_commands(capsys.readouterr().out)
    add = [c for c in commands if c[:3] == ["aws", "emr", "add-steps"]]
    assert len(add) == 1
    assert _option(add[0], "--cluster-id") == "j-2AXXXXXXGAPLF"
    assert len(json.loads(_option(add[0], "--steps"))) == 2
    assert not any("create-cluster" in c for c in commands)
    assert not any(c[:3] == ["python3", "-m", "pip"] for c in commands)


def test_add_steps_rejects_bad_cluster_id(cluster, in_repo):
    with pytest.raises(ValueError, match="invalid cluster id 'cluster-1'"):
        emr.build_add_steps_command(cluster, "cluster-1", "params/emr.yaml")


def test_missing_params_file_exits_2(in_repo, capsys, caplog):
    assert emr.main(["--params", "params/missing.yaml"]) == 2
    assert "params file not found: params/missing.yaml" in caplog.text


def test_absolute_params_path_rejected(cluster):
    with pytest.raises(emr.ClusterConfigError, match="is absolute"):
        emr.build_steps(cluster, str(PARAMS_FILE))


def test_cluster_file_missing_key(tmp_path):
    broken = yaml.safe_load(CLUSTER_FILE.read_text())
    del broken["bootstrap"]["wheel"]
    del broken["region"]
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(broken))
    with pytest.raises(emr.ClusterConfigError, match="missing region, bootstrap.wheel"):
        emr.load_cluster(str(path))


def test_cluster_file_rejects_emr6(tmp_path):
    old = yaml.safe_load(CLUSTER_FILE.read_text())
    old["release_label"] = "emr-6.15.0"
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(old))
    with pytest.raises(emr.ClusterConfigError, match="is not EMR 7.x"):
        emr.load_cluster(str(path))


def test_cluster_yaml_core_count_matches_sizing(cluster, sizing):
    assert cluster["core_instance_type"] == "r4.8xlarge"
    assert int(cluster["core_instance_count"]) * sizing.executors_per_node == 42


def test_execute_rejects_placeholders(in_repo, caplog, monkeypatch):
    # A stand-in 'aws' on PATH that must never be called: placeholders stop the run first.
    monkeypatch.setattr(emr.shutil, "which", lambda name: "/usr/bin/aws")
    calls = []
    monkeypatch.setattr(emr.subprocess, "run", lambda *a, **k: calls.append(a))
    assert emr.main(["--params", "params/emr.yaml", "--execute"]) == 2
    assert "placeholder values" in caplog.text
    assert "log_uri" in caplog.text
    assert calls == []


def test_execute_without_aws_cli(in_repo, caplog, monkeypatch):
    monkeypatch.setattr(emr.shutil, "which", lambda name: None)
    assert emr.main(["--params", "params/emr.yaml", "--execute"]) == 2
    assert "AWS CLI ('aws') is not on PATH" in caplog.text


def test_find_placeholders_lists_keys(cluster):
    found = emr.find_placeholders(cluster)
    assert "log_uri" in found
    assert "bootstrap.wheel" in found
    assert "release_label" not in found


# -- shell scripts --------------------------------------------------------------------


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shellcheck(script):
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed; install it with 'apt-get install -y shellcheck'")
    result = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_shell_scripts_found():
    names = {script.name for script in SHELL_SCRIPTS}
    assert "install-roomrec.sh" in names
    assert "test-pyspark4.sh" in names
    assert "run-step-from-wheel.sh" in names


def test_bootstrap_rejects_missing_wheel(tmp_path):
    env = _bootstrap_env(tmp_path, is_primary=False)
    result = subprocess.run(
        ["bash", str(BOOTSTRAP_DIR / "install-roomrec.sh"), "--python", sys.executable],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 1
    assert "missing --wheel" in result.stdout
    assert "missing --wheel" in (tmp_path / "bootstrap.log").read_text()


def test_bootstrap_rejects_old_python(tmp_path):
    old_python = tmp_path / "python3.9"
    old_python.write_text("#!/bin/sh\necho 'Python 3.9.16'\nexit 1\n")
    old_python.chmod(0o755)
    env = _bootstrap_env(tmp_path, is_primary=False)
    result = subprocess.run(
        [
            "bash",
            str(BOOTSTRAP_DIR / "install-roomrec.sh"),
            "--wheel",
            str(tmp_path / "roomrec-0.1.0-py3-none-any.whl"),
            "--python",
            str(old_python),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 1
    assert "need Python 3.11 or newer" in result.stdout


def _bootstrap_env(tmp_path: Path, is_primary: bool) -> dict:
    instance = tmp_path / "instance.json"
    instance.write_text(json.dumps({"isMaster": is_primary, "instanceGroupId": "ig-TEST"}))
    return {
        **os.environ,
        "ROOMREC_SUDO": "",
        "ROOMREC_LOG_FILE": str(tmp_path / "bootstrap.log"),
        "ROOMREC_STATE_DIR": str(tmp_path / "state"),
        "ROOMREC_INSTANCE_JSON": str(instance),
        "ROOMREC_KERNEL_PREFIX": str(tmp_path / "kernels"),
    }


# -- wheel, clean venv and the bootstrap action (slow) ----------------------------------


@pytest.fixture(scope="module")
def wheel_dir(tmp_path_factory) -> Path:
    """Build the roomrec wheel once and put requirements.txt next to it, as on S3."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", str(REPO_ROOT), "-w", str(out)],
        check=True,
        capture_output=True,
    )
    shutil.copy(REPO_ROOT / "requirements.txt", out / "requirements.txt")
    return out


def _make_venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    return path / "bin" / "python"


@pytest.mark.slow
def test_wheel_in_clean_venv_runs_cli(wheel_dir, tmp_path):
    python = _make_venv(tmp_path / "venv")
    wheel = next(wheel_dir.glob("roomrec-*.whl"))
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            str(wheel),
            "-r",
            str(wheel_dir / "requirements.txt"),
        ],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    cli = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "roomrec"), "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert cli.returncode == 0, cli.stderr
    assert "run" in cli.stdout
    # The step's entry point and the EMR helpers import from the installed wheel.
    imported = subprocess.run(
        [
            str(python),
            "-c",
            "import roomrec.emr, roomrec.cli, pyspark; print(roomrec.emr.__file__)",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert imported.returncode == 0, imported.stderr
    assert str(tmp_path / "venv") in imported.stdout


@pytest.mark.slow
def test_bootstrap_installs_and_is_idempotent(wheel_dir, tmp_path):
    python = _make_venv(tmp_path / "venv")
    wheel = next(wheel_dir.glob("roomrec-*.whl"))
    command = [
        "bash",
        str(BOOTSTRAP_DIR / "install-roomrec.sh"),
        "--wheel",
        str(wheel),
        "--python",
        str(python),
    ]

    first = subprocess.run(
        command, capture_output=True, text=True, env=_bootstrap_env(tmp_path, is_primary=True)
    )
    assert first.returncode == 0, first.stdout[-3000:]
    assert "skipping pyspark from requirements.txt" in first.stdout
    assert "installed roomrec from" in first.stdout
    assert "registered kernel python3" in first.stdout
    kernel = json.loads(
        (
            tmp_path / "kernels" / "share" / "jupyter" / "kernels" / "python3" / "kernel.json"
        ).read_text()
    )
    assert kernel["argv"][0] == str(python)
    # EMR provides Spark; the bootstrap must not pip-install pyspark.
    has_pyspark = subprocess.run([str(python), "-m", "pip", "show", "pyspark"], capture_output=True)
    assert has_pyspark.returncode != 0
    has_roomrec = subprocess.run(
        [str(python), "-c", "import roomrec, papermill, findspark"], capture_output=True, text=True
    )
    assert has_roomrec.returncode == 0, has_roomrec.stderr

    second = subprocess.run(
        command, capture_output=True, text=True, env=_bootstrap_env(tmp_path, is_primary=False)
    )
    assert second.returncode == 0, second.stdout[-3000:]
    assert "already installed; skipping" in second.stdout
    assert "core or task node: nothing more to do" in second.stdout
    assert "registered kernel" not in second.stdout
    log = (tmp_path / "bootstrap.log").read_text()
    assert log.count("starting on") == 2


# -- package_zip ----------------------------------------------------------------------


def test_package_zip_contents(tmp_path):
    path = emr.package_zip(str(tmp_path / "roomrec.zip"))
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
    assert "roomrec/__init__.py" in names
    assert "roomrec/emr.py" in names
    assert "roomrec/spark.py" in names
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)


def test_package_zip_imports_without_site(tmp_path):
    path = emr.package_zip(str(tmp_path / "roomrec.zip"))
    # -S drops site-packages, so roomrec can only come from the zip, as on an executor
    # that lacks the wheel.
    result = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            f"import sys; sys.path.insert(0, {path!r}); import roomrec.columns as c; "
            "print(c.__file__); print(c.USER_IDX)",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{path}/roomrec/columns.py", "user_idx"]


def test_package_zip_with_spark_addpyfile(spark, tmp_path):
    path = emr.package_zip(str(tmp_path / "ship" / "roomrec.zip"))
    spark.sparkContext.addPyFile(path)
    found = (
        spark.sparkContext.parallelize([0], 1)
        .map(lambda _: __import__("roomrec.columns").columns.ROOM_IDX)
        .collect()
    )
    assert found == ["room_idx"]


# -- find_remote_errors -----------------------------------------------------------------


def _notebook(*cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def _code(source: str, *outputs) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = list(outputs)
    return cell


def _stderr(text) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("stream", name="stderr", text=text)


LIVY_FAILURE = (
    "An error was encountered:\n"
    "name 'undefined_table' is not defined\n"
    "Traceback (most recent call last):\n"
    '  File "<stdin>", line 1, in <module>\n'
    "NameError: name 'undefined_table' is not defined\n"
)


def test_remote_errors_sparkmagic_stderr():
    nb = _notebook(
        nbformat.v4.new_markdown_cell("# title"),
        _code(
            "spark.range(3).count()",
            nbformat.v4.new_output("execute_result", data={"text/plain": "3"}),
        ),
        _code("undefined_table.show()", _stderr(LIVY_FAILURE)),
    )
    found = emr.find_remote_errors(nb)
    assert len(found) == 1
    assert found[0].startswith("cell 2 (undefined_table.show()): An error was encountered:")
    assert found[0].endswith("NameError: name 'undefined_table' is not defined")


def test_remote_errors_text_as_list_of_lines():
    text = [
        "The code failed because of a fatal error:\n",
        "\tSession 7 unexpectedly reached final status 'dead'. See logs:\n",
    ]
    found = emr.find_remote_errors(_notebook(_code("x = 1", _stderr(text))))
    assert len(found) == 1
    assert "The code failed because of a fatal error:" in found[0]
    assert "final status 'dead'" in found[0]


def test_remote_errors_plain_traceback_on_stderr():
    text = 'Traceback (most recent call last):\n  File "x"\nValueError: bad alpha\n'
    found = emr.find_remote_errors(_notebook(_code("fit()", _stderr(text))))
    assert found == ["cell 0 (fit()): Traceback (most recent call last): ... ValueError: bad alpha"]


def test_remote_errors_error_output():
    error = nbformat.v4.new_output("error", ename="KeyError", evalue="'alpha'", traceback=[])
    found = emr.find_remote_errors(_notebook(_code("params['alpha']", error)))
    assert found == ["cell 0 (params['alpha']): KeyError: 'alpha'"]


def test_remote_errors_ignore_warnings_and_stdout():
    warning = _stderr("26/01/04 10:00:00 WARN Utils: Service 'SparkUI' could not bind\n")
    stdout = nbformat.v4.new_output(
        "stream", name="stdout", text="An error was encountered: in a printed message\n"
    )
    nb = _notebook(_code("spark.range(1)", warning, stdout), nbformat.v4.new_raw_cell("x"))
    assert emr.find_remote_errors(nb) == []


def test_remote_errors_every_failing_cell():
    nb = _notebook(
        _code("a()", _stderr(LIVY_FAILURE)),
        _code("b()"),
        _code("c()", _stderr("An internal error was encountered.\nError:\nboom\n")),
    )
    found = emr.find_remote_errors(nb)
    assert [message.split(" ")[1] for message in found] == ["0", "2"]
    assert found[1].endswith("boom")
