"""Conformance: every JAX transformation × every cell family × every backend and option
the dispatch can pick, each against an independent reference.

A *case* is a layer call over one sequence, `run(params, x (T, X), length) -> flat output`
(the outputs hs and every leaf of the final state, concatenated), and its reference:

- the fused LSTM backends (xla_fused, oneDNN at kernel sizes, padded batches, reverse,
  bidirectional stacks, float64) against the reference scan (`backend="reference"`),
  whose values are checked against the NumPy oracle `tests/core/reference.py`;
- every other path (the reference scan itself, projections, peepholes, the GRU, RNN,
  sLSTM, mLSTM, minLSTM, minGRU, ParaLSTM, ParaGRU in each mode) against finite differences
  (`jax.test_util.check_grads`, forward and reverse mode, second order, float64) and,
  for the modern cells' parallel forms, against their recurrent form. The parallel Newton
  solves, `mode="newton"`/`"quasi_newton"`, against the scan: the GRU's and sLSTM's here, the other
  families' in tests/core/test_parallel*.py.

A new cell family joins by adding a case here: it must pass every transformation.

The matrix is marked `slow` (minutes on 2 cores): `python -m pytest -m slow` runs it, as
`.ci/run` does after the default suite.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import subprocess
import sys
import textwrap
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P
from jax.test_util import check_grads

import jaxlstm as J
from tests.core import toy_family as toy
from tests.core.reference import as_numpy, np_lstm

pytestmark = pytest.mark.slow


def _flat(final, hs):
    return jnp.concatenate([jnp.ravel(hs)] + [jnp.ravel(a) for a in jax.tree.leaves(final)])


@dataclasses.dataclass(frozen=True)
class Case:
    """One layer call and its reference.

    `init(key) -> params`; `run(params, x, length)` and `reference(params, x, length)`
    (None: the case is its own reference, checked by finite differences).
    """

    name: str
    init: Callable
    run: Callable
    reference: Optional[Callable] = None
    batch: int = 3
    steps: int = 4
    features: int = 3
    lengths: bool = False
    x64: bool = False
    atol: float = 2e-5


def _lstm_case(name, *, hidden=5, batch=3, lengths=False, reverse=False, x64=False, **init_kw):
    spec = init_kw.pop("spec", J.CellSpec())
    dtype = jnp.float64 if x64 else jnp.float32

    def init(key):
        return J.init_lstm(key, 3, hidden, spec, dtype=dtype, **init_kw)

    def run(backend):
        def call(params, x, n):
            return _flat(*J.lstm(params, x, spec=spec, lengths=n, reverse=reverse,
                                 backend=backend))
        return call

    return Case(name, init, run(None), run("reference"), batch=batch, lengths=lengths, x64=x64,
                atol=1e-10 if x64 else 2e-5)


def _reference_only(name, init, run, **kw):
    return Case(name, init, run, None, x64=True, atol=1e-10, **kw)


def _stack_case():
    """Two bidirectional layers of fused LSTMs with lengths (the reverse direction over each
    valid prefix), the second reading the first's concatenated outputs."""
    def init(key):
        keys = jax.random.split(key, 4)
        return [(J.init_lstm(keys[0], 3, 5), J.init_lstm(keys[1], 3, 5)),
                (J.init_lstm(keys[2], 10, 5), J.init_lstm(keys[3], 10, 5))]

    def run(backend):
        def call(layers, x, n):
            finals, h = [], x
            for forward, backward in layers:
                f1, o1 = J.lstm(forward, h, lengths=n, backend=backend)
                f2, o2 = J.lstm(backward, h, lengths=n, reverse=True, backend=backend)
                finals += [f1, f2]
                h = jnp.concatenate([o1, o2], axis=-1)
            return _flat(finals, h)
        return call

    return Case("lstm/bidirectional stack+lengths", init, run(None), run("reference"),
                lengths=True)


def _family_case(name, init_fn, layer_fn, spec=None, mode=None, reference_mode=None,
                 lengths=True):
    spec_kw = {} if spec is None else {"spec": spec}

    def init(key):
        return jax.tree.map(lambda a: a.astype(jnp.float64),
                            init_fn(key, 3, 4, **spec_kw))

    def run(m):
        def call(params, x, n):
            kw = dict(spec_kw, lengths=n)
            if m is not None:
                kw["mode"] = m
            return _flat(*layer_fn(params, x, **kw))
        return call

    reference = None if reference_mode is None else run(reference_mode)
    return Case(name, init, run(mode), reference, lengths=lengths, x64=True, atol=1e-9)


