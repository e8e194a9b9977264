"""mLSTM (Beck et al. 2024, xLSTM, arXiv 2405.04517, eqs. 19-27 and appendix A.3).

Every gate reads the input only, so the layer has a recurrent, a parallel and a
chunkwise form. K heads of size d = H / K; per head, with k_t scaled by 1/√d:

    q_t, k_t, v_t = x_t W_q + b_q,  (x_t W_k + b_k)/√d,  x_t W_v + b_v     (each (d,))
    ĩ_t, f̃_t     = x_t w_i + b_i,  x_t w_f + b_f                          (scalars)
    log f_t       = log σ(f̃_t)  (forget_gate="sigmoid")  or  f̃_t  (forget_gate="exp")
    o_t           = σ(x_t W_o + b_o)                                       (per unit)

Recurrent form, stabilised in log space (C, n scaled by exp(-m_t)):

    m_t  = max(log f_t + m_{t-1}, ĩ_t)
    f'_t = exp(log f_t + m_{t-1} - m_t),  i'_t = exp(ĩ_t - m_t)
    C_t  = f'_t C_{t-1} + i'_t k_t v_tᵀ          (d × d)
    n_t  = f'_t n_{t-1} + i'_t k_t               (d,)
    h_t  = o_t ⊙ (C_tᵀ q_t) / (max(|n_tᵀ q_t|, exp(-m_t)) + eps)

Parallel form over a chunk of L steps starting from (C, n, m), with F_t = Σ_{s<=t} log f_s:

    log D_ts = F_t - F_s + ĩ_s  (s <= t, else -inf),   a_t = m + F_t
    m_t      = max(max_s log D_ts, a_t)                     (the m_t of the recurrence)
    h̃_t      = [Σ_s e^{log D_ts - m_t} (q_t·k_s) v_s + e^{a_t - m_t} Cᵀ q_t]
               / (max(|Σ_s e^{log D_ts - m_t} (q_t·k_s) + e^{a_t - m_t} nᵀ q_t|, e^{-m_t}) + eps)

which is the recurrence's h̃_t term for term. `mode="parallel"` is one chunk of T steps
(memory T² per head); `mode="chunkwise"` scans chunks of `chunk_size` steps, carrying
(C, n, m) between them (memory T·L). Padded steps (t >= lengths) have their inputs zeroed and get ĩ = -inf
and log f = 0 in every form, so they leave the state as it was, and whatever they held
(NaN, inf) reaches neither the valid outputs nor the gradients.

Shapes: w_x (X, 4H) and b (4H,) in blocks q, k, v, o (H each); w_gates (X, 2K) and
b_gates (2K,) in blocks ĩ, f̃ (K each), so the parameters say K themselves (a fused
(X, 4H + 2K) would fit several (H, K): 66 columns are H=16, K=1 or H=15, K=3).
State `MLSTMState(C (K, d, d), n (K, d), m (K,))`; C is indexed [key, value].
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
from jax import lax

from jaxlstm.core.family import CellFamily, register_family, register_spec
from jaxlstm.core.scan import prepare_layer, reverse_valid_prefix, scan_cell
from jaxlstm.core.validation import (check_divides, check_heads, check_float, check_last_dim,
                                    check_leaf_rank, check_mode, check_spec_field)

FORGET_GATES = ("sigmoid", "exp")
MODES = ("auto", "recurrent", "parallel", "chunkwise")


@register_spec
@dataclasses.dataclass(frozen=True)
class MLSTMSpec:
    """The mLSTM variant.

    Attributes:
      num_heads: K (divides H); each head has its own d × d memory, d = H / K.
      forget_gate: "sigmoid" or "exp".
      chunk_size: steps per chunk of `mode="chunkwise"`.
      eps: added to the denominator of h̃ (as the xlstm package, 1e-6).
    """

    num_heads: int = 1
    forget_gate: str = "sigmoid"
    chunk_size: int = 64
    eps: float = 1e-6

    def __post_init__(self):
        for field in ("num_heads", "chunk_size"):
            value = getattr(self, field)
            check_spec_field(self, field, isinstance(value, int) and not isinstance(value, bool)
                             and value >= 1, "a positive int")
        check_spec_field(self, "forget_gate", self.forget_gate in FORGET_GATES,
                         f"one of {list(FORGET_GATES)}")
        check_spec_field(self, "eps", isinstance(self.eps, (int, float)) and self.eps >= 0,
                         "a float >= 0")


class MLSTMParams(NamedTuple):
    """w_x (X, 4H), b (4H,): blocks q, k, v, o (H each); w_gates (X, 2K), b_gates (2K,):
    blocks ĩ, f̃ (K each, one scalar gate per head)."""

    w_x: jax.Array
    b: jax.Array
    w_gates: jax.Array
    b_gates: jax.Array


class MLSTMState(NamedTuple):
    """C (..., K, d, d) [key, value], n (..., K, d), m (..., K); C, n scaled by exp(-m)."""

    C: jax.Array
    n: jax.Array
    m: jax.Array


def _hidden_size(params: MLSTMParams, spec: MLSTMSpec) -> int:
    return params.b.shape[0] // 4


def init_mlstm(key, input_size: int, hidden_size: int, spec: MLSTMSpec = MLSTMSpec(), *,
               dtype=jnp.float32) -> MLSTMParams:
    """Glorot-uniform w_x; b zero except the forget gates: linspace(3, 6) over the heads for
    a sigmoid forget gate (f close to 1, as the xlstm package), 0 for an exponential one."""
    check_heads(spec, hidden_size)
    heads = spec.num_heads
    forget = (jnp.linspace(3.0, 6.0, heads, dtype=dtype) if spec.forget_gate == "sigmoid"
              else jnp.zeros((heads,), dtype))
    # one Glorot matrix over all 4H + 2K columns (the fan-out of the whole projection)
    w = jax.nn.initializers.glorot_uniform()(key, (input_size, 4 * hidden_size + 2 * heads),
                                             dtype)
    return MLSTMParams(
        w_x=w[:, :4 * hidden_size], b=jnp.zeros((4 * hidden_size,), dtype),
        w_gates=w[:, 4 * hidden_size:],
        b_gates=jnp.concatenate([jnp.zeros((heads,), dtype), forget]),
    )


def mlstm_param_count(spec: MLSTMSpec, input_size: int, hidden_size: int) -> int:
    """(X + 1)·(4H + 2K): q, k, v, o projections and the two scalar gates per head."""
    check_heads(spec, hidden_size)
    return (input_size + 1) * (4 * hidden_size + 2 * spec.num_heads)


def zero_state(params: MLSTMParams, spec: MLSTMSpec = MLSTMSpec(),
               batch_shape: tuple = ()) -> MLSTMState:
    """All-zero `MLSTMState` with leading batch_shape."""
    heads = spec.num_heads
    d = _hidden_size(params, spec) // heads
    lead = tuple(batch_shape)
    dtype = params.b.dtype
    return MLSTMState(jnp.zeros(lead + (heads, d, d), dtype), jnp.zeros(lead + (heads, d), dtype),
                      jnp.zeros(lead + (heads,), dtype))


def param_shapes(params: MLSTMParams, spec: MLSTMSpec) -> dict:
    """w_x (X, 4H), b (4H,), w_gates (X, 2K), b_gates (2K,) with X read off w_x, H off b
    (a positive multiple of K) and K = spec.num_heads."""
    for field, rank in (("w_x", 2), ("b", 1), ("w_gates", 2), ("b_gates", 1)):
        check_leaf_rank(params, field, rank)
    if params.w_gates.shape[1] != 2 * spec.num_heads:
        raise ValueError(f"params.w_gates must have shape (X, 2K) with K=MLSTMSpec.num_heads="
                         f"{spec.num_heads}, got {tuple(params.w_gates.shape)}; were the "
                         f"parameters made for num_heads={params.w_gates.shape[1] / 2:g}?")
    if params.b.shape[0] % 4:
        raise ValueError(f"params.b must have shape (4H,) (blocks q, k, v, o), got "
                         f"{tuple(params.b.shape)}")
    check_divides("hidden_size", _hidden_size(params, spec), spec, "num_heads")
    inputs, gates = params.w_x.shape[0], 2 * spec.num_heads
    return {"w_x": (inputs, params.b.shape[0]), "b": params.b.shape,
            "w_gates": (inputs, gates), "b_gates": (gates,)}


def _check_params(params: MLSTMParams, spec: MLSTMSpec) -> None:
    for field, want in param_shapes(params, spec).items():
        got = tuple(getattr(params, field).shape)
        if got != want:
            raise ValueError(f"params.{field} must have shape {want} for {spec!r}, got {got}")


def _project(params: MLSTMParams, x: jax.Array, spec: MLSTMSpec):
    """x (..., X) -> q, k/√d, v, o pre-activation (..., K, d); ĩ, log f (..., K)."""
    heads = spec.num_heads
    hidden = _hidden_size(params, spec)
    d = hidden // heads
    pre = x @ params.w_x + params.b
    q, k, v, o = (pre[..., j * hidden:(j + 1) * hidden].reshape(*pre.shape[:-1], heads, d)
                  for j in range(4))
    gates = x @ params.w_gates + params.b_gates
    i_pre, f_pre = gates[..., :heads], gates[..., heads:]
    log_f = jax.nn.log_sigmoid(f_pre) if spec.forget_gate == "sigmoid" else f_pre
    return q, k / jnp.sqrt(jnp.asarray(d, k.dtype)), v, o, i_pre, log_f


def _output(o_pre: jax.Array, h_tilde: jax.Array) -> jax.Array:
    """o (..., K, d) pre-activation and h̃ (..., K, d) -> h (..., H)."""
    h = jax.nn.sigmoid(o_pre) * h_tilde
    return h.reshape(*h.shape[:-2], -1)


def mlstm_step(params: MLSTMParams, state: MLSTMState, x: jax.Array,
               spec: MLSTMSpec = MLSTMSpec()):
    """One step of the recurrent form: x (..., X) -> (state, h (..., H))."""
    _check_params(params, spec)
    check_float("x", x)
    check_last_dim("x", x, params.w_x.shape[0], "input_size")
    q, k, v, o, i_pre, log_f = _project(params, x, spec)
    m = jnp.maximum(log_f + state.m, i_pre)
    f_s = jnp.exp(log_f + state.m - m)
    i_s = jnp.exp(i_pre - m)
    C = f_s[..., None, None] * state.C + i_s[..., None, None] * k[..., :, None] * v[..., None, :]
    n = f_s[..., None] * state.n + i_s[..., None] * k
    num = jnp.einsum("...a,...ab->...b", q, C)
    den = jnp.maximum(jnp.abs(jnp.sum(q * n, axis=-1)), jnp.exp(-m)) + spec.eps
    return MLSTMState(C, n, m), _output(o, num / den[..., None])


def _chunk(state: MLSTMState, inputs, eps: float):
    """The parallel form over one chunk (module docstring), all heads at once.

    state: C (K, d, d), n (K, d), m (K,); inputs: q, k, v (L, K, d), ĩ, log f (L, K).
    Returns (state after the chunk, h̃ (L, K, d)).
    """
    q, k, v, i_pre, log_f = (jnp.swapaxes(a, 0, 1) for a in inputs)  # heads first
    steps = q.shape[1]
    F = jnp.cumsum(log_f, axis=-1)                                     # (K, L)
    causal = jnp.tril(jnp.ones((steps, steps), bool))
    log_d = jnp.where(causal, F[:, :, None] - F[:, None, :] + i_pre[:, None, :], -jnp.inf)
    carried = state.m[:, None] + F                                     # (K, L)
    m = jnp.maximum(jnp.max(log_d, axis=-1), carried)                  # (K, L)
    # Selects, not products with 0: step s's q·k and v must not reach the steps t < s, so
    # a non-finite input at s (whose k_s, ĩ_s, hence weights[t >= s, s], are non-finite
    # with it) leaves the earlier steps as the recurrence does.
    weights = jnp.where(causal, jnp.exp(log_d - m[..., None]) * jnp.einsum("kta,ksa->kts", q, k),
                        0.0)
    v_finite = jnp.where(jnp.isfinite(v), v, 0.0)
    decay = jnp.exp(carried - m)
    num = weights @ v_finite + decay[..., None] * jnp.einsum("kta,kab->ktb", q, state.C)
    den = weights.sum(-1) + decay * jnp.einsum("kta,ka->kt", q, state.n)
    h_tilde = num / (jnp.maximum(jnp.abs(den), jnp.exp(-m)) + eps)[..., None]
    m_last = m[:, -1]
    keep = jnp.exp(state.m + F[:, -1] - m_last)                        # (K,)
    w_in = jnp.exp(i_pre + F[:, -1:] - F - m_last[:, None])            # (K, L)
    C = keep[:, None, None] * state.C + jnp.einsum("ks,ksa,ksb->kab", w_in, k, v)
    n = keep[:, None] * state.n + jnp.einsum("ks,ksa->ka", w_in, k)
    return MLSTMState(C, n, m_last), jnp.swapaxes(h_tilde, 0, 1)


def default_mode(num_steps: int) -> str:
    """The form `mode="auto"` runs for T steps: chunkwise (one chunk, i.e. the parallel form,
    when T <= chunk_size); it was the fastest training step at every T measured on CPU
    (T = 128, 512, 2048: 4.8, 69, 224 ms against parallel 15.7, 370, 4923 and recurrent
    13.3, 78, 310; docs/modern_cells.md)."""
    return "chunkwise"


def mlstm(
    params: MLSTMParams,
    xs: jax.Array,
    state0: Optional[MLSTMState] = None,
    *,
    spec: MLSTMSpec = MLSTMSpec(),
    lengths: Optional[jax.Array] = None,
    reverse: bool = False,
    mode: str = "auto",
    chunk_size: Optional[int] = None,
    unroll: int = 1,
    remat: int | bool = False,
):
    """Run an mLSTM layer over one sequence xs (T, X).

    Args:
      params: `MLSTMParams`. state0: `MLSTMState` without batch axes; zeros when None.
      spec: `MLSTMSpec` (static under jit). lengths: scalar int, the valid steps.
      reverse: run backwards over the valid prefix.
      mode: "recurrent" (`lax.scan` of `mlstm_step`), "parallel" (quadratic, T² memory
        per head), "chunkwise" (chunks of `chunk_size`, default `spec.chunk_size`) or
        "auto" (`default_mode(T)`). All give the same outputs and final state.
      unroll, remat: for the recurrent form (see `scan_cell`).

    Returns:
      `(final_state, hs (T, H))`, zeros at padded steps.
    """
    check_mode(mode, MODES)
    params, xs, state0, lengths = prepare_layer(MLSTM, params, xs, state0, spec=spec,
                                                lengths=lengths)
    if chunk_size is None:
        chunk_size = spec.chunk_size
    elif not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    num_steps = xs.shape[0]
    mode = MLSTM.form(mode, num_steps)  # "auto": default_mode
    if mode == "recurrent":
        step = lambda p, s, x: mlstm_step(p, s, x, spec)  # noqa: E731
        return scan_cell(step, params, xs, state0, lengths=lengths, reverse=reverse,
                         unroll=unroll, remat=remat)
    if reverse:
        xs = reverse_valid_prefix(xs, lengths)
    q, k, v, o, i_pre, log_f = _project(params, xs, spec)
    if lengths is not None:
        valid = (jnp.arange(num_steps) < lengths)[:, None]
        i_pre = jnp.where(valid, i_pre, -jnp.inf)
        log_f = jnp.where(valid, log_f, 0.0)
    if mode == "parallel":
        final, h_tilde = _chunk(state0, (q, k, v, i_pre, log_f), spec.eps)
    else:
        final, h_tilde = _chunkwise(state0, (q, k, v, i_pre, log_f), chunk_size, spec.eps)
    hs = _output(o, h_tilde)
    if lengths is not None:
        hs = jnp.where(jnp.arange(num_steps)[:, None] < lengths, hs, 0.0)
    if reverse:
        hs = reverse_valid_prefix(hs, lengths)
    return final, hs


def _chunkwise(state0: MLSTMState, inputs, chunk_size: int, eps: float):
    """`_chunk` over consecutive chunks of `chunk_size` steps with `lax.scan`; the last chunk
    is padded with steps that leave the state unchanged (ĩ = -inf, log f = 0)."""
    num_steps = inputs[0].shape[0]
    size = min(chunk_size, num_steps) if num_steps else 1
    num_chunks = -(-num_steps // size)
    pad = num_chunks * size - num_steps
    fills = (0.0, 0.0, 0.0, -jnp.inf, 0.0)
    chunks = tuple(
        jnp.concatenate([a, jnp.full((pad,) + a.shape[1:], fill, a.dtype)]).reshape(
            num_chunks, size, *a.shape[1:])
        for a, fill in zip(inputs, fills))
    if num_chunks == 1:
        # A length-1 lax.scan of _chunk under jit(vmap(...)) returned garbage (1e30, -inf,
        # varying run to run) on CPU with jax/jaxlib 0.10.2 at B = 32, H >= 128: an XLA
        # miscompile (the same ops unscanned are exact); one chunk needs no scan anyway.
        final, h_tilde = _chunk(state0, tuple(c[0] for c in chunks), eps)
        return final, h_tilde[:num_steps]
    final, h_tilde = lax.scan(lambda s, c: _chunk(s, c, eps), state0, chunks)
    return final, h_tilde.reshape(num_chunks * size, *h_tilde.shape[2:])[:num_steps]


def _output_size(params: MLSTMParams, spec: MLSTMSpec) -> int:
    return _hidden_size(params, spec)


MLSTM = register_family(CellFamily(
    name="mlstm", spec_type=MLSTMSpec, init=init_mlstm, step=mlstm_step,
    zero_state=zero_state, param_count=mlstm_param_count, layer=mlstm,
    output_size=_output_size, params_type=MLSTMParams, param_shapes=param_shapes,
    modes=MODES, default_mode=default_mode))
