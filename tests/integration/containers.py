"""The containers behind the integration level: Apache Kafka in KRaft mode and Redis, started
by testcontainers, and the check that a Docker engine is there to start them."""

from __future__ import annotations

import contextlib
import gc
import os
import re
import socket
import warnings
from collections.abc import Iterator
from typing import Self, TypeVar
from urllib.parse import urlsplit

import docker
from testcontainers.community.redis import RedisContainer
from testcontainers.core.container import DockerContainer
from testcontainers.core.docker_client import get_docker_host
from testcontainers.core.wait_strategies import LogMessageWaitStrategy

KAFKA_IMAGE = "apache/kafka:3.9.1"
REDIS_IMAGE = "redis:7.4-alpine"
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
NO_DOCKER = (
    "no Docker engine reachable (DOCKER_HOST or /var/run/docker.sock): integration tests need one"
)

C = TypeVar("C", bound=DockerContainer)


def docker_engine_problem(timeout_s: int = 3) -> str | None:
    """Why no Docker engine answers, or None when one does.

    Asks the engine testcontainers would use (its ``tc.host`` property, ``DOCKER_HOST`` or the
    current docker context). A socket probe comes first so that a missing engine costs
    milliseconds, not a client timeout; the ping then proves a Docker API is behind it.
    """
    host = get_docker_host() or DEFAULT_DOCKER_HOST
    url = urlsplit(host)
    try:
        if url.scheme in ("unix", "http+unix"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout_s)
                sock.connect(url.path)
        elif url.scheme in ("tcp", "http", "https"):
            address = (url.hostname or "localhost", url.port or 2375)
            with socket.create_connection(address, timeout_s):
                pass
    except OSError as exc:
        return f"{host}: {exc.strerror or exc}"
    with _client_leaks_tolerated():
        try:
            client = docker.from_env(
                timeout=timeout_s,
                environment={**os.environ, "DOCKER_HOST": host},
                use_ssh_client=host.startswith("ssh://"),
            )
            try:
                client.ping()
            finally:
                client.close()
        except Exception as exc:  # noqa: BLE001 - any failure means the same thing: no engine
            return f"{host}: {type(exc).__name__}: {exc}"
    return None


@contextlib.contextmanager
def _client_leaks_tolerated() -> Iterator[None]:
    """The docker SDK can leave sockets to the garbage collector. Under
    ``filterwarnings = error`` their ResourceWarning would fail whichever later test the
    collector happens to run in, so container start and stop collect them here, quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            yield
        finally:
            gc.collect()


@contextlib.contextmanager
def running(container: C) -> Iterator[C]:
    """Start ``container``, yield it, and remove it afterwards (also when start fails)."""
    with _client_leaks_tolerated():
        try:
            container.start()
        except BaseException:
            container.stop()
            raise
    try:
        yield container
    finally:
        with _client_leaks_tolerated():
            container.stop()


class ApacheKafkaContainer(DockerContainer):
    """One Apache Kafka node from the ``apache/kafka`` image, in KRaft mode: broker and
    controller in one process, no ZooKeeper.

    testcontainers-python's ``KafkaContainer`` drives the start scripts of Confluent's
    ``cp-kafka`` image (and refuses KRaft below its tag 7.0), so it cannot run
    ``apache/kafka``. This follows testcontainers-java's Apache Kafka container instead: the
    client listener must advertise the host port Docker mapped, known only once the
    container runs, so the container waits for a start script that is copied in after start
    and then runs the image's own entry script.
    """

    PORT = 9092
    START_SCRIPT = "/tmp/testcontainers_start.sh"
    SCRIPT_READY = "/tmp/testcontainers_start.ready"
    STARTED = re.compile(r"Kafka Server started")

    def __init__(self, image: str = KAFKA_IMAGE, *, ready_timeout_s: int = 120) -> None:
        super().__init__(image)
        self._ready_timeout_s = ready_timeout_s
        self.with_exposed_ports(self.PORT)
        self.with_envs(
            CLUSTER_ID="4L6g3nShT-eMCtK--X86sw",
            KAFKA_NODE_ID="1",
            KAFKA_PROCESS_ROLES="broker,controller",
            KAFKA_LISTENERS=(
                f"PLAINTEXT://0.0.0.0:{self.PORT},BROKER://0.0.0.0:9093,CONTROLLER://0.0.0.0:9094"
            ),
            KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=(
                "PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT"
            ),
            KAFKA_INTER_BROKER_LISTENER_NAME="BROKER",
            KAFKA_CONTROLLER_LISTENER_NAMES="CONTROLLER",
            KAFKA_CONTROLLER_QUORUM_VOTERS="1@localhost:9094",
            KAFKA_LOG_DIRS="/tmp/kraft-combined-logs",
            KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR="1",
            KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS="1",
            KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR="1",
            KAFKA_TRANSACTION_STATE_LOG_MIN_ISR="1",
            KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS="0",
            # The log cleaner looks for work every half second instead of every 15 s, so a
            # test can watch compaction happen.
            KAFKA_LOG_CLEANER_BACKOFF_MS="500",
        )
        # The marker file is copied after the script, so the script is complete when seen.
        self.with_command(
            [
                "sh",
                "-c",
                f"while [ ! -f {self.SCRIPT_READY} ]; do sleep 0.1; done; "
                f"exec sh {self.START_SCRIPT}",
            ]
        )

    def start(self) -> Self:
        super().start()  # no wait strategy yet: Kafka starts only once the script is in
        host = self.get_container_host_ip()
        port = self.get_exposed_port(self.PORT)
        script = (
            f'export KAFKA_ADVERTISED_LISTENERS="PLAINTEXT://{host}:{port},'
            'BROKER://$(hostname):9093"\n'
            "exec /etc/kafka/docker/run\n"
        )
        self.copy_into_container(script.encode(), self.START_SCRIPT, 0o755)
        self.copy_into_container(b"", self.SCRIPT_READY)
        wait = LogMessageWaitStrategy(self.STARTED).with_startup_timeout(self._ready_timeout_s)
        wait.wait_until_ready(self)
        return self

    def bootstrap_servers(self) -> str:
        return f"{self.get_container_host_ip()}:{self.get_exposed_port(self.PORT)}"


def redis_url(container: RedisContainer) -> str:
    host = container.get_container_host_ip()
    return f"redis://{host}:{container.get_exposed_port(container.port)}/0"