CASES = [
    _lstm_case("lstm/xla_fused"),
    _lstm_case("lstm/xla_fused+lengths+reverse", lengths=True, reverse=True),
    _lstm_case("lstm/onednn", hidden=128, batch=8),
    _lstm_case("lstm/onednn+lengths(full_length)", hidden=128, batch=8, lengths=True),
    _lstm_case("lstm/xla_fused/float64+lengths", lengths=True, x64=True),
    _stack_case(),
    _reference_only("lstm/reference/peepholes",
                    lambda k: J.init_lstm(k, 3, 4, J.CellSpec(peepholes=True), dtype=jnp.float64),
                    lambda p, x, n: _flat(*J.lstm(p, x, spec=J.CellSpec(peepholes=True),
                                                  lengths=n)), lengths=True),
    _reference_only("lstm/reference/projection",
                    lambda k: J.init_lstm(k, 3, 4, proj_size=2, dtype=jnp.float64),
                    lambda p, x, n: _flat(*J.lstm(p, x, lengths=n))),
    _family_case("gru", J.init_gru, J.gru),
    _family_case("rnn", J.init_rnn, J.rnn),
    _family_case("slstm", J.init_slstm, J.slstm, J.SLSTMSpec(num_heads=2)),
    _family_case("mlstm/recurrent", J.init_mlstm, J.mlstm, J.MLSTMSpec(num_heads=2),
                 mode="recurrent"),
    _family_case("mlstm/parallel", J.init_mlstm, J.mlstm, J.MLSTMSpec(num_heads=2),
                 mode="parallel", reference_mode="recurrent"),
    _family_case("mlstm/chunkwise", J.init_mlstm, J.mlstm,
                 J.MLSTMSpec(num_heads=2, chunk_size=2), mode="chunkwise",
                 reference_mode="recurrent"),
    _family_case("minlstm/sequential", J.init_minlstm, J.minlstm, mode="sequential"),
    _family_case("minlstm/parallel", J.init_minlstm, J.minlstm, mode="parallel",
                 reference_mode="sequential"),
    _family_case("mingru/sequential", J.init_mingru, J.mingru, mode="sequential"),
    _family_case("mingru/parallel", J.init_mingru, J.mingru, mode="parallel",
                 reference_mode="sequential"),
    _family_case("paralstm", J.init_paralstm, J.paralstm),
    _family_case("paragru", J.init_paragru, J.paragru),
    _family_case("gru/newton", J.init_gru, J.gru, mode="newton", reference_mode="scan"),
    _family_case("slstm/quasi_newton", J.init_slstm, J.slstm, J.SLSTMSpec(num_heads=2),
                 mode="quasi_newton", reference_mode="recurrent"),
    _family_case("indrnn (a family from tests/core/toy_family.py)", toy.init, toy.layer,
                 toy.IndRNNSpec("sin")),
]
IDS = [c.name for c in CASES]


def _inputs(case: Case):
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    params = case.init(k1)
    dtype = jnp.float64 if case.x64 else jnp.float32
    xs = jax.random.normal(k2, (case.batch, case.steps, case.features), dtype)
    lengths = (jnp.arange(case.batch) % case.steps + 1) if case.lengths else None
    if lengths is not None:
        lengths = lengths.at[0].set(case.steps)
    return params, xs, lengths


@pytest.fixture(params=CASES, ids=IDS)
def case(request):
    c = request.param
    with jax.enable_x64(c.x64):
        yield c


def _close(a, b, atol):
    jax.tree.map(lambda u, v: np.testing.assert_allclose(np.asarray(u), np.asarray(v),
                                                         rtol=1e-4 if atol > 1e-8 else 1e-7,
                                                         atol=atol), a, b)


def _batched(run, params, xs, lengths):
    """`jax.vmap` of the case over the batch (lengths mapped too when present)."""
    if lengths is None:
        return jax.vmap(lambda x: run(params, x, None))(xs)
    return jax.vmap(lambda x, n: run(params, x, n))(xs, lengths)


def _loss(run):
    def loss(params, xs, lengths):
        return jnp.sum(jnp.sin(_batched(run, params, xs, lengths)))
    return loss


def _compare(case, transform, *, self_check: Callable = None):
    """`transform(run, params, xs, lengths)` on the case and on its reference; for a case
    without a reference, `self_check(run, params, xs, lengths)` (finite differences)."""
    params, xs, lengths = _inputs(case)
    got = transform(case.run, params, xs, lengths)
    if case.reference is not None:
        _close(got, transform(case.reference, params, xs, lengths), case.atol)
    elif self_check is not None:
        self_check(case.run, params, xs, lengths)
    return got


