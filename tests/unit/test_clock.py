"""Stamps: strictly increasing in a process, and a forked worker draws its own writer id
(Granian forks its workers from one parent: equal ids would make their stamps tie)."""
import os

from s3free import clock


def test_stamps_increase_and_carry_the_node_id():
    stamps = [clock.stamp() for _ in range(1000)]
    assert all(a < b for a, b in zip(stamps, stamps[1:]))
    assert {node for _, node in stamps} == {clock.node_id()}
    assert 0 < clock.node_id() < 1 << 63


def test_a_forked_child_has_its_own_node_id():
    parent = clock.node_id()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:        # the child: report its id and leave without running pytest's teardown
        try:
            os.write(w, str(clock.node_id()).encode())
        finally:
            os._exit(0)
    os.close(w)
    child = int(os.read(r, 64))
    os.close(r)
    os.waitpid(pid, 0)
    assert child != parent
    assert clock.node_id() == parent
