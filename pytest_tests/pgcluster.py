"""A private, throwaway PostgreSQL cluster for the test suite (a real server, never a mock).

`PgCluster.start()` runs initdb into a fresh temporary directory, starts the server on a free
port of 127.0.0.1 with its unix socket in that directory and trust authentication, and `stop()`
stops it and removes the directory. The server refuses to run as root: when the tests run as root,
initdb and pg_ctl run as the `postgres` system user (created when missing) through `runuser`.

Also usable by hand: `python -m pytest_tests.pgcluster` starts one and prints the libpq variables.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


def find_bindir() -> Path:
    """The directory holding initdb and pg_ctl: `pg_config --bindir`, else /usr/lib/postgresql/*/bin."""
    candidates: list[str] = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for c in candidates:
        if (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
            return Path(c)
    raise RuntimeError("PostgreSQL server binaries not found: run scripts/ensure-postgres.sh")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_user() -> str | None:
    """None when we may run the server ourselves; else the system user to run it as."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/bin/false", "postgres"],
                       check=True)
    return "postgres"


@dataclass
class PgCluster:
    bindir: Path = field(default_factory=find_bindir)
    port: int = field(default_factory=free_port)
    base: Path | None = None
    user: str | None = None

    @property
    def datadir(self) -> Path:
        assert self.base is not None
        return self.base / "data"

    def _run(self, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=True, **kw)  # type: ignore[call-overload, no-any-return]

    def start(self) -> PgCluster:
        self.user = _server_user()
        self.base = Path(tempfile.mkdtemp(prefix="sdrun-pg-"))
        os.chmod(self.base, 0o755)
        if self.user:
            shutil.chown(self.base, self.user)
        self._run(str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres",
                  "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.base}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "60",
            "shared_buffers": "128MB",
            "log_min_messages": "warning",
        }
        with open(self.datadir / "postgresql.conf", "a") as f:
            f.write("".join(f"{k} = {v}\n" for k, v in conf.items()))
        self.start_server()
        return self

    def start_server(self) -> None:
        """Start the server of this cluster (again, after `stop_server`)."""
        assert self.base is not None
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.base / "server.log"),
                  "-w", "-t", "60", "start")

    def stop_server(self, mode: str = "immediate") -> None:
        """Stop the server and keep the cluster (immediate: like a crash or a power cut)."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop")

    def stop(self) -> None:
        if self.base is None:
            return
        try:
            if (self.datadir / "postmaster.pid").exists():
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None

    def env(self, database: str = "postgres") -> dict[str, str]:
        """The libpq variables that reach this cluster (sdrun reads nothing else)."""
        return {"PGHOST": "127.0.0.1", "PGPORT": str(self.port), "PGUSER": "postgres",
                "PGDATABASE": database, "PGCONNECT_TIMEOUT": "10"}

    def create_database(self, name: str) -> None:
        import psycopg2

        con = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        con.autocommit = True
        try:
            with con.cursor() as cur:
                cur.execute(f'drop database if exists "{name}" with (force)')
                cur.execute(f'create database "{name}"')
        finally:
            con.close()


if __name__ == "__main__":  # pragma: no cover - for people
    import signal
    import sys

    c = PgCluster().start()
    print(" ".join(f"{k}={v}" for k, v in c.env().items()), f"# datadir {c.datadir}; stop: kill {os.getpid()}",
          flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(3600)
    finally:
        c.stop()