def _fd_params(run, params, xs, lengths, modes=("fwd", "rev"), order=2):
    check_grads(lambda p: _loss(run)(p, xs, lengths), (params,), order=order, modes=modes,
                atol=1e-5, rtol=1e-5)


def _fd_inputs(run, params, xs, lengths, modes=("fwd", "rev"), order=2):
    check_grads(lambda x: _loss(run)(params, x, lengths), (xs,), order=order, modes=modes,
                atol=1e-5, rtol=1e-5)


def _tangents(tree, seed=1):
    leaves, treedef = jax.tree.flatten(tree)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    return jax.tree.unflatten(treedef, [jax.random.normal(k, a.shape, a.dtype)
                                        for k, a in zip(keys, leaves)])


# ---- values -----------------------------------------------------------------------------

def test_every_registered_family_has_a_case():
    covered = {c.name.split("/")[0].split(" ")[0] for c in CASES}
    assert set(J.FAMILIES) <= covered, sorted(set(J.FAMILIES) - covered)


def test_values_jit_and_vmap(case):
    got = _compare(case, lambda run, p, xs, n: jax.jit(_batched, static_argnums=0)(run, p, xs, n))
    eager = _compare(case, _batched)
    _close(got, eager, case.atol)


def test_reference_scan_matches_the_numpy_oracle():
    """The fused cases' reference (`backend="reference"`) against tests/core/reference.py."""
    params = J.init_lstm(jax.random.key(0), 3, 5)
    xs = np.asarray(jax.random.normal(jax.random.key(1), (4, 3)))
    p = as_numpy(params)
    for length, reverse in ((None, False), (2, True), (0, False)):
        final, hs = J.lstm(params, xs, lengths=length, reverse=reverse, backend="reference")
        (h, c), hs_np = np_lstm(p, xs, np.zeros(5), np.zeros(5), J.CellSpec(), length, reverse)
        np.testing.assert_allclose(hs, hs_np, atol=1e-6)
        np.testing.assert_allclose(final.h, h, atol=1e-6)
        np.testing.assert_allclose(final.c, c, atol=1e-6)


def test_eval_shape(case):
    params, xs, lengths = _inputs(case)
    shape = jax.eval_shape(functools.partial(_batched, case.run), params, xs, lengths)
    assert shape.shape == _batched(case.run, params, xs, lengths).shape


# ---- reverse mode -----------------------------------------------------------------------

def test_grad(case):
    _compare(case, lambda run, p, xs, n: jax.jit(jax.grad(_loss(run), argnums=(0, 1)))(p, xs, n),
             self_check=functools.partial(_fd_params, modes=("rev",), order=1))


def test_per_example_gradients(case):
    """`vmap(grad)`: each sequence's own parameter gradient, against a loop of single-sequence
    gradients of the reference."""
    params, xs, lengths = _inputs(case)

    def one(run):
        return lambda p, x, n: jnp.sum(jnp.sin(run(p, x, n)))

    n_axis = None if lengths is None else 0
    got = jax.jit(jax.vmap(jax.grad(one(case.run)), in_axes=(None, 0, n_axis)))(params, xs, lengths)
    reference = case.reference or case.run
    for b in range(case.batch):
        n = None if lengths is None else lengths[b]
        want = jax.grad(one(reference))(params, xs[b], n)
        _close(jax.tree.map(lambda a: a[b], got), want, case.atol)


def test_jacrev(case):
    def jac(run, p, xs, n):
        return jax.jacrev(lambda x: run(p, x, None if n is None else n[1]))(xs[1])
    _compare(case, jac, self_check=lambda run, p, xs, n: check_grads(
        lambda x: run(p, x, None if n is None else n[1]), (xs[1],), order=1, modes=("rev",),
        atol=1e-5, rtol=1e-5))


def test_grad_of_grad(case):
    def gg(run, p, xs, n):
        return jax.grad(lambda x: jnp.sum(jax.grad(_loss(run), argnums=1)(p, x, n) ** 2))(xs)
    _compare(case, gg, self_check=functools.partial(_fd_inputs, modes=("rev",)))


def test_checkpoint(case):
    def remat(run, p, xs, n):
        return jax.grad(jax.checkpoint(_loss(run)))(p, xs, n)
    _compare(case, remat)


# ---- forward mode -----------------------------------------------------------------------

