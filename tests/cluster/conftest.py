"""A private single-node SLURM cluster on this machine, for the tests marked `slurm`.

`slurm_cluster` (one per test session) installs Debian's `slurm-wlm` and `munge` with apt-get
when they are missing (as root), starts munged, slurmctld and slurmd by hand and stops them
again at the end, whatever happened. Everything lives in one temporary directory: the munge
key and socket, slurm.conf, the state, spool and log directories, the pid files. The ports are
free ones picked at start, so it neither needs nor touches a cluster this machine may have.
When the daemons cannot be installed or started, the tests are skipped with the reason and the
daemons' last log lines.

What it takes to run SLURM 22.05 (Debian 12) in a container without systemd:
- munged refuses a socket directory that is not world-executable ("Socket is inaccessible:
  execute permissions for all required"), so the temporary directory is made 0755 (mkdtemp
  makes it 0700; pytest's tmp_path lives under a 0700 directory, hence /tmp directly); the key
  must be 0400/0600 and owned by the user running munged. Running munged as root is fine.
- Slurm reaches that munge socket through `AuthInfo=socket=...` (auth/munge and cred/munge);
  the client commands (sbatch, squeue, scontrol, srun) find the cluster through `SLURM_CONF`.
- No cgroups (there is no systemd, and cgroup v2 is usually read-only in a container):
  ProctrackType=proctrack/linuxproc, TaskPlugin=task/none, JobAcctGatherType=jobacct_gather/none,
  no accounting. slurmd then starts without a cgroup.conf.
- The node line is what `slurmd -C` reports (this host's short name, real CPUs and memory); the
  node is addressed as 127.0.0.1 and slurmctld runs on it as well. SlurmUser and SlurmdUser are
  root, the user the tests run as, so jobs run as that user without any user database.
- `-D` keeps the daemons in the foreground, children of this process: their pids are known and
  they are stopped by pid. slurmd logs harmless "mpi/pmix ... can not load PMIx library" errors.
- The scheduler passes every second (SchedulerParameters=bf_interval=1,sched_interval=1), so a
  released job starts at once rather than at the next 30-60 s pass.
- A requeued job (`scontrol requeue`, or a job requeuing itself) waits about two minutes
  (Reason=BeginTime) before it runs again; `release` starts it at once
  (`scontrol update JobId=... StartTime=now`).
- KillWait=30: a rank that does not stop by itself is SIGKILLed 30 s after SIGTERM, so a test
  can tell a clean stop (well under a second here) from a hang.
- SLURM 22.05's srun does not inherit --cpus-per-task from sbatch; the batch scripts export
  SRUN_CPUS_PER_TASK.
- `scancel --signal=USR1 JOBID` signals the job's steps (the `srun` tasks), not the batch
  shell; with `--batch` only the batch shell gets it and, not handling it, the job fails.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.helpers.apt import install_missing

REPO = Path(__file__).resolve().parents[2]
NEEDED = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo", "srun")
FINISHED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL", "DEADLINE"}



class SlurmCluster:
    """The running cluster: `env` for subprocesses, and the few commands the tests need."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.conf = root / "slurm.conf"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        self.env.update(SLURM_CONF=str(self.conf), WANDB_MODE="offline", OMP_NUM_THREADS="1")
        self.daemons: list[subprocess.Popen] = []

    def command(self, *args: str, timeout: float = 30, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(a) for a in args], env=self.env, capture_output=True, text=True, timeout=timeout, check=check, **kwargs
        )

    def sbatch(self, *args: str | Path, cwd: Path = REPO) -> str:
        """Submit like a user would, from `cwd`; returns the job id."""
        return self.command("sbatch", "--parsable", *args, cwd=cwd).stdout.strip().split(";")[0]

    def job(self, job_id: str) -> dict[str, str]:
        """`scontrol show job` as a dict (JobState, Reason, Restarts, ...); {} once forgotten."""
        shown = self.command("scontrol", "show", "job", "-o", job_id, check=False)
        return dict(re.findall(r"(\w+)=(\S*)", shown.stdout.splitlines()[0])) if shown.returncode == 0 and shown.stdout else {}

    def state(self, job_id: str) -> str:
        return self.job(job_id).get("JobState", "UNKNOWN")

    def wait(self, job_id: str, states: set[str], timeout: float, release: bool = False) -> str:
        """Wait until the job is in one of `states` (or finished); `release` starts a requeued
        job as soon as SLURM holds it back."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.job(job_id)
            state = info.get("JobState", "UNKNOWN")
            if state in states or (state in FINISHED and not states & {"PENDING", "RUNNING"}):
                return state
            if release and state == "PENDING" and info.get("Reason") in ("BeginTime", "JobHeldAdmin", "JobHeldUser"):
                self.release(job_id)
            time.sleep(0.5)
        raise AssertionError(f"job {job_id} not {sorted(states)} after {timeout:.0f} s: {self.job(job_id)}\n{self.logs()}")

    def release(self, job_id: str) -> None:
        """Start a requeued job now instead of after SLURM's hold."""
        info = self.job(job_id)
        if info.get("Reason", "").startswith("JobHeld"):
            self.command("scontrol", "release", job_id, check=False)
        self.command("scontrol", "update", f"JobId={job_id}", "StartTime=now", check=False)

    def logs(self, lines: int = 15) -> str:
        text = []
        for log in sorted((self.root / "log").glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            text.append(f"--- {log.name}\n" + "\n".join(tail))
        return "\n".join(text)

    def cancel_all(self, timeout: float = 60) -> None:
        jobs = self.command("squeue", "-h", "-o", "%i", check=False).stdout.split()
        if jobs:
            self.command("scancel", *jobs, check=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.command("squeue", "-h", check=False).stdout.strip():
            time.sleep(0.5)


# -- starting and stopping ----------------------------------------------------------------------
def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _free_port_range(size: int = 100) -> tuple[int, int]:
    """A block of ports nobody listens on now, for srun's own listening sockets."""
    for start in range(41000, 60000, size):
        try:
            probes = [socket.create_server(("127.0.0.1", port)) for port in (start, start + size - 1)]
        except OSError:
            continue
        for probe in probes:
            probe.close()
        return start, start + size - 1
    raise OSError("no free port range for srun")


def _slurm_conf(root: Path, node_line: str) -> str:
    ctld_port, slurmd_port = _free_ports(2)
    srun_low, srun_high = _free_port_range()
    host = socket.gethostname().split(".")[0]
    return f"""\
ClusterName=litdl{os.getpid()}
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SrunPortRange={srun_low}-{srun_high}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root / 'munge' / 'munge.sock'}
StateSaveLocation={root / 'state'}
SlurmdSpoolDir={root / 'spool'}
SlurmctldPidFile={root / 'run' / 'slurmctld.pid'}
SlurmdPidFile={root / 'run' / 'slurmd.pid'}
SlurmctldLogFile={root / 'log' / 'slurmctld.log'}
SlurmdLogFile={root / 'log' / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1,sched_interval=1
ReturnToService=2
KillWait=30
MinJobAge=600
SlurmctldDebug=info
SlurmdDebug=info
{node_line} NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def _start(cluster: SlurmCluster) -> str | None:
    """Start munged, slurmctld and slurmd; None once the node is idle, else why not."""
    root = cluster.root
    for name in ("munge", "state", "spool", "log", "run"):
        (root / name).mkdir(mode=0o755)
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    node = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, timeout=30)
    node_line = next((line for line in node.stdout.splitlines() if line.startswith("NodeName=")), None)
    if node_line is None:
        return f"`slurmd -C` does not describe this node: {node.stderr.strip()}"
    cluster.conf.write_text(_slurm_conf(root, node_line))
    munge = root / "munge"
    daemons = [
        ["munged", "-F", f"--key-file={key}", f"--socket={munge / 'munge.sock'}", f"--pid-file={munge / 'munged.pid'}",
         f"--log-file={root / 'log' / 'munged.log'}", f"--seed-file={munge / 'munged.seed'}"],
        ["slurmctld", "-D", "-i", "-f", str(cluster.conf)],
        ["slurmd", "-D", "-f", str(cluster.conf)],
    ]
    for args in daemons:
        log = open(root / "log" / f"{args[0]}.stderr.log", "w")
        cluster.daemons.append(subprocess.Popen(args, env=cluster.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        if args[0] == "munged" and not _wait_for(lambda: (munge / "munge.sock").exists(), 15):
            return "munged did not create its socket"
    idle = lambda: cluster.command("sinfo", "-h", "-o", "%T", check=False).stdout.strip() == "idle"  # noqa: E731
    if not _wait_for(idle, 60, cluster.daemons):
        dead = [d.args[0] for d in cluster.daemons if d.poll() is not None]
        return f"{', '.join(dead)} exited at start" if dead else "the node did not become idle within 60 s"
    return None


def _wait_for(ready, timeout: float, daemons: list[subprocess.Popen] = ()) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(d.poll() is not None for d in daemons):
            return False
        if ready():
            return True
        time.sleep(0.5)
    return False


def _stop(cluster: SlurmCluster) -> None:
    if cluster.conf.exists() and all(d.poll() is None for d in cluster.daemons):
        try:
            cluster.cancel_all()
        except (OSError, subprocess.SubprocessError):
            pass
    for daemon in reversed(cluster.daemons):  # slurmd, slurmctld, then munged
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=20)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait(timeout=10)


@pytest.fixture(scope="session")
def slurm_cluster():
    reason = install_missing(NEEDED, ["slurm-wlm", "munge"])
    if reason:
        pytest.skip(f"no SLURM cluster: {reason}")
    root = Path(tempfile.mkdtemp(prefix="lit-dl-slurm-"))
    root.chmod(0o755)
    cluster = SlurmCluster(root)
    try:
        reason = _start(cluster)
        if reason:
            pytest.skip(f"no SLURM cluster: {reason}\n{cluster.logs()}")
        yield cluster
    finally:
        _stop(cluster)
        shutil.rmtree(root, ignore_errors=True)
