"""The benchmarks run end to end at tiny sizes (``--quick``) and report what each is for.

At these sizes the times mean nothing, so the tests check what a timing must come with: every
section each benchmark writes is in the rendered RESULTS.md (title, table, the machine it ran
on), every comparison row has two positive times and their ratio, and the results that were
timed agree with the peer's as the benchmark says they must (same parameters, same losses,
same best α, objectives within tolerance). Two representative benchmarks run in the default
suite; the rest (each a minute or more of compilation on 2 cores) with JAXL2_SLOW=1 /
``make test-all``. The selected benchmarks start together, a few at a time (their times mean
nothing here anyway; see ``tests/_concurrent.py``).
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import available
from benchmarks._harness import Row, Section, write_sections
from tests._concurrent import Children, selected

ROOT = Path(__file__).resolve().parents[1]
_DEFAULT = {"transforms", "trainer"}
_UNITS = {"µs": 1e-6, "ms": 1e-3, "s": 1.0}


# ----------------------------------------------------------------------------- reading RESULTS.md


def _seconds(cell: str) -> float:
    match = re.fullmatch(r"([\d.]+) (µs|ms|s)", cell.strip())
    assert match, f"not a time: {cell!r}"
    return float(match[1]) * _UNITS[match[2]]


def parse_results(text: str) -> dict[str, dict]:
    """{section name: {"title", "rows", "notes", "body"}} of a RESULTS.md written by the harness.

    ``rows`` are dicts (case, ours, peer_name, peer, speedup, target, met) with times in seconds;
    ``notes`` maps a case to its note (also a row's ``"note"``).
    """
    sections = {}
    for name, body in re.findall(r"<!-- begin:(\w+) -->\n(.*?)<!-- end:\1 -->", text, re.S):
        title = re.match(r"## (.+)\n", body)
        assert title, f"section {name} has no title"
        rows = []
        for line in body.splitlines():
            if not line.startswith("| ") or line.startswith("| case |"):
                continue
            cells = line[2:-2].split(" | ")
            assert len(cells) == 7, f"{name}: malformed row {line!r}"
            case, ours, peer_name, peer, speedup, target, met = cells
            assert speedup.endswith("×"), f"{name}: no speed-up in {line!r}"
            rows.append(
                {
                    "case": case,
                    "ours": _seconds(ours),
                    "peer_name": peer_name,
                    "peer": _seconds(peer),
                    "speedup": float(speedup[:-1]),
                    "target": target,
                    "met": met.strip(),
                }
            )
        # the notes follow the table in row order; rows may share a case (glm_sparse's two peers)
        lines, notes = body.splitlines(), {}
        for row in rows:
            prefix = f"- {row['case']}: "
            at = next((i for i, line in enumerate(lines) if line.startswith(prefix)), None)
            if at is not None:
                row["note"] = lines.pop(at)[len(prefix) :]
                notes.setdefault(row["case"], row["note"])
        sections[name] = {"title": title[1], "rows": rows, "notes": notes, "body": body}
    return sections


def _check_common(name: str, section: dict) -> None:
    body = section["body"]
    assert re.search(r"Measured \d{4}-\d\d-\d\d \d\d:\d\d UTC on:\n- machine: ", body), name
    assert "- versions: jax " in body and "- JAX backend: " in body, name
    for row in section["rows"]:
        assert row["ours"] > 0 and row["peer"] > 0, row
        assert math.isfinite(row["speedup"]) and row["speedup"] > 0, row
        # the printed ratio is the printed times' ratio (up to their rounding)
        assert row["speedup"] == pytest.approx(row["peer"] / row["ours"], rel=0.05, abs=0.01), row
        assert row["met"] in ("", "yes", "**no**"), row


def _number(pattern: str, text: str, group: int = 1) -> float:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in {text!r}"
    return float(match[group])


# ----------------------------------------------------------------------------- what each reports


def _check_transforms(sections: dict) -> None:
    rows = {r["case"]: r for r in sections["transforms"]["rows"]}
    assert {"adamw (no mask)", "coupled(adam)", "adamw, mode=schedule, cosine lr"} <= set(rows)
    for case, note in sections["transforms"]["notes"].items():
        ratio = _number(r"time ratio ([\d.]+)", note)
        # the table prints the speed-up to 2 decimals: 1/ratio rounds to it (a quick run on a
        # busy machine gave ratio 13.457, printed 0.07×, whose inverse is 14.3)
        assert 1 / ratio == pytest.approx(rows[case]["speedup"], rel=0.02, abs=0.0051), case
        diff = _number(r"differ from .+?'s by ([\d.e+-]+) of their largest value", note)
        if "(same update rule)" in note:  # optax's rule: the params agree to rounding
            assert diff <= 1e-6, (case, note)
        else:
            assert "(a different rule by design)" in note, note
        assert re.search(r"compiled steps: \d+ fused array ops \(jaxl2\) and \d+ \(optax\)", note)
    assert {
        n for n, r in rows.items() if "(same update rule)" in sections["transforms"]["notes"][n]
    } == {
        "adamw (no mask)",
        "adamw, mask=weights",
        "coupled(adam)",
    }


def _check_decay_methods(sections: dict) -> None:
    rows = {r["case"]: r for r in sections["decay_methods"]["rows"]}
    assert any("adamcpr" in c for c in rows) and any("spectral_decay" in c for c in rows)
    assert any("adams" in c for c in rows) and any("adamwn" in c for c in rows)
    for case, note in sections["decay_methods"]["notes"].items():
        ratio = _number(r"time ratio ([\d.]+)", note)
        q1 = _number(r"interquartile ([\d.]+)", note)
        q3 = _number(r"interquartile [\d.]+–([\d.]+)", note)
        # the median per-round ratio lies in its interquartile range, near the ratio of medians
        assert 0 < q1 <= ratio <= q3, (case, note)
        assert ratio == pytest.approx(1 / rows[case]["speedup"], rel=0.5), case
        # the deterministic figures next to the time: bytes accessed (XLA's cost analysis) and,
        # but for Muon, the exact rule's floor over AdamW's 28 B per parameter
        assert _number(r"bytes accessed ratio ([\d.]+)", note) > 0, (case, note)
        assert re.search(r"compiled steps: \d+ fused array ops and \d+ scalar ops", note)
        assert re.search(r"page faults per step (\d+|nan) against (\d+|nan), compiled ", note)
        assert re.search(r"temporaries [\d.]+ MB against [\d.]+ MB", note), (case, note)
        if "muon" in case:
            assert "floor not computed" in note, note
            continue
        floor = _number(r"exact rule's floor ([\d.]+)", note)
        assert floor >= 1.0, (case, note)
        if "cautious" in case or "corrected" in case:  # no reduction: AdamW's bytes exactly
            assert floor == 1.0, (case, note)
            assert _number(r"bytes accessed ratio ([\d.]+)", note) <= 1.05, (case, note)


def _check_trainer(sections: dict) -> None:
    section = sections["trainer"]
    step = next(r for r in section["rows"] if r["case"].startswith("trainer.step"))
    # the hand-written jit(vmap(step)) and the trainer computed the same losses
    note = section["notes"][step["case"]]
    assert _number(r"same losses to ([\d.e+-]+)", note) <= 1e-5
    # XLA's bytes accessed per step of both programs (deterministic evidence next to the times)
    ours = _number(r"XLA bytes accessed per step ([\d.]+) MB", note)
    peer = _number(r"XLA bytes accessed per step [\d.]+ MB against ([\d.]+) MB", note)
    assert ours > 0 and peer > 0
    rate = _number(r"FLOP rate of trainer.step: ([\d.]+) GFLOP/s", section["body"])
    peak = _number(r"matmul peak of ([\d.]+) GFLOP/s", section["body"])
    assert 0 < rate and 0 < peak
    for kind in ("train_sweep (vmap)", "SweepTrainer loop"):
        cold = _number(rf"README example, {re.escape(kind)}: cold ([\d.]+) s", section["body"])
        warm = _number(
            rf"README example, {re.escape(kind)}: cold [\d.]+ s \((\d+) XLA compilations, "
            rf"[\d.]+ s\), warm ([\d.]+) s",
            section["body"],
            group=2,
        )
        compilations = _number(
            rf"README example, {re.escape(kind)}: cold [\d.]+ s \((\d+) XLA compilations",
            section["body"],
        )
        assert cold > 0 and warm >= 0 and compilations >= 1
    torch_rows = [r for r in section["rows"] if "torch.func" in r["peer_name"]]
    assert [r["case"].rsplit(", ", 1)[-1] for r in torch_rows] in (
        [],  # torch not installed: the section says so
        ["cold (first call in a fresh process)", "warm"],
    )
    if not torch_rows:
        assert "torch.func is not installed here" in section["body"]


def _check_ridge(sections: dict) -> None:
    for name in ("ridge_path", "ridge_dual"):
        rows = sections[name]["rows"]
        assert {r["case"] for r in rows} >= {"float32, vs RidgeCV", "float64, vs RidgeCV"}
        for r in rows:
            if r["case"].endswith("vs RidgeCV"):  # ridge_path picked RidgeCV's α
                assert sections[name]["notes"][r["case"]] == "same best α: True", r
    vmap = sections["ridge_vmap"]
    assert {r["case"] for r in vmap["rows"]} == {"float32", "float64"}
    for case, note in vmap["notes"].items():
        assert _number(r"max \|Δcoef\| / max \|coef\| = ([\d.e+-]+)", note) <= 1e-3, case


def _check_glm(sections: dict) -> None:
    for case, note in sections["glm_logistic"]["notes"].items():
        # jaxl2's objective is at most scikit-learn's (it may be lower), to 1e-9 relative
        assert _number(r"\(ours − sklearn\)/sklearn: max ([\d.e+-]+)", note) <= 1e-9, case
        assert "all converged: True" in note, case
    for case, note in sections["glm_enet"]["notes"].items():
        ours = _number(r"ours ([\d.e+-]+), sklearn", note)
        sk = _number(r"sklearn ([\d.e+-]+); zero pattern", note)
        assert ours <= sk * (1 + 1e-2), case  # an equal duality gap (printed to 3 digits)
        assert _number(r"zero pattern agreement ([\d.]+)", note) >= 0.9, case
    sparse = sections["glm_sparse"]["rows"]
    assert [r["peer_name"].split(",")[0] for r in sparse] == [
        "LogisticRegression(lbfgs",
        "LogisticRegression(liblinear",
    ]
    for r in sparse:  # the same objective as each scikit-learn solver reached
        assert abs(_number(r"objective \(ours − sklearn\)/sklearn ([\d.e+-]+)", r["note"])) <= 1e-4


def _check_sweep(sections: dict) -> None:
    sweep = sections["sweep"]
    auto = [r for r in sweep["rows"] if "auto vs per-member jitted loop" in r["case"]]
    assert auto
    for r in auto:  # auto returned the loop's numbers
        assert _number(r"max \|auto − loop\| = ([\d.e+-]+)", sweep["notes"][r["case"]]) <= 1e-4
    sharded = re.search(
        r"max \|sharded − unsharded\| = ([\d.e+-]+) \(vmap\), ([\d.e+-]+) \(map\), "
        r"([\d.e+-]+) \(auto\)",
        sweep["body"],
    )
    assert sharded and all(float(v) <= 1e-5 for v in sharded.groups())
    assert re.search(r"K = \d+: [\d.]+ MB; K = \d+: [\d.]+ MB", sweep["body"])
    cold = sections["sweep_cold"]
    assert any("no caches" in r["case"] for r in cold["rows"])
    for case, note in cold["notes"].items():
        if "no caches" in case:
            assert re.search(r"auto chose (vmap|loop|map|chunked)\b", note), note


def _check_many_targets(sections: dict) -> None:
    many = sections["many_targets"]
    for case, note in many["notes"].items():
        if case.startswith("exact LOO vs") and "floor" not in case:  # the floor has no R²
            ours, peer = (float(v) for v in re.search(r"R² ([-\d.]+) vs ([-\d.]+)", note).groups())
            assert ours >= peer - 0.05, (case, note)  # per-target α does as well on held-out data
    assert any(r["case"] == "GCV vs exact LOO" for r in many["rows"])
    banded = sections["many_targets_banded"]["body"]
    for method in ("gradient", "random"):
        assert _number(rf"- jaxl2 {method}: [\d.]+ s, held-out R² mean ([-\d.]+)", banded) > 0


def _check_population(sections: dict) -> None:
    body = sections["population"]["body"]
    full = _number(
        r"Full sweep \(train_sweep\), seed 0: K = \d+, \d+ steps of batch \d+: (\d+) member", body
    )
    runs = re.findall(
        r"- (Successive halving, min_steps R/27|Successive halving, min_steps R/9|Hyperband, "
        r"min_steps R/27) \(eta 3\), seed \d+: (\d+) member-steps",
        body,
    )
    assert {name for name, _ in runs} == {
        "Successive halving, min_steps R/27",
        "Successive halving, min_steps R/9",
        "Hyperband, min_steps R/27",
    }
    for _, steps in runs:
        assert 0 < int(steps) < full  # fewer member-steps than the full sweep
    # a survivor follows its trajectory in the same seed's full sweep: the same final loss
    # at --quick sizes (27 steps; over 1350 steps float32 rounding grows to ~1e-2, see the text)
    for diff in re.findall(r"max relative difference (\S+)\)", body):
        assert float(diff) < 1e-5, diff
    assert len(re.findall(r"top 5 % in \d+ of \d+ seeds, of the \d+-seed mean", body)) == 3
    # compute, wall and CPU time of both, in the same run
    assert re.search(r"member-steps, [\d.]+ s \([\d.]+ s CPU\)", body)
    assert re.search(r"of the full sweep\), [\d.]+ s \([\d.]+×\), [\d.]+ s CPU", body)
    assert re.search(r"Seed noise \(initialization and shuffling\) across the \d+ full", body)
    # the noise floor: a setting's seed-to-seed spread beside the spread of the top 5 %
    assert _number(r"varies between seeds by (\d+\.\d+) \(standard deviation", body) >= 0
    assert re.search(r"(Where the full sweeps' top 5 % were eliminated|No member of any)", body)
    best = _number(r"PBT, .*?best val loss (\d+\.\d+) against", body)
    replay = _number(r"replayed in a plain K = 1 run: (\d+\.\d+)", body)
    # the schedule PBT found, replayed alone, reaches the loss PBT recorded (printed to 4 digits)
    assert replay == pytest.approx(best, rel=1e-3, abs=2e-4)


def _check_lapack_map(sections: dict) -> None:
    rows = sections["lapack_map"]["rows"]
    assert {r["peer_name"] for r in rows} == {"jax.vmap (batched LAPACK)"}
    assert any("ridge" in r["case"] for r in rows) and any("tikhonov" in r["case"] for r in rows)


SECTIONS = {
    "transforms": (("transforms",), _check_transforms),
    "decay_methods": (("decay_methods",), _check_decay_methods),
    "trainer": (("trainer",), _check_trainer),
    "ridge": (("ridge_path", "ridge_dual", "ridge_vmap"), _check_ridge),
    "glm": (("glm_logistic", "glm_enet", "glm_sparse"), _check_glm),
    "sweep": (("sweep", "sweep_cold"), _check_sweep),
    "many_targets": (("many_targets", "many_targets_banded"), _check_many_targets),
    "population": (("population",), _check_population),
    "lapack_map": (("lapack_map",), _check_lapack_map),
}


# ----------------------------------------------------------------------------- tests


def test_every_benchmark_has_checks():
    assert set(SECTIONS) == set(available())


def test_results_rendering_round_trips(tmp_path):
    """write_sections renders a section parse_results reads back, and replaces it on rewrite."""
    out = tmp_path / "RESULTS.md"
    rows = [Row("a case", 2e-3, 5e-3, "peer", target="≥ 2×", passed=True, note="same: True")]
    write_sections([Section("demo", "A demo", "intro", rows, ["- a line"])], out)
    write_sections([Section("other", "Other", rows=rows[:0], lines=["- x"])], out)
    rows[0].ours = 1e-3
    write_sections([Section("demo", "A demo", "intro", rows, ["- a line"])], out)
    text = out.read_text()
    assert text.startswith("# jaxl2 benchmark results")
    assert text.count("<!-- begin:demo -->") == 1 and "<!-- begin:other -->" in text
    demo = parse_results(text)["demo"]
    _check_common("demo", demo)
    assert demo["title"] == "A demo"
    assert demo["rows"] == [
        {
            "note": "same: True",
            "case": "a case",
            "ours": 1e-3,
            "peer_name": "peer",
            "peer": 5e-3,
            "speedup": 5.0,
            "target": "≥ 2×",
            "met": "yes",
        }
    ]
    assert demo["notes"] == {"a case": "same: True"}
    assert "intro\n" in demo["body"] and "- a line\n" in demo["body"]


@pytest.fixture(scope="module")
def reported(request, tmp_path_factory):
    """Runs the selected benchmarks at --quick sizes, a few at a time; each writes its own file."""
    out = tmp_path_factory.mktemp("results")

    def command(name):
        args = [sys.executable, "-m", "benchmarks", name, "--quick", "--output", str(out / name)]
        return {"args": args, "cwd": ROOT, "capture_output": True, "text": True, "timeout": 900}

    children = Children(selected(request, "name"), command)
    yield lambda name: (children.result(name), out / name)
    children.close()


@pytest.mark.parametrize(
    "name",
    [n if n in _DEFAULT else pytest.param(n, marks=pytest.mark.slow) for n in available()],
)
def test_benchmark_reports_quick(name, reported):
    proc, out = reported(name)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    sections = parse_results(out.read_text())
    expected, check = SECTIONS[name]
    assert set(sections) == set(expected)
    for section_name, section in sections.items():
        _check_common(section_name, section)
        assert section["rows"] or section_name == "population", section_name
    check(sections)
