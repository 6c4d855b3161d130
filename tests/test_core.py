import os

import pytest

import pyengine
from conftest import run_python


def test_info_names_the_instruction_set_in_use():
    info = pyengine.info()
    assert info["isa"] in info["isa_compiled"]
    assert info["version"] == pyengine.__version__ != ""
    assert info["cache_l1d"] > 0 and info["cache_l2"] >= info["cache_l1d"]


def test_forced_isa_is_used():
    forced = os.environ.get("PYENGINE_ISA")
    if forced:
        assert pyengine.info()["isa"] == forced


def _import_with_isa(value):
    return run_python(["-c", "import pyengine; print(pyengine.info()['isa'])"], env={"PYENGINE_ISA": value})


def test_scalar_isa_can_always_be_forced():
    result = _import_with_isa("scalar")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "scalar"


@pytest.mark.parametrize("value,message", [("sse9", "unknown instruction set"), ("neon", "no neon kernels")])
def test_unavailable_isa_fails_clearly_at_import(value, message):
    result = _import_with_isa(value)
    assert result.returncode != 0
    assert f"PYENGINE_ISA={value}" in result.stderr and message in result.stderr


def test_thread_count_round_trips(threads):
    threads(3)
    assert pyengine.get_num_threads() == 3
    with pytest.raises(ValueError, match="set_num_threads"):
        pyengine.set_num_threads(0)


def test_info_command_prints_the_isa():
    result = run_python(["-m", "pyengine", "info"])
    assert result.returncode == 0, result.stderr
    assert "isa: " + pyengine.info()["isa"] in result.stdout