def test_jvp(case):
    def jvp(run, p, xs, n):
        return jax.jvp(lambda p, x: _batched(run, p, x, n), (p, xs),
                       (_tangents(p), _tangents(xs, 2)))
    _compare(case, jvp, self_check=functools.partial(_fd_params, modes=("fwd",), order=1))


def test_jacfwd(case):
    def jac(run, p, xs, n):
        return jax.jacfwd(lambda x: run(p, x, None if n is None else n[1]))(xs[1])
    got = _compare(case, jac)
    params, xs, lengths = _inputs(case)
    rev = jax.jacrev(lambda x: case.run(params, x, None if lengths is None else lengths[1]))(xs[1])
    _close(got, rev, case.atol)  # forward and reverse mode agree


def test_linearize(case):
    def lin(run, p, xs, n):
        _, f = jax.linearize(lambda x: _batched(run, p, x, n), xs)
        return f(_tangents(xs, 3))
    _compare(case, lin, self_check=functools.partial(_fd_inputs, modes=("fwd",), order=1))


def test_hessian_vector_product(case):
    """Forward-over-reverse: jvp of the gradient with respect to the parameters."""
    def hvp(run, p, xs, n):
        return jax.jvp(lambda q: jax.grad(_loss(run))(q, xs, n), (p,), (_tangents(p),))[1]
    _compare(case, hvp, self_check=_fd_params)


def test_hessian(case):
    def hess(run, p, xs, n):
        return jax.hessian(lambda x: jnp.sum(jnp.sin(run(p, x, None if n is None else n[1]))))(
            xs[1])
    _compare(case, hess, self_check=lambda run, p, xs, n: check_grads(
        lambda x: jnp.sum(jnp.sin(run(p, x, None if n is None else n[1]))), (xs[1],), order=2,
        atol=1e-5, rtol=1e-5))


# ---- composition ------------------------------------------------------------------------

def test_nested_vmap(case):
    def nested(run, p, xs, n):
        xs2 = jnp.stack([xs, 0.5 * xs])
        if n is None:
            return jax.vmap(jax.vmap(lambda x: run(p, x, None)))(xs2)
        return jax.vmap(jax.vmap(lambda x, m: run(p, x, m)), in_axes=(0, None))(xs2, n)
    _compare(case, nested)


def test_ensemble_of_parameters(case):
    """vmap over parameters (an ensemble) and its gradient: each member's own."""
    params, xs, lengths = _inputs(case)
    ensemble = jax.tree.map(lambda a: jnp.stack([a, 0.5 * a]), params)
    got = jax.vmap(jax.grad(_loss(case.run)), in_axes=(0, None, None))(ensemble, xs, lengths)
    reference = case.reference or case.run
    for k in range(2):
        member = jax.tree.map(lambda a: a[k], ensemble)
        _close(jax.tree.map(lambda a: a[k], got), jax.grad(_loss(reference))(member, xs, lengths),
               case.atol)


def test_shard_map_with_check_vma(case):
    """shard_map over the batch (check_vma on, the default): the value and the gradient of the
    replicated parameters (summed over shards by the varying-cast's transpose)."""
    mesh = jax.make_mesh((1,), ("data",))
    params, xs, lengths = _inputs(case)

    def sharded(run):
        def step(p, x, n):
            value, grads = jax.value_and_grad(_loss(run))(p, x, n)
            return jax.lax.psum(value, "data"), grads
        specs = (P(), P("data"), None if lengths is None else P("data"))
        return jax.jit(jax.shard_map(step, mesh=mesh, in_specs=specs, out_specs=(P(), P())))

    with jax.set_mesh(mesh):
        put = lambda a: None if a is None else jax.device_put(a, NamedSharding(mesh, P("data")))  # noqa: E731
        got = sharded(case.run)(params, put(xs), put(lengths))
    reference = case.reference or case.run
    _close(got, jax.value_and_grad(_loss(reference))(params, xs, lengths), case.atol)


def test_pmap(case):
    params, xs, lengths = _inputs(case)
    n = None if lengths is None else lengths[None]
    got = jax.pmap(lambda x, m: jax.grad(_loss(case.run))(params, x, m))(xs[None], n)
    reference = case.reference or case.run
    _close(jax.tree.map(lambda a: a[0], got), jax.grad(_loss(reference))(params, xs, lengths),
           case.atol)


