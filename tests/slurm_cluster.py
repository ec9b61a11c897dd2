"""A real single-node SLURM on localhost for the tests: munged, slurmctld and
slurmd, each with its socket, pid, log, state and spool files in one fresh
directory under /tmp, on free ports, so nothing of the machine's own (munge,
SLURM) is used or changed.

One exception: client commands inside a job find their configuration by the
default search path only (snakemake-executor-plugin-slurm-jobstep drops every
SLURM_* variable, SLURM_CONF too, before its inner `srun`), so the cluster
links /run/slurm/conf to its directory, where SLURM 22.05+ looks when
/etc/slurm/slurm.conf does not exist (the place a configless slurmd uses).
On a machine with its own SLURM configuration the cluster refuses to start.

Needs root (slurmd runs jobs as their user) and the Debian packages slurm-wlm
(slurmctld, slurmd, munge). Stop with `stop()`: by the PIDs in the daemons'
pid files, never by name.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DAEMONS = ("/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "srun", "scontrol")
CONF_LINK = Path("/run/slurm/conf")  # the client's last place to look (SLURM 22.05+)
SITE_CONF = Path("/etc/slurm/slurm.conf")
PARTITION = "debug"
PREFIX = "robusttag-slurm-"  # of the cluster's directory under /tmp


class SlurmUnavailable(RuntimeError):
    """SLURM cannot be started here; the message says why."""


def missing() -> list[str]:
    """The SLURM and munge programs this machine lacks (empty: all there)."""
    return [p for p in DAEMONS if not os.access(p, os.X_OK)] + [c for c in CLIENTS if shutil.which(c) is None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    """True while the process runs (a zombie left to a non-reaping init counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def _stale(target: Path) -> bool:
    """True for a link target gone, or left by a killed run of this module whose slurmctld is gone."""
    if not target.exists():
        return True
    try:
        return target.name.startswith(PREFIX) and not _alive(int((target / "slurmctld.pid").read_text().split()[0]))
    except (FileNotFoundError, ValueError, IndexError):
        return target.name.startswith(PREFIX)


class SlurmCluster:
    """One node (`localhost`, all CPUs of the machine) in one partition, `debug`.

    Memory is not a consumable (CR_Core) and the node declares 512 GB
    (config_overrides), so the profile's real mem_mb requests are accepted
    as written; nothing enforces them here.
    """

    def __init__(self, cpus: int | None = None):
        self.cpus = cpus or os.cpu_count() or 1
        self.dir = Path(tempfile.mkdtemp(prefix=PREFIX))
        self.conf = self.dir / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self._pid_files: list[Path] = []
        self._linked = self._made_run_dir = False

    # -- start -------------------------------------------------------------

    def start(self, timeout: float = 60) -> SlurmCluster:
        """Start munged, slurmctld and slurmd; return once the node is idle. Raises
        SlurmUnavailable (having cleaned up) where that cannot be done here."""
        try:
            self._check_machine()
            self._start_munged()
            self._write_conf()
            self._link_conf()
            self._run("/usr/sbin/slurmctld")
            self._pid_files.append(self.dir / "slurmctld.pid")
            self._run("/usr/sbin/slurmd")
            self._pid_files.append(self.dir / "slurmd.pid")
            self._wait_idle(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    @staticmethod
    def _check_machine() -> None:
        if os.geteuid() != 0:
            raise SlurmUnavailable("a test SLURM needs root (slurmd starts jobs as their user)")
        if lacking := missing():
            raise SlurmUnavailable(f"SLURM is not installed, missing {', '.join(lacking)} (apt-get install slurm-wlm)")
        if SITE_CONF.exists():
            raise SlurmUnavailable(f"{SITE_CONF} exists: this machine has its own SLURM, which jobs would use")
        if CONF_LINK.is_symlink() and not _stale(Path(os.readlink(CONF_LINK))):
            raise SlurmUnavailable(f"{CONF_LINK} points to a configuration in use ({os.readlink(CONF_LINK)})")
        if CONF_LINK.exists() and not CONF_LINK.is_symlink():
            raise SlurmUnavailable(f"{CONF_LINK} exists: a configless SLURM runs here")

    def _run(self, *command: str) -> None:
        result = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise SlurmUnavailable(f"{' '.join(command)} failed ({result.returncode}): {result.stderr}\n{self.logs()}")

    def _start_munged(self) -> None:
        """Own munged on its own socket; munged insists on running as the key's owner."""
        munge = self.dir / "munge"
        munge.mkdir()
        shutil.chown(munge, "munge", "munge")
        self.dir.chmod(0o755)  # munged checks every directory above its socket
        munge.chmod(0o755)
        self.socket = munge / "munge.socket"
        args = [
            f"--socket={self.socket}",
            f"--pid-file={munge}/munged.pid",
            f"--log-file={munge}/munged.log",
            f"--seed-file={munge}/munged.seed",
        ]
        self._pid_files.append(munge / "munged.pid")
        self._run("su", "-s", "/bin/sh", "munge", "-c", " ".join(["/usr/sbin/munged", *args]))

    def _write_conf(self) -> None:
        for sub in ("state", "spool", "log"):
            (self.dir / sub).mkdir()
        d = self.dir
        self.conf.write_text(
            f"""\
# A one-node test cluster written by tests/slurm_cluster.py
ClusterName=robusttagtest
SlurmctldHost=localhost
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={self.socket}
CredType=cred/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# completed jobs kept 2 h: the SLURM tests read their states after the rest of the suite (tests/conftest.py)
MinJobAge=7200
NodeName=localhost CPUs={self.cpus} RealMemory=512000 State=UNKNOWN
PartitionName={PARTITION} Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""
        )

    def _link_conf(self) -> None:
        if CONF_LINK.is_symlink():  # left by an earlier, killed run (checked: stale)
            CONF_LINK.unlink()
        if not CONF_LINK.parent.exists():
            CONF_LINK.parent.mkdir(parents=True)
            self._made_run_dir = True
        CONF_LINK.symlink_to(self.dir)
        self._linked = True

    def _wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            result = subprocess.run(["sinfo", "-h", "-o", "%T"], env=self.env, capture_output=True, text=True)
            state = result.stdout.strip()
            if state == "idle":
                return
            time.sleep(0.5)
        raise SlurmUnavailable(f"the node did not become idle within {timeout} s (state {state!r})\n{self.logs()}")

    # -- use ---------------------------------------------------------------

    def logs(self) -> str:
        """The tails of the daemons' logs, for failure messages."""
        parts = []
        for log in (self.dir / "munge/munged.log", self.dir / "log/slurmctld.log", self.dir / "log/slurmd.log"):
            if log.exists():
                parts.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
        return "\n".join(parts)

    def jobs(self) -> list[dict[str, str]]:
        """Every job slurmctld still knows (completed ones for MinJobAge s): id, name, state, exit code."""
        fields = ("jobid", "name", "state")
        out = subprocess.run(
            ["squeue", "-h", "-a", "-t", "all", "-o", "%i|%j|%T"],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        jobs = [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line.strip()]
        for job in jobs:  # squeue has no exit code; scontrol does
            shown = subprocess.run(
                ["scontrol", "-o", "show", "job", job["jobid"]], env=self.env, capture_output=True, text=True
            ).stdout
            job["exit_code"] = next((f.split("=", 1)[1] for f in shown.split() if f.startswith("ExitCode=")), "")
        return jobs

    # -- stop --------------------------------------------------------------

    def cancel_jobs(self, timeout: float = 20) -> None:
        """Cancel every job left (a run killed at its timeout) and wait until none runs."""
        deadline = time.monotonic() + timeout
        try:
            subprocess.run(["scancel", "--partition", PARTITION], env=self.env, capture_output=True, timeout=30)
            while time.monotonic() < deadline:
                left = subprocess.run(
                    ["squeue", "-h", "-t", "PENDING,RUNNING,COMPLETING,SUSPENDED"],
                    env=self.env,
                    capture_output=True,
                    text=True,
                    timeout=30,
                )
                if left.returncode != 0 or not left.stdout.strip():
                    return
                time.sleep(0.5)
        except subprocess.TimeoutExpired:  # slurmctld hangs: stopping it ends the jobs' bookkeeping anyway
            return

    def stop(self, timeout: float = 20) -> None:
        """Cancel the jobs left, SIGTERM each daemon by its pid file (slurmd, slurmctld,
        munged), wait, SIGKILL what still runs, and remove the link and the directory."""
        if self._pid_files and (self.dir / "slurmctld.pid").exists():
            self.cancel_jobs()
        pids = []
        for pid_file in reversed(self._pid_files):
            try:
                pids.append(int(pid_file.read_text().split()[0]))
            except (FileNotFoundError, ValueError, IndexError):
                continue
            try:
                os.kill(pids[-1], signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        self._pid_files.clear()
        if self._linked and CONF_LINK.is_symlink() and Path(os.readlink(CONF_LINK)) == self.dir:
            CONF_LINK.unlink()
        if self._made_run_dir:
            try:
                CONF_LINK.parent.rmdir()
            except OSError:
                pass
        self._linked = self._made_run_dir = False
        shutil.rmtree(self.dir, ignore_errors=True)
