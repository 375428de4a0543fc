"""Every verb refuses a bad number or path in one line with exit status 2, and writes nothing.

The cases come from the parser itself: each argument whose type is one of fdiff.cli.args's
(number, input, output) is driven by hypothesis with values out of its range, zero, negative,
empty and of the wrong kind, the verb's other required arguments being valid.
"""

from __future__ import annotations

import argparse
import contextlib
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fdiff.cli import build_parser, main


def _leaves(parser: argparse.ArgumentParser, prefix=()):
    """(argv prefix, parser) of every verb, nested verbs (``figure NAME``) included."""
    subs = [a for a in parser._actions if isinstance(a.choices, dict)]
    if not subs:
        yield list(prefix), parser
    for a in subs:
        for name, p in a.choices.items():
            yield from _leaves(p, (*prefix, name))


def _kind(action) -> str | None:
    return getattr(action.type, "kind", None)


VERBS = list(_leaves(build_parser()))
CASES = [
    pytest.param(prefix, a.dest, id=f"{' '.join(prefix)} {a.option_strings or a.dest}")
    for prefix, p in VERBS
    for a in p._actions
    if _kind(a)
]


def _action(prefix, dest):
    parser = dict((tuple(pf), p) for pf, p in VERBS)[tuple(prefix)]
    return parser, next(a for a in parser._actions if a.dest == dest)


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A directory with one existing file, one existing directory and room for outputs."""
    root = tmp_path_factory.mktemp("cli")
    (root / "in.h5").write_bytes(b"not read: parsing fails first")
    (root / "dir").mkdir()
    return root


def _valid(action, place: Path) -> list[str]:
    """A value the action accepts (the verb's other required arguments)."""
    kind = _kind(action)
    if action.choices is not None:
        value = str(next(iter(action.choices)))
    elif kind == "number":
        value = str(action.type.lo)
    elif kind == "input":
        value = str(place / ("dir" if action.type.__name__.endswith("directory") else "in.h5"))
    elif kind == "output":
        value = str(place / "out" / action.dest)
    elif action.type is not None and action.type.__name__.endswith("path"):
        value = f"a={place / 'in.h5'}"  # LABEL=FILE / KEY=PATH
    else:
        value = "x"
    n = action.nargs if isinstance(action.nargs, int) else 1
    return [value] * n


def _bad_numbers(t) -> st.SearchStrategy[str]:
    wrong_kind = st.sampled_from(["", " ", "abc", "1,2", "nan", "inf", "-inf", "0x10"])
    below = st.integers(max_value=-1) if t.integral else st.floats(max_value=-1e-9)
    lo = t.lo
    if t.integral:
        out = [st.integers(max_value=lo - 1).map(str), st.sampled_from(["1.5", "2e3"])]
        if t.hi is not None:
            out.append(st.integers(min_value=t.hi + 1).map(str))
    else:
        out = [st.floats(max_value=lo, exclude_max=not _open_low(t)).map(repr)]
        if t.hi is not None:
            out.append(st.floats(min_value=t.hi, allow_infinity=False).map(repr))
    return st.one_of(wrong_kind, below.map(str), *out).filter(lambda v: _refused(t, v))


def _open_low(t) -> bool:
    return "(" in t.__name__


def _refused(t, text: str) -> bool:
    """True when the value is outside the type's range (hypothesis may draw the boundary)."""
    try:
        t(text)
    except argparse.ArgumentTypeError:
        return True
    return False


def _bad_paths(t, place: Path) -> st.SearchStrategy[str]:
    names = st.text(st.characters(whitelist_categories=("Ll", "Nd")), min_size=1, max_size=8)
    bad = [st.sampled_from(["", " "])]
    if t.kind == "input":
        bad.append(names.map(lambda n: str(place / "missing" / n)))
        if t.__name__.endswith("file"):
            bad.append(st.just(str(place / "dir")))  # a directory where a file is expected
        else:
            bad.append(st.just(str(place / "in.h5")))
    else:
        bad.append(names.map(lambda n: str(place / "in.h5" / n)))  # under a file
        if t.__name__ == "a file to write":
            bad.append(st.just(str(place / "dir")))
        elif t.__name__ == "a directory to write":
            bad.append(st.just(str(place / "in.h5")))
    return st.one_of(*bad).filter(lambda v: _refused(t, v))


def _snapshot(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(("prefix", "dest"), CASES)
@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_bad_value_is_refused_in_one_line(prefix, dest, place, data):
    parser, action = _action(prefix, dest)
    t = action.type
    bad = data.draw(_bad_numbers(t) if t.kind == "number" else _bad_paths(t, place), label="bad")
    argv = list(prefix)
    for other in parser._actions:
        if other is action or not (other.required or not other.option_strings):
            continue
        if other.option_strings:
            argv += [other.option_strings[0], *_valid(other, place)]
    rest = _valid(action, place)[1:]
    if action.option_strings:
        argv += [f"{action.option_strings[0]}={bad}", *rest]
    else:
        argv += ["--", bad, *rest] if bad.startswith("-") else [bad, *rest]
    # positionals other than the driven one (e.g. `download NAME`) come first
    for other in parser._actions:
        if other is not action and not other.option_strings and other.dest != "help":
            argv[len(prefix) : len(prefix)] = _valid(other, place)
    before = _snapshot(place)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as e:
        main(argv)
    msg = err.getvalue()
    assert e.value.code == 2, (argv, msg)
    assert msg.count("\n") == 1 and msg.endswith("\n"), (argv, msg)
    label = "/".join(action.option_strings) or action.metavar or action.dest
    assert f"argument {label}:" in msg, (argv, msg)
    assert _snapshot(place) == before  # nothing written


def test_every_number_and_path_argument_is_validated():
    """No verb takes a raw int, float or Path: each goes through a checked type."""
    raw = [
        f"{' '.join(prefix)} {a.option_strings or a.dest}"
        for prefix, p in VERBS
        for a in p._actions
        if a.type in (int, float, Path)
    ]
    assert raw == []
    assert len(CASES) > 100  # every verb's numbers and paths are driven
    print(f"{len(CASES)} verb x argument cases over {len(VERBS)} verbs")


def test_library_error_names_the_flag(tmp_path, shapes16, factorized_file):
    """A value only the model can judge (t beyond its T) is refused by the library, which knows
    no flags; the CLI names the flag, in one line, and writes nothing."""
    model = factorized_file
    out = tmp_path / "seg.h5"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(["segment", "--model", str(model), "--data", str(shapes16), "--t", "5000",
                   "--out", str(out), "--device", "cpu"])  # fmt: skip
    assert rc == 2 and err.getvalue().count("\n") == 1, err.getvalue()
    assert "argument --t: 5000: expected 0..100" in err.getvalue()
    assert not out.exists()


# Numbers for which 0 means something: a seed, a first index, t = 0, "0: all", no workers...
ZERO_MEANS_SOMETHING = {
    "seed", "start", "t", "limit", "ref_limit", "fit_limit", "pixels_per_image", "workers",
    "train_per_class", "num_val", "num_test", "warmup", "sample_steps", "data_workers",
    "steps_between", "index", "indices", "classes", "label", "trajectory", "val_fraction",
    "test_fraction", "margin", "retries",
}  # fmt: skip


def _accepts(t, text: str) -> bool:
    return not _refused(t, text)


def test_zero_and_negatives_accepted_only_where_they_mean_something():
    """A count of 0 (steps, batch size, images) is refused; 0 passes where it is meaningful;
    no number is negative."""
    numbers = [(p, a) for p, parser in VERBS for a in parser._actions if _kind(a) == "number"]
    wrong = [
        f"{' '.join(p)} {a.option_strings or a.dest}: 0 {'accepted' if ok else 'refused'}"
        for p, a in numbers
        if (ok := _accepts(a.type, "0")) != (a.dest in ZERO_MEANS_SOMETHING)
        and a.dest != "number"  # `table N`: 1..7
    ]
    assert wrong == []
    assert not [a.dest for _, a in numbers if _accepts(a.type, "-1")]