def test_export_of_a_training_step(case):
    """`jax.export` of a jitted value-and-grad works as written and holds no jaxlstm custom
    call (the kernel's FFI targets have no compatibility guarantee)."""
    params, xs, lengths = _inputs(case)
    fn = jax.jit(jax.value_and_grad(_loss(case.run)))
    exported = jax.export.export(fn)(params, xs, lengths)
    assert "jaxlstm_lstm" not in exported.mlir_module()
    reference = case.reference or case.run
    _close(exported.call(params, xs, lengths),
           jax.value_and_grad(_loss(reference))(params, xs, lengths), case.atol)


# ---- the LSTM's kernel and layers -------------------------------------------------------

def test_scan_over_layers():
    """`lax.scan` over a stack of layers of equal width (the fused layer inside a scan body)."""
    layers = jax.tree.map(lambda a: jnp.stack([a, 0.5 * a]), J.init_lstm(jax.random.key(0), 4, 4))
    xs = jax.random.normal(jax.random.key(1), (6, 4))

    def stack(backend):
        def loss(layers, xs):
            def body(h, p):
                return J.lstm(p, h, backend=backend)[1], None
            return jnp.sum(jnp.sin(jax.lax.scan(body, xs, layers)[0]))
        return loss

    _close(jax.grad(stack(None), argnums=(0, 1))(layers, xs),
           jax.grad(stack("reference"), argnums=(0, 1))(layers, xs), 2e-5)


def test_kernel_cases_lower_to_the_kernel_except_when_exported():
    if J.kernel_status() != "oneDNN kernel in use":
        pytest.skip(J.kernel_status())
    case = next(c for c in CASES if c.name == "lstm/onednn")
    params, xs, lengths = _inputs(case)
    fn = jax.jit(jax.value_and_grad(_loss(case.run)))
    hlo = fn.lower(params, xs, lengths).as_text()
    assert "jaxlstm_lstm_forward_train" in hlo and "jaxlstm_lstm_backward" in hlo
    assert "jaxlstm_lstm_forward" in jax.jit(functools.partial(_batched, case.run)).lower(
        params, xs, lengths).as_text()
    assert "jaxlstm_lstm" not in jax.export.export(fn)(params, xs, lengths).mlir_module()


def test_shard_map_over_two_devices_splits_the_batch():
    """Two simulated CPU devices (a fresh process): the batch sharded over "data", the
    gradient of the replicated parameters summed over the shards, equal to one device's."""
    script = textwrap.dedent("""
        import jax, jax.numpy as jnp, numpy as np
        from jax.sharding import NamedSharding, PartitionSpec as P
        import jaxlstm as J
        assert jax.device_count() == 2
        params = J.init_lstm(jax.random.key(0), 3, 128)
        xs = jax.random.normal(jax.random.key(1), (16, 5, 3))
        n = jnp.arange(16) % 5 + 1
        def loss(p, xs, n):
            return jnp.sum(jnp.sin(jax.vmap(lambda x, m: J.lstm(p, x, lengths=m)[1])(xs, n)))
        def sharded_step(p, xs, n):
            value, grads = jax.value_and_grad(loss)(p, xs, n)
            return jax.lax.psum(value, "data"), grads
        mesh = jax.make_mesh((2,), ("data",))
        with jax.set_mesh(mesh):
            put = lambda a: jax.device_put(a, NamedSharding(mesh, P("data")))
            f = jax.jit(jax.shard_map(sharded_step, mesh=mesh,
                                      in_specs=(P(), P("data"), P("data")), out_specs=(P(), P())))
            value, grads = f(params, put(xs), put(n))
        want_value, want = jax.value_and_grad(loss)(params, xs, n)
        np.testing.assert_allclose(value, want_value, rtol=1e-5)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4),
                     grads, want)
        print("ok")
    """)
    env = dict(os.environ, XLA_FLAGS=os.environ.get("XLA_FLAGS", "")
               + " --xla_force_host_platform_device_count=2")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-3000:]


def test_explain_reports_the_plan():
    params = J.init_lstm(jax.random.key(0), 3, 128)
    xs = jnp.ones((8, 4, 3))
    plan = J.explain(params, xs, lengths=jnp.full((8,), 4))
    assert plan.lengths == "full_length"
    one = J.explain(params, xs[0])
    assert one.backend == "xla_fused" and one.layout is None
    small = J.explain(J.init_lstm(jax.random.key(0), 3, 8), jnp.ones((4, 4, 3)),
                      lengths=jnp.ones(4, int))
    assert small.backend == "xla_fused" and small.lengths == "masked"
    assert small.layout == "batch_major"
    peepholes = J.init_lstm(jax.random.key(0), 3, 128, J.CellSpec(peepholes=True))
    assert J.explain(peepholes, xs, spec=J.CellSpec(peepholes=True)).backend == "reference"
