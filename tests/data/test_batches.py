"""`Batches`: each example once per epoch (counted), the orders recomputed here from
`default_rng` by the rules written out in the tests, bucket widths against a brute-force
search, padding against the unbucketed batches, and errors that name the argument."""

import math

import numpy as np
import pytest

from jaxlstm.data.batches import Batches, allowed_widths, bucket_width

N, B, SEED = 23, 5, 7


def ids():
    return {"id": np.arange(N)}


def smallest_width(length, minimum, maximum=None):
    """Brute force: the first of minimum * 2^k, k = 0, 1, ..., that is >= length, then the cap."""
    for k in range(64):
        if minimum * 2 ** k >= length:
            return minimum * 2 ** k if maximum is None else min(minimum * 2 ** k, maximum)


def ragged(n, rng, longest=40, pad=-1):
    """(tokens (n, longest) with row i = 1000 * i + t at t < lengths[i] and `pad` after,
    lengths (n,)) with lengths spread over 1..longest."""
    lengths = np.minimum(rng.geometric(0.08, n), longest)
    tokens = np.full((n, longest), pad)
    for i, n_i in enumerate(lengths):
        tokens[i, :n_i] = 1000 * i + np.arange(n_i)
    return tokens, lengths


@pytest.mark.parametrize("length, minimum, maximum, width", [
    (0, 16, None, 16), (1, 16, None, 16), (16, 16, None, 16), (17, 16, None, 32),
    (100, 16, None, 128), (100, 16, 50, 50), (5, 16, 4, 4), (65, 64, None, 128), (271, 64, None, 512)])
def test_bucket_width_by_hand(length, minimum, maximum, width):
    assert bucket_width(length, minimum, maximum) == width
    assert allowed_widths(8, 50) == [8, 16, 32, 50]


@pytest.mark.parametrize("bucket", [False, True])
def test_every_example_exactly_once_per_epoch(bucket):
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 30, N)
    extra = dict(bucket=True, lengths=lengths, min_width=4, pool=2) if bucket else {}
    batches = Batches(ids(), B, seed=SEED, **extra)
    assert len(batches) == N // B == 4
    for epoch in range(3):
        steps = range(epoch * len(batches), (epoch + 1) * len(batches))
        assert {batches.epoch(s) for s in steps} == {epoch}
        seen = np.concatenate([batches(s)["id"] for s in steps])
        counts = np.bincount(seen, minlength=N)
        # the N mod B examples at the end of this epoch's permutation sit the epoch out
        perm = np.random.default_rng([SEED, epoch]).permutation(N)
        assert set(np.flatnonzero(counts == 0)) == set(perm[N - N % B:])
        assert counts.max() == 1 and counts.sum() == N - N % B
        if not bucket:  # the permutation itself, B at a time
            np.testing.assert_array_equal(seen, perm[:N - N % B])


def test_without_drop_last_the_last_batch_is_short_and_nothing_is_left_out():
    batches = Batches(ids(), B, seed=SEED, drop_last=False)
    assert len(batches) == math.ceil(N / B) == 5
    sizes = [len(batches(s)["id"]) for s in range(5)]
    assert sizes == [5, 5, 5, 5, 3]
    seen = np.concatenate([batches(s)["id"] for s in range(5, 10)])   # epoch 1
    np.testing.assert_array_equal(seen, np.random.default_rng([SEED, 1]).permutation(N))
    lengths = np.random.default_rng(0).integers(1, 30, N)
    bucketed = Batches(ids(), B, seed=SEED, drop_last=False, bucket=True, lengths=lengths,
                       min_width=4, pool=2)
    rows = [bucketed(s)["id"] for s in range(5, 10)]
    assert sorted(map(len, rows)) == [3, 5, 5, 5, 5]
    assert sorted(np.concatenate(rows)) == list(range(N))


def test_batches_are_a_pure_function_of_seed_and_step():
    a, b = Batches(ids(), B, seed=SEED), Batches(ids(), B, seed=SEED)
    steps = [9, 0, 3, 9, 17, 1]                                      # out of order, repeated
    first = [a(s)["id"] for s in steps]
    for s, got in zip(steps, first):
        np.testing.assert_array_equal(got, b(s)["id"])
    epoch0 = np.concatenate([a(s)["id"] for s in range(4)])
    epoch1 = np.concatenate([a(s)["id"] for s in range(4, 8)])
    assert not np.array_equal(epoch0, epoch1)                        # a new order every epoch
    other = Batches(ids(), B, seed=SEED + 1)
    assert not np.array_equal(epoch0, np.concatenate([other(s)["id"] for s in range(4)]))


