"""A throw-away one-node SLURM cluster on localhost, for tests of profiles/slurm.

`SlurmCluster` is a context manager that
  1. makes sure munge and Slurm are installed (runs .ci/install-slurm.sh when root with apt-get),
  2. writes /etc/slurm/slurm.conf (Slurm's default configuration path, so that `srun` inside
     a job finds it too) for one node, `localhost`, with the CPUs and memory `slurmd -C`
     reports, and one partition; state, spool and logs go to a fresh temporary folder,
  3. starts munged (unless one already answers), slurmctld and slurmd in the foreground as
     its own child processes, and waits, with bounded timeouts, until `sinfo` shows the
     node idle,
  4. on exit cancels the cluster's jobs and stops the daemons it started, and only those,
     and removes the slurm.conf it wrote and its temporary folder (kept, with the daemons'
     logs, when the `with` block raised or BEAMNET_SLURM_KEEP_STATE=1).
No accounting (slurmdbd) is configured: profiles/slurm polls job states with squeue.

It runs only as root on Linux. `cluster_unavailable()` says why not, and the `slurm_cluster`
fixture skips with that reason, or fails where BEAMNET_REQUIRE_SLURM=1 (set it in CI, so that
the test cannot pass by skipping). BEAMNET_SLURM_INSTALL=0 forbids the apt-get install.

It refuses to touch a machine that already runs Slurm: an existing slurm.conf that this
module did not write, or a Slurm port in use, stops it with a message. Test runs on one machine
take turns: the cluster holds an exclusive lock (LOCK_FILE) while it runs, and a second run
waits for it (BEAMNET_SLURM_LOCK_TIMEOUT seconds, default 600). Daemons left behind by an
earlier run that was killed (their pids are recorded in STATE_RECORD; the lock died with that
run) are stopped before a new cluster starts.

Usage from the command line, for debugging: `python tests/slurm_cluster.py` starts the
cluster, prints `sinfo`, and stops it on Enter.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INSTALL_SCRIPT = REPO / ".ci" / "install-slurm.sh"
SLURM_CONF = Path("/etc/slurm/slurm.conf")
MARKER = "# Written by BEAM-Net tests/slurm_cluster.py; removed when the test cluster stops."
MUNGE_KEY = Path("/etc/munge/munge.key")
MUNGE_RUN_DIR = Path("/run/munge")
STATE_RECORD = Path("/run/beamnet-slurm-test.json")
LOCK_FILE = Path("/run/beamnet-slurm-test.lock")
NODE_NAME = "localhost"
CLUSTER_NAME = "beamnet-test"
CTLD_PORT = 6817
SLURMD_PORT = 6818
REQUIRED_BINARIES = (
    "munged",
    "munge",
    "unmunge",
    "slurmctld",
    "slurmd",
    "sbatch",
    "squeue",
    "sinfo",
    "scontrol",
    "scancel",
    "srun",
)
SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin")
COMMAND_TIMEOUT = 20  # seconds for any one client command (sinfo, scontrol, ...)
INSTALL_TIMEOUT = 1200  # seconds for .ci/install-slurm.sh (apt-get update + install)


class ClusterUnavailable(Exception):
    """This machine cannot host the test cluster (not root, no packages, ...): skip."""


class ClusterError(RuntimeError):
    """The cluster should have started here but did not: fail, with the daemons' logs."""


# --- small helpers ---------------------------------------------------------------------------


def which(name: str) -> str | None:
    """A binary on PATH or in an sbin folder (root's PATH may lack /usr/sbin under sudo -E)."""
    found = shutil.which(name)
    if found:
        return found
    for folder in SBIN_DIRS:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def missing_binaries() -> list[str]:
    return [name for name in REQUIRED_BINARIES if which(name) is None]


