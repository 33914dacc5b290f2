"""A ClickHouse server on loopback with its own config and data directory, for when a server
binary is installed (Debian's ``clickhouse-server``); the embedded default is chDB."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as DriverError

from vigil.stack.process import ServerProcess, ServerStatus, StackError, wait_for

# `<yandex>` is the root every ClickHouse release accepts (newer ones also take `<clickhouse>`).
CONFIG = """\
<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>{logs}/clickhouse-server.log</log>
    <errorlog>{logs}/clickhouse-server.err.log</errorlog>
    <size>50M</size>
    <count>2</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>{tcp_port}</tcp_port>
  <http_port>{http_port}</http_port>
  <path>{data}/</path>
  <tmp_path>{data}/tmp/</tmp_path>
  <user_files_path>{data}/user_files/</user_files_path>
  <format_schema_path>{data}/format_schemas/</format_schema_path>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>64</max_concurrent_queries>
  <users_config>{home}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
</yandex>
"""

USERS = """\
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
"""


def find_server_binary() -> list[str] | None:
    """The command that runs a ClickHouse server, or None if none is installed."""
    for name in ("clickhouse-server", "/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"):
        found = shutil.which(name)
        if found:
            return [found]
    multi = shutil.which("clickhouse")
    return [multi, "server"] if multi else None


@dataclass(frozen=True)
class ClickHouseServer:
    home: Path
    tcp_port: int = 19000
    http_port: int = 18123

    @property
    def process(self) -> ServerProcess:
        return ServerProcess(self.home)

    @property
    def config_file(self) -> Path:
        return self.home / "config.xml"

    @property
    def url(self) -> str:
        return f"clickhouse://default@127.0.0.1:{self.tcp_port}/default"

    def _write_config(self) -> None:
        data = self.home / "data"
        for sub in ("tmp", "user_files", "format_schemas"):
            (data / sub).mkdir(parents=True, exist_ok=True)
        logs = self.process.log_file.parent
        logs.mkdir(parents=True, exist_ok=True)
        values = {
            "logs": escape(str(logs)),
            "data": escape(str(data)),
            "home": escape(str(self.home)),
            "tcp_port": str(self.tcp_port),
            "http_port": str(self.http_port),
        }
        self.config_file.write_text(CONFIG.format(**values))
        (self.home / "users.xml").write_text(USERS)

    def start(self, *, fresh: bool = False, timeout_s: float = 60.0) -> bool:
        """Start the server unless ours is running; True if it was started now."""
        if self.process.pid() is not None and not fresh:
            return False
        binary = find_server_binary()
        if binary is None:
            raise StackError("no ClickHouse server binary: apt-get install clickhouse-server")
        if fresh:
            self.stop()
            shutil.rmtree(self.home / "data", ignore_errors=True)
        self._write_config()
        began = time.monotonic()
        self.process.spawn([*binary, f"--config-file={self.config_file}"])
        try:
            wait_for(self._ready, timeout_s, self.process, "ClickHouse server")
        except Exception:
            self.stop()
            raise
        self.process.write_state(startup_s=round(time.monotonic() - began, 3))
        return True

    def _ready(self) -> bool:

        client = Client(host="127.0.0.1", port=self.tcp_port, connect_timeout=1)
        try:
            return bool(client.execute("SELECT 1") == [(1,)])
        except (DriverError, OSError, EOFError):
            return False
        finally:
            client.disconnect()

    def stop(self, timeout_s: float = 30.0) -> bool:
        return self.process.stop(timeout_s)

    def status(self) -> ServerStatus:
        pid = self.process.pid()
        return ServerStatus(
            name="ClickHouse server",
            running=pid is not None,
            pid=pid,
            address=f"127.0.0.1:{self.tcp_port} (native)",
            startup_s=self.process.read_state().get("startup_s"),
            rss_bytes=self.process.rss_bytes(),
            log_file=self.process.log_file,
        )