def test_replacement_draws_rows_from_the_steps_generator():
    data = {"x": np.arange(N) * 10.0, "y": np.arange(N)[:, None] * np.ones((1, 3))}
    batches = Batches(data, 8, seed=SEED, order="replacement")       # B > N / 3: repeats expected
    assert len(batches) == math.ceil(N / 8)
    for step in (0, 1, 250):
        rows = np.random.default_rng([SEED, step]).integers(0, N, 8)
        got = batches(step)
        np.testing.assert_array_equal(got["x"], rows * 10.0)
        np.testing.assert_array_equal(got["y"], data["y"][rows])
    big = Batches(ids(), 40, order="replacement")                    # B > N is fine with replacement
    assert len(big(0)["id"]) == 40


def test_bucketed_replacement_draws_one_length_group_like_the_rule():
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 200, N)
    batches = Batches(ids(), B, seed=SEED, order="replacement", bucket=True, lengths=lengths,
                      min_width=16)
    width = [smallest_width(n, 16) for n in lengths]
    for step in range(20):
        gen = np.random.default_rng([SEED, step])
        anchor = int(gen.integers(0, N))
        members = [i for i in range(N) if width[i] == width[anchor]]
        expected = np.array(members)[gen.integers(0, len(members), B)]
        np.testing.assert_array_equal(batches(step)["id"], expected)


def test_bucketed_replacement_draws_every_example_with_probability_one_over_n():
    lengths = np.array([4, 64, 9, 299, 128, 65])                     # widths 64, 64, 64, 512, 128, 128
    batches = Batches({"id": np.arange(6)}, 4, order="replacement", bucket=True, lengths=lengths,
                      min_width=64)
    counts = np.zeros(6)
    for step in range(3000):
        rows = batches(step)["id"]
        assert len({smallest_width(lengths[i], 64) for i in rows}) == 1
        counts += np.bincount(rows, minlength=6)
    # a batch's draws are correlated through its group (the lone 299 comes 4 at a time);
    # std of a share ~0.007: allow 3 std
    np.testing.assert_allclose(counts / counts.sum(), np.full(6, 1 / 6), atol=0.02)


@pytest.mark.parametrize("order", ["epochs", "replacement"])
def test_bucket_widths_come_from_the_allowed_set_and_padding_holds_the_pad_value(order):
    tokens, lengths = ragged(200, np.random.default_rng(2), longest=40)
    batches = Batches({"tokens": tokens, "lengths": lengths, "labels": np.arange(200)}, 8,
                      seed=3, order=order, bucket=True, lengths=lengths, min_width=4,
                      time_keys=("tokens",))
    allowed = {4, 8, 16, 32, 40}
    assert set(batches.widths) == allowed
    for step in range(60):
        batch = batches(step)
        width = batch["tokens"].shape[1]
        assert width in allowed and width >= batch["lengths"].max()
        assert width == smallest_width(batch["lengths"].max(), 4, 40)
        for row, label, n in zip(batch["tokens"], batch["labels"], batch["lengths"]):
            np.testing.assert_array_equal(row[:n], 1000 * label + np.arange(n))
            assert (row[n:] == -1).all()


def test_bucketing_pads_less_than_random_batches():
    tokens, lengths = ragged(1000, np.random.default_rng(3), longest=64)

    def padding_fraction(**kwargs):
        batches = Batches({"tokens": tokens, "lengths": lengths}, 16, seed=0, lengths=lengths,
                          min_width=4, time_keys=("tokens",), **kwargs)
        padded = real = 0
        for step in range(3 * len(batches)):
            batch = batches(step)
            padded += batch["tokens"].size
            real += batch["lengths"].sum()
        return 1 - real / padded

    plain, bucketed = padding_fraction(), padding_fraction(bucket=True)
    grouped = padding_fraction(bucket=True, order="replacement")
    assert bucketed < 0.5 * plain and grouped < 0.5 * plain


