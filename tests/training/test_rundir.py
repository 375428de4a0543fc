"""fdiff.training.rundir: the attempts.log line format round-trips; foreign lines are skipped."""

from fdiff.training import rundir


def test_attempt_lines_round_trip(tmp_path):
    a = rundir.Attempt(2, "n1", "27", "preempted", "35")
    rundir.append_attempt(tmp_path, rundir.Attempt(1, "n1", "26", "preempted", "none"))
    rundir.append_attempt(tmp_path, a)
    (tmp_path / rundir.ATTEMPTS).open("a").write("garbage line\n")
    got = rundir.read_attempts(tmp_path)
    assert [x.number for x in got] == [1, 2] and got[1] == a
    assert rundir.parse_attempt(a.line()) == a
    assert rundir.parse_attempt("attempt=3 host=h job=none complete") is None


def test_preempted_marker(tmp_path):
    assert rundir.read_preempted(tmp_path) is None
    (tmp_path / rundir.PREEMPTED).write_text("12\n")
    assert rundir.read_preempted(tmp_path) == 12