def run(
    args: list[str],
    timeout: float = COMMAND_TIMEOUT,
    check: bool = False,
    input: str | bytes | None = None,
    text: bool = True,
) -> subprocess.CompletedProcess:
    """Run a command with a timeout; never raises for a timeout, returns rc 124 instead."""
    try:
        return subprocess.run(args, capture_output=True, timeout=timeout, check=check, input=input, text=text)
    except subprocess.TimeoutExpired as err:
        return subprocess.CompletedProcess(args, 124, err.stdout or "", f"timed out after {timeout} s")


def tail(path: Path, lines: int = 40) -> str:
    try:
        content = path.read_text(errors="replace").splitlines()
    except OSError as err:
        return f"({path}: {err})"
    return "\n".join(content[-lines:])


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def pid_alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def pid_command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def node_hardware() -> dict[str, int]:
    """CPUs, sockets, cores, threads and RealMemory (MiB) as slurmd itself will see them."""
    hardware: dict[str, int] = {}
    slurmd = which("slurmd")
    if slurmd:
        out = run([slurmd, "-C"]).stdout
        for key in ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore", "RealMemory"):
            match = re.search(rf"\b{key}=(\d+)", out)
            if match:
                hardware[key] = int(match.group(1))
    if "CPUs" not in hardware:
        hardware = {"CPUs": len(os.sched_getaffinity(0))}
    if "RealMemory" not in hardware:
        meminfo = Path("/proc/meminfo").read_text()
        hardware["RealMemory"] = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1)) // 1024
    return hardware


# --- availability and installation --------------------------------------------------------------


def cluster_unavailable() -> str | None:
    """Why this machine cannot host the test cluster, or None when it can (perhaps after install)."""
    if not sys.platform.startswith("linux"):
        return "the SLURM test cluster needs Linux"
    if os.geteuid() != 0:
        return "the SLURM test cluster needs root (it starts munged, slurmctld and slurmd)"
    missing = missing_binaries()
    if missing:
        if os.environ.get("BEAMNET_SLURM_INSTALL", "1") == "0":
            return f"SLURM is not installed (missing {', '.join(missing)}) and BEAMNET_SLURM_INSTALL=0"
        if shutil.which("apt-get") is None:
            return (
                f"SLURM is not installed (missing {', '.join(missing)}) and apt-get is not "
                "available; install munge, slurmctld, slurmd and slurm-client"
            )
        if not INSTALL_SCRIPT.is_file():
            return f"SLURM is not installed and {INSTALL_SCRIPT} is missing"
    if SLURM_CONF.exists() and MARKER not in SLURM_CONF.read_text(errors="replace"):
        return (
            f"{SLURM_CONF} exists and was not written by this test: this machine has its "
            "own SLURM configuration, which the test will not overwrite"
        )
    return None