def test_a_sequence_of_examples_goes_through_collate_with_the_steps_generator():
    rolls = [np.ones((n, 2)) * i for i, n in enumerate([3, 7, 2, 9, 5, 4])]
    lengths = np.array([len(r) for r in rolls])

    def collate(items, width, rng):
        out = np.zeros((len(items), width, 2))
        for j, r in enumerate(items):
            out[j, :len(r)] = r
        return {"x": out, "draw": rng.random()}

    epochs = Batches(rolls, 2, seed=SEED, lengths=lengths, min_width=2, collate=collate)
    batch = epochs(4)                                                # epoch 1, batch 1
    rows = np.random.default_rng([SEED, 1]).permutation(6)[2:4]
    assert batch["x"].shape[1] == smallest_width(lengths[rows].max(), 2)
    np.testing.assert_array_equal(batch["x"][:, 0, 0], rows)
    assert batch["draw"] == np.random.default_rng([SEED, 4, 1]).random()
    drawn = Batches(rolls, 2, seed=SEED, order="replacement", lengths=lengths, min_width=2,
                    collate=collate)(4)
    gen = np.random.default_rng([SEED, 4])
    rows = gen.integers(0, 6, 2)
    np.testing.assert_array_equal(drawn["x"][:, 0, 0], rows)
    assert drawn["draw"] == gen.random()                             # the same generator, continued


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(examples={"a": np.zeros(3), "b": np.zeros(4)}), ValueError,
     r"examples: all arrays must share the leading axis N, got a: 3, b: 4"),
    (dict(batch_size=30), ValueError,
     r"batch_size must be <= the number of examples N = 23 with order='epochs' and "
     r"drop_last=True .*got 30"),
    (dict(order="shuffle"), ValueError, r"order must be one of \['replacement', 'epochs'\], got 'shuffle'"),
    (dict(lengths=np.ones((23, 1), int)), ValueError, r"lengths must have shape \(N,\) = \(23,\), got \(23, 1\)"),
    (dict(lengths=np.ones(22, int)), ValueError, r"lengths must have shape \(N,\) = \(23,\), got \(22,\)"),
    (dict(lengths=np.ones(23)), TypeError, r"lengths must hold integers, got dtype float64"),
    (dict(lengths=-np.ones(23, int)), ValueError, r"lengths must be >= 0, got -1 at index 0"),
    (dict(bucket=True), ValueError, r"lengths \(N,\) = \(23,\) is required with bucket=True, got None"),
    (dict(bucket=True, lengths=np.ones(23, int)), ValueError, r"min_width is required with bucket=True"),
    (dict(min_width=4), ValueError, r"lengths \(N,\) = \(23,\) is required with min_width=4"),
    (dict(batch_size=0), ValueError, r"batch_size must be >= 1, got 0"),
    (dict(batch_size=2.0), TypeError, r"batch_size must be an int, got float \(2.0\)"),
    (dict(time_keys=("x",), lengths=np.ones(23, int), min_width=2), ValueError,
     r"time_keys names 'x', which is not one of the examples' arrays \['id'\]"),
    (dict(time_keys=("id",), lengths=np.ones(23, int), min_width=2), ValueError,
     r"time_keys: examples\['id'\] must have a time axis 1, got shape \(23,\)"),
    (dict(examples=[np.zeros(2)] * 3), ValueError, r"collate is required when examples is a sequence"),
    (dict(examples=np.zeros(3)), TypeError, r"examples must be a dict of arrays or a sequence"),
])
def test_bad_arguments_name_the_argument(kwargs, error, message):
    args = {"examples": ids(), "batch_size": B, **kwargs}
    with pytest.raises(error, match=message):
        Batches(args.pop("examples"), args.pop("batch_size"), **args)


def test_lengths_beyond_the_padded_width_and_bad_steps_are_errors():
    tokens, lengths = ragged(10, np.random.default_rng(4), longest=8)
    with pytest.raises(ValueError, match=r"lengths must be <= max_width = 8, got 9 at index 2"):
        Batches({"tokens": tokens}, 2, lengths=np.where(np.arange(10) == 2, 9, lengths),
                min_width=2, time_keys=("tokens",))
    with pytest.raises(ValueError, match=r"max_width must be <= the time axis of time_keys \(8\), got 9"):
        Batches({"tokens": tokens}, 2, lengths=lengths, min_width=2, max_width=9, time_keys=("tokens",))
    batches = Batches({"tokens": tokens}, 2)
    with pytest.raises(ValueError, match=r"step must be >= 0, got -1"):
        batches(-1)
    with pytest.raises(TypeError, match=r"step must be an int, got float \(1.5\)"):
        batches(1.5)
