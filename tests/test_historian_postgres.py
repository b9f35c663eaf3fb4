"""PostgreSQL partition leases: advisory locks on the committing connection, gone with it.

Each test works in a schema of its own (``postgres_schema``), dropped afterwards.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import psycopg
import pytest

from monitor.historian import Changeset, LeaseLostError, PostgresHistorian, SchemaError, Table
from tests.monitor_helpers import reading, wait_until
from tests.test_historian import POSTGRES_URL, in_schema, postgres_schema


@pytest.fixture
def url():
    with postgres_schema() as schema_url:
        yield schema_url


@pytest.fixture
def pair(url):
    """Two monitor instances' historians on one store."""
    with PostgresHistorian(url) as first, PostgresHistorian(url) as second:
        yield first, second


def backend_pid(historian: PostgresHistorian) -> int:
    return int(historian._db.info.backend_pid)


def test_a_partition_has_one_holder(pair):
    first, second = pair
    assert first.try_lease(3)
    assert not second.try_lease(3)
    assert second.try_lease(4)
    assert (first.held(), second.held()) == ({3}, {4})
    first.release(3)
    assert first.held() == set()
    assert second.try_lease(3)
    assert not first.try_lease(3)


def test_leasing_again_needs_one_release(pair):
    first, second = pair
    assert first.try_lease(1) and first.try_lease(1)
    first.release(1)
    assert second.try_lease(1)
    first.release(7)  # not held: nothing happens


def test_closing_the_holder_frees_its_partitions(pair, url):
    first, second = pair
    with PostgresHistorian(url) as holder:
        assert holder.try_lease(0) and holder.try_lease(2)
        assert not first.try_lease(0)
    # The server ends the session just after the client closes it.
    wait_until(lambda: first.try_lease(0) and first.try_lease(2), timeout=10, what="the closed holder's leases")
    assert not second.try_lease(2)


def test_a_killed_instance_loses_its_leases(url):
    # An instance in another process, killed with SIGKILL mid-lease: its socket closes with it.
    program = textwrap.dedent(
        f"""
        import sys, time
        from monitor.historian import PostgresHistorian
        historian = PostgresHistorian({url!r})
        assert historian.try_lease(5)
        print("leased", flush=True)
        time.sleep(600)
        """
    )
    holder = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "leased"
        with PostgresHistorian(url) as other:
            assert not other.try_lease(5)
            holder.kill()
            holder.wait(timeout=10)
            wait_until(lambda: other.try_lease(5), timeout=10, what="the killed instance's lease")
            assert other.held() == {5}
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_a_commit_needs_the_lease_of_its_partition(pair):
    first, second = pair
    with pytest.raises(LeaseLostError, match="partition 2"):
        first.commit(Changeset(partition=2, readings=[reading()]))
    assert second.try_lease(2)
    second.commit(Changeset(partition=2, readings=[reading()]))
    second.release(2)
    with pytest.raises(LeaseLostError):
        second.commit(Changeset(partition=2, readings=[reading(seq=1)]))
    assert len(first.frame(Table.READINGS)) == 1


def test_an_instance_whose_connection_died_can_store_nothing(pair, url):
    first, second = pair
    assert first.try_lease(0)
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (backend_pid(first),))
    wait_until(lambda: second.try_lease(0), timeout=10, what="the lease of the terminated session")
    with pytest.raises(psycopg.OperationalError):
        first.commit(Changeset(partition=0, readings=[reading()]))
    assert first.held() == set()
    assert second.frame(Table.READINGS).empty


def test_stores_in_other_schemas_do_not_contend(url):
    with postgres_schema() as elsewhere, PostgresHistorian(url) as here, PostgresHistorian(elsewhere) as there:
        assert here.try_lease(0) and there.try_lease(0)


def test_heartbeat_counts_live_instances(pair, url):
    first, second = pair
    assert first.heartbeat("host-a:1") == 1
    assert second.heartbeat("host-b:2") == 2
    assert first.heartbeat("host-a:1") == 2
    with psycopg.connect(url, autocommit=True) as clock:  # host-b:2 last spoke a minute ago
        clock.execute("UPDATE instances SET seen_at = now() - interval '1 minute' WHERE instance = 'host-b:2'")
    assert first.heartbeat("host-a:1") == 1


def test_instances_opening_a_new_store_together_create_it_once(url):
    opened, errors = [], []

    def open_one() -> None:
        try:
            opened.append(PostgresHistorian(url))
        except Exception as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=open_one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == [] and len(opened) == 3
    finally:
        for historian in opened:
            historian.close()


def test_a_search_path_without_a_schema_is_refused():
    with pytest.raises(SchemaError, match="no schema"):
        PostgresHistorian(in_schema("no_such_schema_here"))


def test_reading_an_empty_schema_asks_for_a_writer_first(url):
    with pytest.raises(SchemaError, match="holds no historian"):
        PostgresHistorian(url, readonly=True)
