"""`lambdad logs NAME --follow` against a running server: it prints the recent history, then each
new line as invocations write it, also of streams (environments) that began after it started and
of a function created after it started; it ends on SIGTERM."""

import json
import queue
import re
import subprocess
import threading
import time
import uuid

import pytest

from conftest import BIN, ROLE, fixture_zip
from lambdad_host import tail


class Follower:
    """`lambdad logs ... --follow` as a subprocess; its stdout lines are read by a thread into a
    queue so that the test waits with a deadline, never on a read that can block forever."""

    def __init__(self, server, function):
        self.proc = subprocess.Popen([str(BIN), "logs", function, "--follow", "--data-dir", str(server.data_dir)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, needle, timeout=30):
        """The first line printed so far, or within `timeout` seconds, that contains `needle`."""
        for line in self.seen:
            if needle in line:
                return line
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            assert left > 0, f"`lambdad logs --follow` did not print {needle!r} in {timeout}s; printed {self.seen}"
            assert self.proc.poll() is None, f"it exited ({self.proc.returncode}): {self.proc.stderr.read()}"
            try:
                line = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            self.seen.append(line)
            if needle in line:
                return line

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("`lambdad logs --follow` ignored SIGTERM")


def create(lam, name):
    lam.create_function(FunctionName=name, Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                        Code={"ZipFile": fixture_zip("behave")})


def say(lam, name, text):
    """Invokes the behave fixture's `print`; returns the invocation's request id."""
    out = lam.invoke(FunctionName=name, Payload=json.dumps({"op": "print", "text": text}), LogType="Tail")
    assert json.loads(out["Payload"].read()) == {"printed": text}
    return re.search(r"^REPORT RequestId: (\S+)", tail(out), re.M).group(1)


LINE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\d{4}/\d\d/\d\d/\[\$LATEST\]\w+) (.*)")


@pytest.mark.timeout(180)
def test_logs_follow_prints_new_lines_as_they_are_written(server, lam):
    create(lam, "followed")
    tag = uuid.uuid4().hex[:8]
    say(lam, "followed", f"history {tag}")
    follower = Follower(server, "followed")
    try:
        line = follower.wait_for(f"history {tag}")
        m = LINE.fullmatch(line)
        assert m, f"TIMESTAMP STREAM MESSAGE: {line!r}"
        first_stream = m.group(2)

        # A new invocation's lines appear while it follows: its output and its REPORT.
        request = say(lam, "followed", f"live {tag}")
        assert LINE.fullmatch(follower.wait_for(f"live {tag}")).group(2) == first_stream
        follower.wait_for(f"stderr: live {tag}")
        follower.wait_for(f"REPORT RequestId: {request}")

        # A new environment writes a new stream; that one is followed too.
        lam.update_function_configuration(FunctionName="followed", Environment={"Variables": {"NEW": "1"}})
        lam.get_waiter("function_updated_v2").wait(FunctionName="followed")
        say(lam, "followed", f"new stream {tag}")
        stream = LINE.fullmatch(follower.wait_for(f"new stream {tag}")).group(2)
        assert stream != first_stream, "a new environment, a new stream"
        history = [line for line in follower.seen if f"history {tag}" in line]
        assert len(history) == 2, f"its stdout and stderr lines, each printed once: {history}"
    finally:
        code = follower.stop()
    assert code in (0, -15), f"ended by SIGTERM: {code}"


@pytest.mark.timeout(120)
def test_logs_follow_waits_for_a_function_that_has_no_log_yet(server, lam):
    # The logs directory exists (other functions have run); this function's group does not yet.
    create(lam, "before-follow")
    say(lam, "before-follow", "make the logs dir")
    follower = Follower(server, "later")
    try:
        create(lam, "later")
        tag = uuid.uuid4().hex[:8]
        say(lam, "later", f"first words {tag}")
        follower.wait_for(f"first words {tag}")
    finally:
        follower.stop()
