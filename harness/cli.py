"""Command-line interface: `mpijob-bench <command>`.

One parser builder, one cmd_* function per subcommand, one dispatch table.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness import __version__
from harness.errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, HarnessError, MetricsMissed
from harness.log import setup_logging
from harness.processes import install_signal_handlers

log = logging.getLogger("mpijob-bench")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}") from None
    if not 1024 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 1024 and 65535, got {value}")
    return value


def key_value(text: str) -> tuple[str, str]:
    name, separator, value = text.partition("=")
    if not separator or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value


# -v is accepted before or after the subcommand; SUPPRESS keeps a later parser from
# resetting a value set earlier.
VERBOSE = argparse.ArgumentParser(add_help=False)
VERBOSE.add_argument(
    "-v",
    "--verbose",
    action="store_true",
    default=argparse.SUPPRESS,
    help="log commands, objects and events (DEBUG)",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mpijob-bench",
        description="Performance and scale harness for Kubeflow MPIJob workloads.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log commands, objects and events (DEBUG)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_cluster_commands(commands)
    _add_run_command(commands)
    _add_sweep_command(commands)
    return parser


def _add_cluster_commands(commands: argparse._SubParsersAction) -> None:
    cluster = commands.add_parser(
        "cluster",
        parents=[VERBOSE],
        help="build, start, stop and inspect the local KWOK cluster",
        description="Manage the local cluster: etcd, kube-apiserver, kube-controller-manager, "
        "kube-scheduler and kwok started by kwokctl, plus the MPI Operator, all as local processes.",
    )
    actions = cluster.add_subparsers(dest="action", metavar="ACTION", required=True)

    install = actions.add_parser(
        "install",
        parents=[VERBOSE],
        help="build the control-plane binaries into the cache (once per version)",
        description="Build kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, "
        "kwok, kwokctl and the MPI Operator from the Go module proxy and cache them outside the repository.",
    )
    install.set_defaults(handler=cmd_cluster_install)

    up = actions.add_parser(
        "up",
        parents=[VERBOSE],
        help="start the local cluster and the MPI Operator",
        description="Start the local cluster, create simulated nodes, apply the MPIJob CRD, start the "
        "MPI Operator, wait until all answer and print the kubeconfig path.",
    )
    _add_name_option(up)
    up.add_argument(
        "--nodes", type=positive_int, default=8, help="simulated nodes to create (default: 8)"
    )
    up.add_argument("--node-cpu", default="32", help="CPU capacity of each node (default: 32)")
    up.add_argument(
        "--node-memory", default="256Gi", help="memory capacity of each node (default: 256Gi)"
    )
    up.add_argument(
        "--node-gpus", type=int, default=8, help="nvidia.com/gpu capacity of each node (default: 8)"
    )
    up.add_argument(
        "--apiserver-port",
        type=port_number,
        help="API server port on 127.0.0.1 (default: a free port)",
    )
    up.add_argument(
        "--kube-api-qps",
        type=positive_int,
        default=5,
        help="operator's API client QPS (default: 5)",
    )
    up.add_argument(
        "--kube-api-burst",
        type=positive_int,
        default=10,
        help="operator's API client burst (default: 10)",
    )
    up.add_argument(
        "--threadiness", type=positive_int, default=2, help="operator's worker threads (default: 2)"
    )
    up.add_argument(
        "--timeout",
        type=positive_seconds,
        default=180.0,
        help="seconds to wait for each component (default: 180)",
    )
    up.set_defaults(handler=cmd_cluster_up)

    down = actions.add_parser(
        "down",
        parents=[VERBOSE],
        help="stop every process of the cluster and remove its state",
        description="Stop the MPI Operator and every control-plane process by PID, then remove the "
        "cluster's state folder. With nothing running it says so and exits 0.",
    )
    _add_name_option(down)
    down.set_defaults(handler=cmd_cluster_down)

    status = actions.add_parser(
        "status",
        parents=[VERBOSE],
        help="list the cluster's components, versions and PIDs",
        description="List each component with its version, PID and state. Exits 0 when every "
        "component runs or no cluster exists, 2 when a component has stopped.",
    )
    _add_name_option(status)
    status.set_defaults(handler=cmd_cluster_status)


def _add_name_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--name", default="mpijob-bench", help="cluster name (default: mpijob-bench)"
    )


def _add_run_command(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser(
        "run",
        parents=[VERBOSE],
        help="run a scenario file and write its results",
        description="Run a scenario and write results.json, results.csv, summary.md with PNG plots, "
        "junit.xml and PerfData_<kind>.json files into a new run directory. Exit codes: 0 all success metrics met, 1 a metric missed, 2 invalid input or "
        "a harness failure, 130 interrupted.",
    )
    run.add_argument(
        "scenario", type=Path, help="scenario YAML file, for example scenarios/smoke.yaml"
    )
    run.add_argument(
        "--out", type=Path, help="run directory (default: reports/runs/<time>-<scenario>/)"
    )
    run.add_argument(
        "--param",
        type=key_value,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a scenario parameter; repeat for several",
    )
    run.add_argument(
        "--kubeconfig", help="run on the existing cluster in this kubeconfig instead of a local one"
    )
    run.add_argument(
        "--keep-cluster",
        action="store_true",
        help="leave a local cluster started by this run running",
    )
    run.set_defaults(handler=cmd_run)


def _add_sweep_command(commands: argparse._SubParsersAction) -> None:
    sweep = commands.add_parser(
        "sweep",
        parents=[VERBOSE],
        help="run a scenario once per parameter value and plot a metric against it",
        description="Run a scenario once for each value of one parameter, each into its own run "
        "directory, then write sweep.csv and sweep.png. Example: mpijob-bench sweep "
        "scenarios/kwok-100-workers.yaml --over qps=5,20,50",
    )
    sweep.add_argument("scenario", type=Path, help="scenario YAML file")
    sweep.add_argument(
        "--over",
        type=key_value,
        required=True,
        metavar="NAME=V1,V2,...",
        help="parameter and its values",
    )
    sweep.add_argument(
        "--param",
        type=key_value,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="fixed scenario parameter; repeat for several",
    )
    sweep.add_argument(
        "--kind", default="mpijob_fleet", help="record kind to plot (default: mpijob_fleet)"
    )
    sweep.add_argument(
        "--metric",
        default="time_to_all_workers_running",
        help="record metric to plot (default: time_to_all_workers_running)",
    )
    sweep.add_argument(
        "--out", type=Path, help="sweep directory (default: reports/runs/<time>-sweep-<name>/)"
    )
    sweep.add_argument("--kubeconfig", help="run on the existing cluster in this kubeconfig")
    sweep.add_argument(
        "--keep-cluster",
        action="store_true",
        help="leave a local cluster started by the sweep running",
    )
    sweep.set_defaults(handler=cmd_sweep)


def cmd_cluster_install(args: argparse.Namespace) -> int:
    from clusters.kwok.toolchain import ensure_toolchain

    toolchain = ensure_toolchain()
    for name, path in sorted(toolchain.binaries.items()):
        log.info("%-24s %s", name, path)
    log.info("versions: %s", ", ".join(f"{k} {v}" for k, v in toolchain.versions.items()))
    return EXIT_OK


def cmd_cluster_up(args: argparse.Namespace) -> int:
    from clusters.kwok.provider import ClusterOptions, KwokCluster

    options = ClusterOptions(
        name=args.name,
        nodes=args.nodes,
        node_cpu=args.node_cpu,
        node_memory=args.node_memory,
        node_gpus=args.node_gpus,
        apiserver_port=args.apiserver_port,
        operator_qps=args.kube_api_qps,
        operator_burst=args.kube_api_burst,
        operator_threadiness=args.threadiness,
        timeout_s=args.timeout,
    )
    cluster = KwokCluster(args.name)
    cluster.up(options)
    print(cluster.kubeconfig)
    return EXIT_OK


def cmd_cluster_down(args: argparse.Namespace) -> int:
    from clusters.kwok.provider import KwokCluster

    KwokCluster(args.name).down()
    return EXIT_OK


def cmd_cluster_status(args: argparse.Namespace) -> int:
    from clusters.kwok.provider import KwokCluster

    cluster = KwokCluster(args.name)
    if not cluster.exists():
        log.info("no cluster named %s is running", args.name)
        return EXIT_OK
    table = Table(title=f"cluster {args.name}")
    for column in ("component", "version", "pid", "state"):
        table.add_column(column)
    for status in cluster.status():
        table.add_row(
            status.name,
            status.version,
            str(status.pid or "-"),
            "running" if status.running else "stopped",
        )
    # Status is the command's output, so it goes to stdout; logs stay on stderr.
    stdout = Console(soft_wrap=True)
    stdout.print(table)
    stdout.print(f"kubeconfig: {cluster.kubeconfig}")
    return EXIT_OK if cluster.is_healthy() else EXIT_ERROR


def cmd_run(args: argparse.Namespace) -> int:
    from harness.runner import RunOptions, run

    options = RunOptions(
        scenario_path=args.scenario,
        params=dict(args.param),
        out_dir=args.out,
        kubeconfig=args.kubeconfig,
        keep_cluster=args.keep_cluster,
    )
    run(options)
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    from harness.runner import RunOptions
    from harness.sweep import SweepOptions, sweep

    name, values = args.over
    value_list = [value.strip() for value in values.split(",") if value.strip()]
    if not value_list:
        raise HarnessError(
            f"--over {name}= lists no values",
            hint="give values separated by commas, e.g. --over qps=5,50",
        )
    # Each run keeps the cluster for the next one; a cluster the sweep started is stopped
    # after the last run.
    run_options = RunOptions(
        args.scenario, dict(args.param), None, args.kubeconfig, keep_cluster=True
    )
    cluster = (
        None
        if args.kubeconfig
        else _local_cluster_of(args.scenario, dict(args.param), {name: value_list[0]})
    )
    was_running = cluster is not None and cluster.is_healthy()
    try:
        sweep(SweepOptions(run_options, name, value_list, args.kind, args.metric), args.out)
    finally:
        if cluster is not None and not was_running and not args.keep_cluster:
            cluster.down(quiet=True)
    return EXIT_OK


def _local_cluster_of(scenario_path: Path, params: dict[str, str], first_value: dict[str, str]):
    from clusters.kwok.provider import KwokCluster
    from harness.scenario import load_scenario

    scenario, _ = load_scenario(scenario_path, {**params, **first_value})
    return KwokCluster(scenario.cluster.name) if scenario.cluster.provider == "kwok" else None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    install_signal_handlers()
    try:
        return args.handler(args)
    except MetricsMissed as missed:
        log.error("%s", missed)
        return missed.exit_code
    except HarnessError as error:
        # Printed plainly rather than through the log handler so that multi-line messages
        # keep their layout and stay easy to grep in CI logs.
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        log.error("interrupted; everything this command started has been stopped")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
