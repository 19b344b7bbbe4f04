"""The local runner: Beam's worker servers listen on 127.0.0.1 only."""

from __future__ import annotations

import errno
import socket
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability import local_job_service
from apache_beam.runners.portability.fn_api_runner import worker_handlers

from pipelines.options import _LoopbackGrpc, local_runner


def ipv6_loopback_port_free(port: int) -> bool:
    """Can [::1]:port be bound? It cannot while a server listens on every interface ([::])."""
    probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        probe.bind(("::1", port))
        return True
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            return False
        raise
    finally:
        probe.close()


def has_ipv6_loopback() -> bool:
    try:
        return ipv6_loopback_port_free(0)
    except OSError:
        return False


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback to tell [::] from 127.0.0.1")
def test_beam_style_servers_bind_loopback_only() -> None:
    with ThreadPoolExecutor(1) as pool:
        plain = grpc.server(pool)
        wide = plain.add_insecure_port("[::]:0")  # what Beam asks for
        assert not ipv6_loopback_port_free(wide)  # every interface: the probe is refused

        server = _LoopbackGrpc(grpc).server(pool)
        port = server.add_insecure_port("[::]:0")
        server.start()
        try:
            assert ipv6_loopback_port_free(port)  # not on [::] ...
            with socket.create_connection(("127.0.0.1", port), timeout=5):  # ... but on 127.0.0.1
                pass
        finally:
            server.stop(None)
            plain.stop(None)


def test_local_runner_installs_the_loopback_servers_once() -> None:
    options = PipelineOptions(["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    assert local_runner(options) is not None
    assert local_runner(options) is not None
    for module in (worker_handlers, local_job_service):
        assert isinstance(module.grpc, _LoopbackGrpc)
        assert not isinstance(module.grpc._module, _LoopbackGrpc)
        assert module.grpc.StatusCode is grpc.StatusCode  # the rest is the module itself