def ensure_installed() -> None:
    """Install munge and Slurm through .ci/install-slurm.sh when they are missing."""
    if not missing_binaries():
        return
    try:
        proc = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ClusterUnavailable(f"{INSTALL_SCRIPT} took more than {INSTALL_TIMEOUT} s") from None
    if proc.returncode != 0 or missing_binaries():
        raise ClusterUnavailable(
            f"{INSTALL_SCRIPT} failed (exit {proc.returncode}); still missing "
            f"{', '.join(missing_binaries()) or 'nothing'}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )


# --- the cluster -------------------------------------------------------------------------------


class SlurmCluster:
    """One-node SLURM on localhost. Use as `with SlurmCluster(partition="main") as cluster:`."""

    def __init__(self, partition: str = "main", start_timeout: float = 90.0, stop_timeout: float = 20.0):
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", partition):
            raise ValueError(f"unusable partition name {partition!r}")
        self.partition = partition
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.state_dir: Path | None = None
        self.processes: dict[str, subprocess.Popen] = {}  # daemons this instance started
        self.wrote_conf = False
        self.hardware: dict[str, int] = {}
        self.timings: dict[str, float] = {}
        self._lock_fd: int | None = None

    # context manager
    def __enter__(self) -> SlurmCluster:
        try:
            self.start()
        except BaseException:
            self.stop(keep_state=True)
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop(keep_state=exc_type is not None)

    @property
    def slurmctld_log(self) -> Path:
        return self.state_dir / "slurmctld.log"

    @property
    def slurmd_log(self) -> Path:
        return self.state_dir / "slurmd.log"

    # start ---------------------------------------------------------------------------------
    def start(self) -> None:
        reason = cluster_unavailable()
        if reason:
            raise ClusterUnavailable(reason)
        began = time.monotonic()
        self._acquire_lock()
        self.timings["lock_wait_s"] = time.monotonic() - began
        began = time.monotonic()
        ensure_installed()
        self.timings["install_s"] = time.monotonic() - began
        began = time.monotonic()
        stop_leftovers()  # safe: we hold the lock, so whoever recorded them has exited
        for port, daemon in ((CTLD_PORT, "slurmctld"), (SLURMD_PORT, "slurmd")):
            if port_in_use(port):
                raise ClusterUnavailable(
                    f"port {port} ({daemon}) is already in use on 127.0.0.1: another SLURM runs "
                    "here; the test will not start a second one"
                )
        self.state_dir = Path(tempfile.mkdtemp(prefix="beamnet-slurm-"))
        os.chmod(self.state_dir, 0o755)
        for sub in ("ctld", "spool"):
            (self.state_dir / sub).mkdir()
        self.hardware = node_hardware()

        self._start_munge()
        self._write_conf()
        self._spawn("slurmctld", [which("slurmctld"), "-D"])
        self._wait("slurmctld to answer `scontrol ping`", self._ctld_up)
        self._spawn("slurmd", [which("slurmd"), "-D", "-N", NODE_NAME])
        self._wait(f"node {NODE_NAME} to be idle in `sinfo`", self._node_idle)
        self.timings["start_s"] = time.monotonic() - began

    def _acquire_lock(self) -> None:
        """Take the machine-wide lock; wait (bounded) while another test cluster runs."""
        timeout = float(os.environ.get("BEAMNET_SLURM_LOCK_TIMEOUT", "600"))
        fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                    os.close(fd)
                    raise ClusterUnavailable(
                        f"another SLURM test cluster (pid {holder}) held {LOCK_FILE} for more "
                        f"than {timeout:.0f} s (BEAMNET_SLURM_LOCK_TIMEOUT)"
                    ) from None
                time.sleep(1.0)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _record(self) -> None:
        """Remember the daemons' pids so that a later run can stop them if this one is killed."""
        record = {name: proc.pid for name, proc in self.processes.items()}
        record["state_dir"] = str(self.state_dir)
        STATE_RECORD.write_text(json.dumps(record))

    def _spawn(self, name: str, args: list[str], **kwargs) -> None:
        out = open(self.state_dir / f"{name}.out", "wb")
        try:
            self.processes[name] = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
            )
        finally:
            out.close()
        self._record()

    def _wait(self, what: str, ready) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise ClusterError(
                        f"{name} exited with code {proc.returncode} while waiting for {what}\n{self.diagnostics()}"
                    )
            if ready():
                return
            time.sleep(0.5)
        raise ClusterError(f"timed out after {self.start_timeout:.0f} s waiting for {what}\n{self.diagnostics()}")

    def _munge_works(self) -> bool:
        cred = run([which("munge"), "-n"], timeout=5)
        if cred.returncode != 0 or not cred.stdout.strip():
            return False
        return run([which("unmunge")], timeout=5, input=cred.stdout).returncode == 0

    def _start_munge(self) -> None:
        if self._munge_works():
            return  # a munged is already running (system service): use it, leave it alone
        if not MUNGE_KEY.exists() or MUNGE_KEY.stat().st_size < 32:
            MUNGE_KEY.parent.mkdir(parents=True, exist_ok=True)
            MUNGE_KEY.write_bytes(os.urandom(1024))
        shutil.chown(MUNGE_KEY, "munge", "munge")
        os.chmod(MUNGE_KEY, 0o400)
        MUNGE_RUN_DIR.mkdir(parents=True, exist_ok=True)
        shutil.chown(MUNGE_RUN_DIR, "munge", "munge")
        os.chmod(MUNGE_RUN_DIR, 0o755)
        # --force: start even if a stale socket from a killed munged is left in /run/munge.
        self._spawn(
            "munged", [which("munged"), "--foreground", "--force"], user="munge", group="munge", extra_groups=[]
        )
        self._wait("munged to issue and decode a credential", self._munge_works)

    def _write_conf(self) -> None:
        hw = self.hardware
        topology = ""
        if all(k in hw for k in ("Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore")):
            topology = (
                f" Boards={hw['Boards']} SocketsPerBoard={hw['SocketsPerBoard']}"
                f" CoresPerSocket={hw['CoresPerSocket']} ThreadsPerCore={hw['ThreadsPerCore']}"
            )
        state = self.state_dir
        conf = f"""{MARKER}
# One node ({NODE_NAME}) with this machine's CPUs and memory; state and logs in {state}.
ClusterName={CLUSTER_NAME}
SlurmctldHost={NODE_NAME}(127.0.0.1)
SlurmUser=root
SlurmctldPort={CTLD_PORT}
SlurmdPort={SLURMD_PORT}
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation={state}/ctld
SlurmdSpoolDir={state}/spool
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd.pid
SlurmctldLogFile={state}/slurmctld.log
SlurmdLogFile={state}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups (containers and VMs often lack a usable hierarchy), no CPU binding (a container's
# cpuset may hide CPUs that slurmd -C counts; srun then notes "lacks support for cpu binding"),
# no accounting database.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
# Finished jobs stay visible to `squeue --states=all` this long (the executor's status checks).
MinJobAge=300
KillWait=5
InactiveLimit=0
NodeName={NODE_NAME} NodeAddr=127.0.0.1 CPUs={hw["CPUs"]}{topology} RealMemory={hw["RealMemory"]} State=UNKNOWN
PartitionName={self.partition} Nodes={NODE_NAME} Default=YES MaxTime=INFINITE State=UP
"""
        SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
        SLURM_CONF.write_text(conf)
        os.chmod(SLURM_CONF, 0o644)
        (state / "slurm.conf").write_text(conf)  # a copy that outlives the cluster, for debugging
        self.wrote_conf = True

    def _ctld_up(self) -> bool:
        out = run([which("scontrol"), "ping"], timeout=10)
        return out.returncode == 0 and "UP" in out.stdout

    def node_state(self) -> str:
        out = run([which("sinfo"), "--noheader", "--Node", "--nodes", NODE_NAME, "--format", "%T"])
        return out.stdout.strip() if out.returncode == 0 else ""

    def _node_idle(self) -> bool:
        state = self.node_state()
        # A drained node (e.g. "Low RealMemory") never becomes idle by itself: fail at once.
        if state.startswith(("drain", "fail")):
            raise ClusterError(f"node {NODE_NAME} is {state}:\n{self.diagnostics()}")
        return state == "idle"

    # inspection ----------------------------------------------------------------------------
    def squeue(self, fields: str = "%i|%j|%T|%P|%k|%m|%C", name: str | None = None) -> list[list[str]]:
        """Every job slurmctld still knows (finished ones for MinJobAge seconds), split on |."""
        args = [which("squeue"), "--states=all", "--noheader", f"--format={fields}"]
        if name:
            args += ["--name", name]
        out = run(args)
        if out.returncode != 0:
            raise ClusterError(f"squeue failed: {out.stderr}")
        return [line.split("|") for line in out.stdout.splitlines() if line.strip()]

    def diagnostics(self) -> str:
        parts = []
        if self.state_dir:
            for name in ("slurmctld.log", "slurmd.log", "slurmctld.out", "slurmd.out", "munged.out", "slurm.conf"):
                path = self.state_dir / name
                if path.exists():
                    parts.append(f"--- {path} (last lines)\n{tail(path)}")
        if which("scontrol") and self.processes.get("slurmctld") and self.processes["slurmctld"].poll() is None:
            parts.append(
                "--- scontrol show node\n" + run([which("scontrol"), "show", "node", NODE_NAME], timeout=5).stdout
            )
        return "\n".join(parts)

    # stop ----------------------------------------------------------------------------------
    def stop(self, keep_state: bool = False) -> None:
        """Cancel this cluster's jobs, stop the daemons this instance started, remove slurm.conf
        and (unless keep_state or BEAMNET_SLURM_KEEP_STATE=1) the state folder."""
        if self._lock_fd is None:
            return  # never got the lock: nothing here is ours
        if "slurmctld" in self.processes and self.processes["slurmctld"].poll() is None:
            jobs = [
                row[0]
                for row in self._safe_squeue()
                if row and row[2] in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED")
            ]
            if jobs:
                run([which("scancel"), *jobs])
                deadline = time.monotonic() + self.stop_timeout
                while time.monotonic() < deadline and any(
                    row[0] in jobs and row[2] not in ("CANCELLED", "COMPLETED", "FAILED") for row in self._safe_squeue()
                ):
                    time.sleep(0.5)
        # slurmd before slurmctld, munged last: the order in which they depend on each other.
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.processes.pop(name, None)
            if proc is not None:
                terminate(proc, self.stop_timeout)
        STATE_RECORD.unlink(missing_ok=True)
        if self.wrote_conf and SLURM_CONF.exists() and MARKER in SLURM_CONF.read_text(errors="replace"):
            SLURM_CONF.unlink()
        self.wrote_conf = False
        keep_state = keep_state or os.environ.get("BEAMNET_SLURM_KEEP_STATE") == "1"
        if self.state_dir and self.state_dir.exists() and not keep_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)
        self._lock_fd = None

    def _safe_squeue(self) -> list[list[str]]:
        try:
            return self.squeue()
        except ClusterError:
            return []


