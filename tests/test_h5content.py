"""tenas_kit.h5content on real HDF5 files: the comparison every determinism and resume test rests on.

If ``differences`` reported nothing for files that differ, those tests would pass whatever the code
did; so each kind of difference a run file can have is made here on purpose and must be reported,
by name, and the fields that legitimately change between identical runs must not be.
"""

import h5py
import numpy as np

from tenas_kit.h5content import content, differences


def write(path, change=None):
    """A small file shaped like a run file; ``change(h5)`` edits it before it is closed."""
    with h5py.File(path, "w") as h5:
        h5.attrs.update(format="tenas-kit run", created="2024-01-01T00:00:00", rounds_done=2, interrupted=False)
        for i in range(2):
            group = h5.create_group(f"rounds/{i:04d}")
            group.attrs["seconds"] = 1.5 + i
            group["labels"] = np.array([b"cell/e0/a", b"cell/e0/b"])
            group["values"] = np.array([[1.0, np.nan], [2.0, 3.0]])
            group["removed"] = np.array([True, False])
        h5["timing/seconds"] = np.array([0.1, 0.2])  # a volatile dataset, by its name
        if change:
            change(h5)
    return path


def diff(tmp_path, change_a=None, change_b=None):
    return differences(content(write(tmp_path / "a.h5", change_a)), content(write(tmp_path / "b.h5", change_b)))


def test_identical_files_have_no_differences(tmp_path):
    assert diff(tmp_path) == []


def test_content_holds_every_dataset_and_attribute_by_path(tmp_path):
    found = content(write(tmp_path / "a.h5"))
    assert set(found) == {
        "/@format", "/@rounds_done", "/@interrupted",
        "/rounds/0000/labels", "/rounds/0000/values", "/rounds/0000/removed",
        "/rounds/0001/labels", "/rounds/0001/values", "/rounds/0001/removed",
    }  # no "created", no "seconds" attribute or dataset: they are wall-clock
    np.testing.assert_array_equal(found["/rounds/0001/values"], [[1.0, np.nan], [2.0, 3.0]])


def test_a_changed_dataset_value_is_named(tmp_path):
    def change(h5):
        h5["rounds/0001/values"][1, 1] = 3.0000000000000004  # one ulp: bit-for-bit means bit for bit

    assert diff(tmp_path, change_b=change) == ["/rounds/0001/values"]


def test_a_changed_bool_and_string_dataset_are_named(tmp_path):
    def change(h5):
        h5["rounds/0000/removed"][...] = [False, True]
        h5["rounds/0001/labels"][0] = b"cell/e0/c"

    assert diff(tmp_path, change_b=change) == ["/rounds/0000/removed", "/rounds/0001/labels"]


def test_a_changed_attribute_is_named(tmp_path):
    def change(h5):
        h5.attrs["interrupted"] = True

    assert diff(tmp_path, change_b=change) == ["/@interrupted"]


def test_a_dataset_or_attribute_on_one_side_only_is_named_either_way(tmp_path):
    def extra(h5):
        h5["rounds/0001/extra"] = np.zeros(2)
        h5["rounds/0000"].attrs["note"] = "x"

    expected = ["/rounds/0000@note", "/rounds/0001/extra"]
    assert diff(tmp_path, change_b=extra) == expected  # b has more
    assert diff(tmp_path, change_a=extra) == expected  # a has more


def test_a_missing_round_is_named(tmp_path):
    def drop(h5):
        del h5["rounds/0001"]

    assert diff(tmp_path, change_b=drop) == ["/rounds/0001/labels", "/rounds/0001/removed", "/rounds/0001/values"]


def test_same_values_of_another_shape_or_type_differ(tmp_path):
    def reshape(h5):
        del h5["rounds/0000/values"]
        h5["rounds/0000/values"] = np.array([1.0, np.nan, 2.0, 3.0])

    def retype(h5):
        del h5["rounds/0000/removed"]
        h5["rounds/0000/removed"] = np.array([1, 0])  # numerically equal to [True, False]; not the same record

    assert diff(tmp_path, change_b=reshape) == ["/rounds/0000/values"]
    assert diff(tmp_path, change_b=retype) == ["/rounds/0000/removed"]


def test_volatile_fields_are_ignored_wherever_they_are(tmp_path):
    def clock(h5):
        h5.attrs["created"] = "2099-12-31T23:59:59"
        h5["rounds/0000"].attrs["seconds"] = 99.0
        h5["timing/seconds"][...] = [7.0, 8.0]

    assert diff(tmp_path, change_b=clock) == []
    # ...and only those: a caller naming no volatile field sees the clock change too.
    a, b = write(tmp_path / "a.h5"), write(tmp_path / "b.h5", clock)
    assert differences(content(a, volatile=frozenset()), content(b, volatile=frozenset())) == [
        "/@created", "/rounds/0000@seconds", "/timing/seconds"]


def test_nan_equals_nan_but_not_a_number(tmp_path):
    def fill(h5):
        h5["rounds/0000/values"][0, 1] = 0.0  # where a has NaN

    assert diff(tmp_path) == []  # both sides hold NaN at [0, 1]: equal
    assert diff(tmp_path, change_b=fill) == ["/rounds/0000/values"]
    nan_attr = lambda h5: h5.attrs.__setitem__("score", np.nan)  # noqa: E731
    one_attr = lambda h5: h5.attrs.__setitem__("score", 1.0)  # noqa: E731
    assert diff(tmp_path, nan_attr, nan_attr) == []
    assert diff(tmp_path, nan_attr, one_attr) == ["/@score"]


def test_differences_is_symmetric_on_plain_dicts():
    a = {"/x": np.array([1.0, np.nan]), "/y@k": 1}
    b = {"/x": np.array([1.0, 2.0]), "/z": np.array([0])}
    assert differences(a, b) == differences(b, a) == ["/x", "/y@k", "/z"]
