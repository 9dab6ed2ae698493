"""The reader role for shared sources under fork, in a subprocess with its own directory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.multiprocess.servers import worker_env


def test_a_forked_worker_takes_the_reader_role_when_the_parent_gives_it_up(tmp_path: Path) -> None:
    """The parent reads the shared source; its forked child (gunicorn ``preload_app``) keeps
    the collectors but not the parent's lock: it is not the reader while the parent is, and
    becomes it once the parent stops."""
    directory = tmp_path / "prom"
    directory.mkdir()
    script = textwrap.dedent("""
        import json, os
        from telemetry import multiprocess

        class Shared:
            multiprocess_shared = True
            def collect(self):
                return []

        parent = multiprocess.publisher()
        parent.add(Shared(), shared=True)
        parent.publish()
        to_child_r, to_child_w = os.pipe()
        to_parent_r, to_parent_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            child = multiprocess.publisher()
            child.publish()
            before = child.reader
            os.write(to_parent_w, b"1")
            os.read(to_child_r, 1)  # the parent has stopped
            child.publish()
            os.write(to_parent_w, json.dumps([len(child.shared), before, child.reader]).encode())
            os._exit(0)
        os.read(to_parent_r, 1)
        was_reader = parent.reader
        parent.stop()
        os.write(to_child_w, b"1")
        answer = json.loads(os.read(to_parent_r, 100))
        os.waitpid(pid, 0)
        print(json.dumps({"parent": was_reader, "child": answer}))
    """)
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=worker_env(directory),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"parent": True, "child": [1, False, True]}
    assert list(directory.iterdir()) == []  # the shared source yielded nothing: no file written
