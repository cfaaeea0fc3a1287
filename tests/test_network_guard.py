import socket

import pytest

from tests.conftest import RealNetworkUsed


def test_tests_cannot_reach_the_real_network() -> None:
    with socket.socket() as probe, pytest.raises(RealNetworkUsed):
        probe.connect(("93.184.216.34", 80))


def test_loopback_stays_reachable() -> None:
    with socket.socket() as server, socket.socket() as client:
        server.bind(("127.0.0.1", 0))
        server.listen()
        client.connect(server.getsockname())
