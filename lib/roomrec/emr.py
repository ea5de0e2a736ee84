"""Run roomrec on Amazon EMR: cluster and step commands, executor sizing, error checks.

The scheduled route runs the same entry point as a laptop, ``roomrec run --params
params/emr.yaml``, as an EMR step on the primary node: a python3 kernel whose Spark
session talks to YARN in client mode. This module builds the ``aws emr`` commands for
that route from ``emr-bootstrap/cluster.yaml`` (cluster settings) and a params file
(notebook parameters), and prints them or runs them.

It also contains two helpers for the interactive routes: ``package_zip`` ships the package to
executors without the bootstrap action, and ``find_remote_errors`` finds Spark errors that
a sparkmagic kernel reports as text on stderr instead of as an error.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

DEFAULT_CLUSTER_FILE = "emr-bootstrap/cluster.yaml"
DEFAULT_PARAMS_FILE = "params/emr.yaml"
BOOTSTRAP_SCRIPT = "emr-bootstrap/install-roomrec.sh"
REQUIREMENTS_FILE = "requirements.txt"
NOTEBOOKS_DIR = "notebooks"
PLACEHOLDER_MARK = "YOUR-"

REQUIRED_CLUSTER_KEYS = (
    "name",
    "release_label",
    "region",
    "log_uri",
    "service_role",
    "instance_profile",
    "subnet_id",
    "key_name",
    "applications",
    "primary_instance_type",
    "core_instance_type",
    "core_instance_count",
    "configurations",
    "bootstrap",
    "project_uri",
    "runs_uri",
    "project_dir",
)
REQUIRED_BOOTSTRAP_KEYS = ("script", "wheel", "python")

# Lines that sparkmagic writes to stderr when a remote statement fails. sparkmagic
# (jupyter-incubator/sparkmagic, sparkmagic/utils/constants.py and the default
# fatal_error_suggestion) sends these as a stderr stream, not as an error output, so
# papermill records the cell as successful.
REMOTE_ERROR_MARKERS = (
    "An error was encountered:",
    "An internal error was encountered.",
    "The code failed because of a fatal error:",
    # Livy returns the remote Python traceback as text inside that stream.
    "Traceback (most recent call last):",
)


# -- Executor sizing ------------------------------------------------------------------


@dataclass(frozen=True)
class ExecutorSizing:
    """Executor layout for a YARN cluster of identical core nodes.

    Memory values are MiB. ``spare_node_memory_mb`` is the YARN memory left on each node
    after its executors, which must fit the client-mode ApplicationMaster container.
    """

    executors_per_node: int
    executor_cores: int
    executor_memory_mb: int
    executor_memory_overhead_mb: int
    executor_instances: int
    total_cores: int
    shuffle_partitions: int
    spare_node_memory_mb: int

    @property
    def container_memory_mb(self) -> int:
        """YARN container size of one executor: JVM heap plus overhead."""
        return self.executor_memory_mb + self.executor_memory_overhead_mb


def size_executors(
    yarn_memory_mb: int,
    yarn_vcores: int,
    core_nodes: int,
    cores_per_executor: int = 5,
    reserved_vcores: int = 1,
    overhead_fraction: float = 0.10,
    min_overhead_mb: int = 384,
    tasks_per_core: int = 3,
) -> ExecutorSizing:
    """Derive executor count, cores, heap and overhead from a node's YARN resources.

    Parameters
    ----------
    yarn_memory_mb : int
        ``yarn.nodemanager.resource.memory-mb`` of one core node.
    yarn_vcores : int
        vCPUs of one core node.
    core_nodes : int
        Number of core nodes that run executors.
    cores_per_executor : int
        Task slots per executor; 5 keeps HDFS and S3 client throughput per JVM high
        without the garbage-collection pauses of very large heaps.
    reserved_vcores : int
        vCPUs left to the NodeManager, DataNode and operating system.
    overhead_fraction, min_overhead_mb : float, int
        Off-heap overhead per executor, as in ``spark.executor.memoryOverhead``
        (Spark's default is 10% with a 384 MiB minimum). It also covers the Python
        workers, because ``spark.executor.pyspark.memory`` is not set.
    tasks_per_core : int
        Shuffle partitions per task slot; the Spark tuning guide suggests 2-3.

    Returns
    -------
    ExecutorSizing
        The layout. The heap is rounded down to whole GiB.

    Raises
    ------
    ValueError
        If a node cannot hold one executor of ``cores_per_executor`` cores.
    """
    executors_per_node = (yarn_vcores - reserved_vcores) // cores_per_executor
    if executors_per_node < 1 or core_nodes < 1:
        raise ValueError(
            f"cannot fit an executor of {cores_per_executor} cores on {core_nodes} node(s) "
            f"with {yarn_vcores} vCPUs ({reserved_vcores} reserved); "
            "lower cores_per_executor or use larger nodes"
        )
    container_budget_mb = yarn_memory_mb // executors_per_node
    heap_mb = math.floor(container_budget_mb / (1 + overhead_fraction) / 1024) * 1024
    overhead_mb = max(min_overhead_mb, math.ceil(heap_mb * overhead_fraction))
    executor_instances = executors_per_node * core_nodes
    total_cores = executor_instances * cores_per_executor
    return ExecutorSizing(
        executors_per_node=executors_per_node,
        executor_cores=cores_per_executor,
        executor_memory_mb=heap_mb,
        executor_memory_overhead_mb=overhead_mb,
        executor_instances=executor_instances,
        total_cores=total_cores,
        shuffle_partitions=tasks_per_core * total_cores,
        spare_node_memory_mb=yarn_memory_mb - executors_per_node * (heap_mb + overhead_mb),
    )


# -- Cluster settings -----------------------------------------------------------------


class ClusterConfigError(ValueError):
    """Invalid cluster settings; the message names the key, the rule and the fix."""


def load_cluster(path: str) -> dict:
    """Read and check ``cluster.yaml``.

    Raises
    ------
    ClusterConfigError
        If the file is missing, is not a mapping, or lacks a required key.
    """
    file = Path(path)
    if not file.is_file():
        raise ClusterConfigError(
            f"cluster file not found: {path}; pass --cluster emr-bootstrap/cluster.yaml"
        )
    cluster = yaml.safe_load(file.read_text()) or {}
    if not isinstance(cluster, dict):
        raise ClusterConfigError(f"{path} must contain a mapping, got {type(cluster).__name__}")
    missing = [key for key in REQUIRED_CLUSTER_KEYS if key not in cluster]
    bootstrap = cluster.get("bootstrap") or {}
    missing += [f"bootstrap.{key}" for key in REQUIRED_BOOTSTRAP_KEYS if key not in bootstrap]
    if missing:
        raise ClusterConfigError(
            f"{path} is missing {', '.join(missing)}; see emr-bootstrap/cluster.yaml "
            "in the repository for every key with an example value"
        )
    if not str(cluster["release_label"]).startswith("emr-7."):
        raise ClusterConfigError(
            f"release_label {cluster['release_label']!r} in {path} is not EMR 7.x; roomrec "
            "pins PySpark 3.5, which EMR 7 releases run; use for example emr-7.12.0"
        )
    return cluster


def find_placeholders(cluster: dict) -> list[str]:
    """Return the dotted keys of ``cluster`` whose values still contain ``YOUR-``."""
    found = []

    def visit(value: Any, key: str) -> None:
        if isinstance(value, dict):
            for name, item in value.items():
                visit(item, f"{key}.{name}" if key else str(name))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                visit(item, f"{key}[{index}]")
        elif PLACEHOLDER_MARK in str(value):
            found.append(key)

    visit(cluster, "")
    return found


def _read_params(params_path: str) -> dict:
    path = Path(params_path)
    if path.is_absolute():
        raise ClusterConfigError(
            f"params path {params_path} is absolute; pass it relative to the repository "
            "root (for example params/emr.yaml), because the step uses the same path "
            "inside the project folder on the primary node"
        )
    if not path.is_file():
        raise ClusterConfigError(f"params file not found: {params_path}; pass --params")
    params = yaml.safe_load(path.read_text()) or {}
    if not isinstance(params, dict):
        raise ClusterConfigError(f"{params_path} must contain a mapping of parameters")
    return params


def _join_uri(prefix: str, *parts: str) -> str:
    return prefix.rstrip("/") + "/" + "/".join(part.strip("/") for part in parts)


def requirements_uri(cluster: dict) -> str:
    """Return the S3 URI of requirements.txt, which sits next to the wheel."""
    return posixpath.join(posixpath.dirname(cluster["bootstrap"]["wheel"]), REQUIREMENTS_FILE)


# -- Command builders -----------------------------------------------------------------


def step_command(params_path: str) -> list[str]:
    """Return the command the run step starts in the project folder on the primary node.

    ``scripts/run-step-from-wheel.sh`` runs the same command locally from a built wheel.
    """
    return [
        "roomrec",
        "run",
        "--params",
        params_path,
        "--notebooks-dir",
        NOTEBOOKS_DIR,
        "--runs-dir",
        "runs",
        "--no-progress",
    ]


def build_steps(cluster: dict, params_path: str) -> list[dict]:
    """Build the two EMR steps: prepare the primary node, then run the notebooks.

    The first step creates the HDFS checkpoint directory (HDFS is not running yet while
    bootstrap actions run) and copies the project folder from S3. The second runs
    ``roomrec run --params PARAMS`` and copies the run folder back to S3, also when the
    run failed, then exits with the run's status so the step fails with it.
    """
    params = _read_params(params_path)
    project_dir = shlex.quote(cluster["project_dir"])
    prepare = ["set -euo pipefail"]
    checkpoint_dir = str(params.get("checkpoint_dir", ""))
    if checkpoint_dir.startswith("hdfs://"):
        prepare.append(f"hdfs dfs -mkdir -p {shlex.quote(checkpoint_dir)}")
    prepare += [
        f"mkdir -p {project_dir}",
        "aws s3 sync --delete --exclude 'runs/*' "
        f"{shlex.quote(cluster['project_uri'])} {project_dir}",
    ]
    run_command = shlex.join(step_command(params_path))
    runs_uri = shlex.quote(cluster["runs_uri"])
    run = [
        "set -uo pipefail",
        # pip installs console scripts for root into /usr/local/bin.
        'export PATH="/usr/local/bin:$PATH"',
        f"cd {project_dir}",
        "status=0",
        f"{run_command} || status=$?",
        f"aws s3 sync runs {runs_uri} || echo 'copying runs to {cluster['runs_uri']} failed' >&2",
        'exit "$status"',
    ]
    # Without the project folder the run cannot start, so a failed preparation cancels
    # the run step; a failed run follows action_on_failure from cluster.yaml.
    return [
        _command_runner_step(
            "roomrec: prepare primary node", "\n".join(prepare), "CANCEL_AND_WAIT"
        ),
        _command_runner_step(
            f"roomrec: run {params_path}",
            "\n".join(run),
            cluster.get("action_on_failure", "CONTINUE"),
        ),
    ]


def _command_runner_step(name: str, script: str, action_on_failure: str) -> dict:
    return {
        "Type": "CUSTOM_JAR",
        "Name": name,
        "ActionOnFailure": action_on_failure,
        "Jar": "command-runner.jar",
        "Args": ["bash", "-c", script],
    }


def _instance_groups(cluster: dict) -> list[dict]:
    def ebs(volumes: int) -> dict:
        return {
            "EbsOptimized": True,
            "EbsBlockDeviceConfigs": [
                {
                    "VolumeSpecification": {
                        "VolumeType": cluster.get("ebs_volume_type", "gp3"),
                        "SizeInGB": int(cluster.get("ebs_volume_size_gb", 256)),
                    },
                    "VolumesPerInstance": volumes,
                }
            ],
        }

    return [
        {
            "Name": "Primary",
            "InstanceGroupType": "MASTER",
            "InstanceType": cluster["primary_instance_type"],
            "InstanceCount": 1,
            "EbsConfiguration": ebs(1),
        },
        {
            "Name": "Core",
            "InstanceGroupType": "CORE",
            "InstanceType": cluster["core_instance_type"],
            "InstanceCount": int(cluster["core_instance_count"]),
            "EbsConfiguration": ebs(int(cluster.get("ebs_volumes_per_instance", 4))),
        },
    ]


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def build_create_cluster_command(cluster: dict, params_path: str) -> list[str]:
    """Build ``aws emr create-cluster`` with the bootstrap action and the run steps.

    Parameters
    ----------
    cluster : dict
        Settings from ``cluster.yaml`` (see ``load_cluster``).
    params_path : str
        Params file relative to the repository root; the step passes the same path
        to ``roomrec run`` inside ``project_dir`` on the primary node.

    Returns
    -------
    list of str
        The argument vector; ``shlex.join`` turns it into a shell command.
    """
    bootstrap = cluster["bootstrap"]
    bootstrap_action = {
        "Name": "install roomrec",
        "Path": bootstrap["script"],
        "Args": ["--wheel", bootstrap["wheel"], "--python", bootstrap["python"]],
    }
    ec2_attributes = {
        "KeyName": cluster["key_name"],
        "SubnetId": cluster["subnet_id"],
        "InstanceProfile": cluster["instance_profile"],
    }
    command = [
        "aws",
        "emr",
        "create-cluster",
        "--name",
        cluster["name"],
        "--release-label",
        cluster["release_label"],
        "--region",
        cluster["region"],
        "--log-uri",
        cluster["log_uri"],
        "--service-role",
        cluster["service_role"],
        "--ec2-attributes",
        _compact_json(ec2_attributes),
        "--applications",
        *[f"Name={name}" for name in cluster["applications"]],
        "--instance-groups",
        _compact_json(_instance_groups(cluster)),
        "--configurations",
        f"file://{cluster['configurations']}",
        "--bootstrap-actions",
        _compact_json([bootstrap_action]),
        "--steps",
        _compact_json(build_steps(cluster, params_path)),
        "--auto-terminate" if cluster.get("auto_terminate") else "--no-auto-terminate",
    ]
    tags = cluster.get("tags") or {}
    if tags:
        command += ["--tags", *[f"{key}={value}" for key, value in tags.items()]]
    return command


def build_add_steps_command(cluster: dict, cluster_id: str, params_path: str) -> list[str]:
    """Build ``aws emr add-steps`` that runs the notebooks on a running cluster.

    Raises
    ------
    ValueError
        If ``cluster_id`` does not look like an EMR cluster id (``j-`` and 8-16
        upper-case letters or digits).
    """
    if not re.fullmatch(r"j-[A-Z0-9]{8,16}", cluster_id):
        raise ValueError(
            f"invalid cluster id {cluster_id!r}; EMR cluster ids look like j-2AXXXXXXGAPLF "
            "(see 'aws emr list-clusters --active')"
        )
    return [
        "aws",
        "emr",
        "add-steps",
        "--region",
        cluster["region"],
        "--cluster-id",
        cluster_id,
        "--steps",
        _compact_json(build_steps(cluster, params_path)),
    ]


def build_stage_commands(
    cluster: dict, params_path: str, include_packages: bool = True
) -> list[list[str]]:
    """Build the commands that upload what the cluster reads from S3.

    With ``include_packages`` the list starts with building the wheel and uploading it,
    requirements.txt and the bootstrap script; the project files (notebooks and the params
    file) are always uploaded because the steps copy them from ``project_uri``.
    """
    bootstrap = cluster["bootstrap"]
    wheel_name = posixpath.basename(bootstrap["wheel"])
    commands = []
    if include_packages:
        commands += [
            ["python3", "-m", "pip", "wheel", "--no-deps", ".", "-w", "dist/"],
            ["aws", "s3", "cp", f"dist/{wheel_name}", bootstrap["wheel"]],
            ["aws", "s3", "cp", REQUIREMENTS_FILE, requirements_uri(cluster)],
            ["aws", "s3", "cp", BOOTSTRAP_SCRIPT, bootstrap["script"]],
        ]
    commands += [
        [
            "aws",
            "s3",
            "sync",
            "--delete",
            "--exclude",
            "*.ipynb_checkpoints/*",
            NOTEBOOKS_DIR,
            _join_uri(cluster["project_uri"], NOTEBOOKS_DIR),
        ],
        ["aws", "s3", "cp", params_path, _join_uri(cluster["project_uri"], params_path)],
    ]
    return commands


# -- Shipping the package without the bootstrap action ---------------------------------


def package_zip(out_path: str) -> str:
    """Zip the installed ``roomrec`` package for ``spark.submit.pyFiles`` or ``addPyFile``.

    The bootstrap action installs the wheel on every node, which is the primary route. The
    zip serves sessions that cannot run it, such as a Livy session on a cluster started
    without it: ``spark.sparkContext.addPyFile(path)`` makes ``import roomrec`` work in
    executor Python workers. Only the package's Python files go in, under ``roomrec/``.

    Returns
    -------
    str
        ``out_path``.
    """
    package_dir = Path(__file__).resolve().parent
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(package_dir.rglob("*")):
            if "__pycache__" in file.parts or file.suffix == ".pyc" or not file.is_file():
                continue
            archive.write(file, (Path("roomrec") / file.relative_to(package_dir)).as_posix())
    logger.info("wrote %s", out)
    return str(out)


# -- Errors hidden in sparkmagic output -----------------------------------------------


def find_remote_errors(nb) -> list[str]:
    """Find failed Spark statements in a notebook executed with a sparkmagic kernel.

    sparkmagic's PySpark kernel reports a statement that failed in the remote Livy
    session as a ``stderr`` stream output, so the cell counts as successful and
    papermill exits 0. This scans every code cell for such streams (see
    ``REMOTE_ERROR_MARKERS``) and for regular ``error`` outputs, so a runner can fail
    the run on them.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        An executed notebook.

    Returns
    -------
    list of str
        One message per failing output, naming the cell index, the first line of the
        cell's source and the last line of the error text; empty when none failed.
    """
    found = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            detail = _remote_error_detail(output)
            if detail:
                found.append(f"cell {index} ({_first_line(cell.get('source', ''))}): {detail}")
    return found


def _remote_error_detail(output: dict) -> str:
    if output.get("output_type") == "error":
        return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
    if output.get("output_type") != "stream" or output.get("name") != "stderr":
        return ""
    text = output.get("text", "")
    if isinstance(text, list):
        text = "".join(text)
    marker = next((m for m in REMOTE_ERROR_MARKERS if m in text), None)
    if marker is None:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return marker if last == marker else f"{marker} ... {last}"


def _first_line(source: Any) -> str:
    if isinstance(source, list):
        source = "".join(source)
    for line in str(source).splitlines():
        if line.strip():
            return line.strip()[:60]
    return "empty cell"


# -- Command line -----------------------------------------------------------------------


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roomrec emr",
        description="Print (default) or run the AWS CLI commands that upload roomrec, "
        "start an EMR cluster with the bootstrap action and run the notebooks as steps. "
        "Run it from the repository root.",
    )
    parser.add_argument(
        "--cluster",
        default=DEFAULT_CLUSTER_FILE,
        help=f"cluster settings YAML (default: {DEFAULT_CLUSTER_FILE})",
    )
    parser.add_argument(
        "--params",
        default=DEFAULT_PARAMS_FILE,
        help=f"notebook params YAML, relative to the repository root "
        f"(default: {DEFAULT_PARAMS_FILE})",
    )
    parser.add_argument(
        "--cluster-id",
        default="",
        help="add the steps to this running cluster (j-...) instead of "
        "creating one; uploads only notebooks and the params file",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--dry-run",
        dest="execute",
        action="store_false",
        help="print the commands as a shell script (default)",
    )
    mode.add_argument(
        "--execute", dest="execute", action="store_true", help="run the commands with the AWS CLI"
    )
    parser.set_defaults(execute=False)
    return parser


def _plan(cluster: dict, args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    creating = not args.cluster_id
    plan = [
        ("build the wheel" if command[0] == "python3" else "upload", command)
        for command in build_stage_commands(cluster, args.params, include_packages=creating)
    ]
    if creating:
        plan.append(("create the cluster", build_create_cluster_command(cluster, args.params)))
    else:
        plan.append(
            ("add the steps", build_add_steps_command(cluster, args.cluster_id, args.params))
        )
    return plan


def main(argv: list[str] | None = None) -> int:
    """Run ``roomrec emr``; return the exit status (0 success, 1 AWS failure, 2 usage)."""
    args = _build_parser().parse_args(argv)
    try:
        cluster = load_cluster(args.cluster)
        plan = _plan(cluster, args)
    except (ClusterConfigError, ValueError) as error:
        logger.error("%s", error)
        return 2
    if not args.execute:
        sys.stdout.write("# roomrec on EMR: run from the repository root.\n")
        for purpose, command in plan:
            sys.stdout.write(f"# {purpose}\n{shlex.join(command)}\n")
        return 0
    return _execute(cluster, args, plan)


def _execute(cluster: dict, args: argparse.Namespace, plan: list) -> int:
    if shutil.which("aws") is None:
        logger.error(
            "the AWS CLI ('aws') is not on PATH; install AWS CLI v2 and configure "
            "credentials, or run with --dry-run and copy the commands"
        )
        return 2
    placeholders = find_placeholders(cluster)
    if placeholders:
        logger.error(
            "%s still has placeholder values in %s; replace every YOUR-... value",
            args.cluster,
            ", ".join(placeholders),
        )
        return 2
    for purpose, command in plan:
        if command[:3] == ["python3", "-m", "pip"]:
            command = [sys.executable, *command[1:]]
        logger.info("%s: %s", purpose, shlex.join(command))
        result = subprocess.run(command, check=False)
        if result.returncode != 0:
            logger.error(
                "command failed with exit status %d: %s", result.returncode, shlex.join(command)
            )
            return 1
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main())
