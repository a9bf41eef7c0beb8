"""assignment.toml: a wrong key or value names the file, the key and the fix."""

import pytest

from autograder.errors import PackageError
from autograder.package import load_assignment


def edit(package, old, new):
    path = package / "assignment.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_example_loads(example_package):
    assignment = load_assignment(example_package)
    assert [p.name for p in assignment.parts] == ["add", "softmax", "rowsum_perf"]
    assert assignment.resources.gpus == 0
    assert assignment.perf["rowsum_4096"].credit(0.5) == 1.0
    assert assignment.perf["rowsum_4096"].credit(0.05) == 0.0
    assert assignment.tolerances["float32"] == (1.3e-6, 1e-5)


@pytest.mark.parametrize("old, new, message", [
    ("memory_mb = 4096", "memory_mbs = 4096", r"resources.memory_mbs: unknown key. Fix: did you mean 'memory_mb'\?"),
    ("memory_mb = 4096", 'memory_mb = "lots"', r"resources.memory_mb: expected an integer, got str"),
    ('visibility = "visible"', 'visibility = "sometimes"', r"parts\[0\].visibility: 'sometimes' is not allowed"),
    ("points = 2\n", "", r"parts\[0\].points: missing"),
    ('parts = ["softmax"]', 'parts = ["softmaxx"]', r"forbidden\[0\].parts: no part named 'softmaxx'"),
    ("full_credit_ratio = 0.5", "full_credit_ratio = 0.01", r"zero_credit_ratio: must be below full_credit_ratio"),
    ("schema = 1", "schema = 2", r"schema: version 2 is not supported"),
    ("gpus = 0", "gpus = -1", r"resources.gpus: -1 is below the minimum"),
])
def test_wrong_keys_and_values_name_file_key_and_fix(example_package, old, new, message):
    edit(example_package, old, new)
    with pytest.raises(PackageError, match=message) as error:
        load_assignment(example_package)
    assert str(example_package / "assignment.toml") in str(error.value)
    assert "Fix:" in str(error.value)


def test_invalid_toml_syntax(example_package):
    edit(example_package, "schema = 1", "schema = = 1")
    with pytest.raises(PackageError, match="not valid TOML"):
        load_assignment(example_package)
