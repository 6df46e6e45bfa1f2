"""A real PostgreSQL server for the tests, started and stopped by the tests themselves.

PostgreSQL refuses to run as root, so :class:`PostgresServer` runs ``initdb`` and ``pg_ctl``
as a dedicated user (``uas_pg``, made with ``useradd`` when missing) in a temporary folder that
user owns: data, socket and log inside it, a free port on the loopback interface, trust
authentication for local connections (nothing else can reach it). ``scripts/install-system-deps``
installs the server (Debian's ``postgresql``) when it is missing.

    with running() as server:
        url = server.create_database("catalog")   # postgresql://uas@127.0.0.1:PORT/catalog
"""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from contextlib import contextmanager

from tests.support import free_port

USER = "uas_pg"  # the operating-system user the server runs as
ROLE = "uas"  # the database superuser the tests connect as


def binary(name):
    """Return the path of PostgreSQL's ``name`` program (initdb, pg_ctl, psql)."""
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))[-1:]
    if not found:
        raise RuntimeError(
            f"PostgreSQL's {name} is not installed; run scripts/install-system-deps "
            "(apt-get install postgresql)"
        )
    return found if isinstance(found, str) else found[0]


def ensure_user():
    """Return the uid and gid of the server's user, creating it when missing (needs root)."""
    try:
        entry = pwd.getpwnam(USER)
    except KeyError:
        if os.geteuid() != 0:
            raise RuntimeError(f"user {USER!r} does not exist and only root can add it") from None
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(USER)
    return entry.pw_uid, entry.pw_gid


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder, on a free port."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="uas-pg-")
        self.data = os.path.join(self.root, "data")
        self.log_path = os.path.join(self.root, "server.log")
        self.port = free_port()
        self._as_user = {}
        if os.geteuid() == 0:  # PostgreSQL will not run as root
            uid, gid = ensure_user()
            os.chown(self.root, uid, gid)
            self._as_user = {"user": uid, "group": gid, "extra_groups": []}

    def _run(self, *args):
        result = subprocess.run(
            list(args), capture_output=True, text=True, cwd=self.root, **self._as_user
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def start(self):
        """Create the cluster and start the server; wait until it accepts connections."""
        self._run(
            binary("initdb"), "-D", self.data, "-U", ROLE, "--auth=trust",
            "--encoding=UTF8", "--no-sync",
        )  # fmt: skip
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            # A test server: losing it loses nothing, so no waiting on the disk.
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(binary("pg_ctl"), "-D", self.data, "-l", self.log_path, "-o", options, "-w",
                  "start")  # fmt: skip
        return self

    def url(self, database="postgres"):
        """Return the URL of ``database`` on this server."""
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql, database="postgres"):
        """Run ``sql`` with psql over the socket; return its unaligned output."""
        return self._run(
            binary("psql"), "-h", self.root, "-p", str(self.port), "-U", ROLE, "-d", database,
            "-v", "ON_ERROR_STOP=1", "-At", "-c", sql,
        )  # fmt: skip

    def create_database(self, name):
        """Create an empty database ``name`` and return its URL."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log_tail(self, lines=40):
        """Return the last lines of the server's log."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        """Stop the server (fast: open sessions are cut) and remove its folder."""
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            subprocess.run(
                [binary("pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop"],
                capture_output=True,
                cwd=self.root,
                **self._as_user,
            )
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def running():
    """Yield a started :class:`PostgresServer`; stop it and remove its files afterwards."""
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()