def terminate(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds; the process only (it is its own session)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


def stop_leftovers(timeout: float = 15.0) -> None:
    """Stop daemons that an earlier, killed run of this module recorded in STATE_RECORD."""
    if not STATE_RECORD.exists():
        return
    try:
        record = json.loads(STATE_RECORD.read_text())
    except (OSError, ValueError):
        record = {}
    for name in ("slurmd", "slurmctld", "munged"):
        pid = record.get(name)
        if isinstance(pid, int) and pid_alive(pid) and name in pid_command(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
    STATE_RECORD.unlink(missing_ok=True)
    if SLURM_CONF.exists() and MARKER in SLURM_CONF.read_text(errors="replace"):
        SLURM_CONF.unlink()


# --- pytest -------------------------------------------------------------------------------------


def skip_or_fail(reason: str):
    """Skip, or fail where BEAMNET_REQUIRE_SLURM=1 (CI must not pass by skipping)."""
    import pytest

    if os.environ.get("BEAMNET_REQUIRE_SLURM") == "1":
        pytest.fail(f"BEAMNET_REQUIRE_SLURM=1 but: {reason}", pytrace=False)
    pytest.skip(reason)


def slurm_cluster_fixture(partition: str = "main"):
    """Generator body for a pytest fixture: yields a running SlurmCluster, or skips."""
    reason = cluster_unavailable()
    if reason:
        skip_or_fail(reason)
    cluster = SlurmCluster(partition=partition)
    try:
        cluster.__enter__()
    except ClusterUnavailable as err:
        skip_or_fail(str(err))
    failed = True
    try:
        yield cluster
        failed = False
    finally:
        # A failing test reports the daemons' log tails itself; the state folder (full logs)
        # is kept only when BEAMNET_SLURM_KEEP_STATE=1 or the fixture itself was interrupted.
        cluster.stop(keep_state=failed)


if __name__ == "__main__":
    with SlurmCluster(partition=sys.argv[1] if len(sys.argv) > 1 else "main") as cluster:
        print(run([which("sinfo")]).stdout)
        print(f"timings: {cluster.timings}; state in {cluster.state_dir}")
        input("cluster running; press Enter to stop it ")
