// The standard LSTM layer as oneDNN's LSTM primitive, behind XLA's FFI (CPU).
//
// Float32, one layer, one direction, gate blocks i, f, g, o (oneDNN's i, f, c~, o), no
// peepholes or projection:
//
//   z_t = x_t·w_x + h_{t-1}·w_h + b,  i, f, o = σ(z_i), σ(z_f), σ(z_o),  g = tanh(z_g)
//   c_t = f ⊙ c_{t-1} + i ⊙ g,        h_t = o ⊙ tanh(c_t)
//
// Shapes: xs (T, B, X), h0 and c0 (B, H), w_x (X, 4H), w_h (H, 4H), b (4H,), hs (T, B, H);
// batch-major, xs (B, T, X) and hs (B, T, H). These are oneDNN's layouts `tnc` (`ntc`)
// for xs and hs, `ldnc` for states, `ldigo` for w_x and w_h and `ldgo` for b, with
// l = d = 1, so every argument is used where XLA put it; only the weights are reordered
// into the primitive's packed layout on each call.
//
// Handlers (registered from jaxlstm/core/onednn.py):
//   JaxlstmLstmForward       (xs, h0, c0, w_x, w_h, b) -> (hs, h_T, c_T)
//   JaxlstmLstmForwardTrain  the same, keeping the inputs and oneDNN's workspace (every
//                            step's gates and states) for the backward pass (SavedForwards)
//   JaxlstmLstmBackward      (xs, h0, c0, w_x, w_h, b, hs, h_T, c_T, d_hs, d_h_T, d_c_T)
//                            -> (d_xs, d_h0, d_c0, d_w_x, d_w_h, d_b)
//   JaxlstmLstm{Forward,ForwardTrain,Backward}BatchMajor, the same batch-major.
// The workspace stays here instead of going to XLA as an output: XLA allocated and
// page-faulted it (83 MB at S1, 162 MB at S4) on every training step.

#include <cstdint>
#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

struct Shape {
  int64_t T, B, X, H;
  bool batch_major;  // xs (B, T, X) and hs (B, T, H) instead of (T, B, ·)
  bool operator<(const Shape& o) const {
    return std::tie(T, B, X, H, batch_major) < std::tie(o.T, o.B, o.X, o.H, o.batch_major);
  }
  bool operator==(const Shape& o) const {
    return std::tie(T, B, X, H, batch_major) == std::tie(o.T, o.B, o.X, o.H, o.batch_major);
  }
};

dnnl::engine& Engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// The user-layout descriptors of one shape.
struct Descs {
  memory::desc src, dst, state, w_x, w_h, bias;
  explicit Descs(const Shape& s)
      : src({s.T, s.B, s.X}, dt::f32, s.batch_major ? tag::ntc : tag::tnc),
        dst({s.T, s.B, s.H}, dt::f32, s.batch_major ? tag::ntc : tag::tnc),
        state({1, 1, s.B, s.H}, dt::f32, tag::ldnc),
        w_x({1, 1, s.X, 4, s.H}, dt::f32, tag::ldigo),
        w_h({1, 1, s.H, 4, s.H}, dt::f32, tag::ldigo),
        bias({1, 1, 4, s.H}, dt::f32, tag::ldgo) {}
};

memory::desc Any(const memory::desc& d) {
  return memory::desc(d.get_dims(), dt::f32, tag::any);
}

dnnl::lstm_forward::primitive_desc ForwardDesc(const Shape& s, dnnl::prop_kind kind) {
  Descs d(s);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return dnnl::lstm_forward::primitive_desc(
      Engine(), kind, dnnl::rnn_direction::unidirectional_left2right, d.src, d.state, d.state,
      Any(d.w_x), Any(d.w_h), d.bias, d.dst, d.state, d.state, attr);
}

// Primitives are built once per shape (building one costs milliseconds) and are
// safe to execute from several threads at once: every call brings its own scratchpad.
struct Primitives {
  dnnl::lstm_forward::primitive_desc infer_pd, train_pd;
  dnnl::lstm_backward::primitive_desc backward_pd;
  dnnl::lstm_forward infer, train;
  dnnl::lstm_backward backward;

  explicit Primitives(const Shape& s)
      : infer_pd(ForwardDesc(s, dnnl::prop_kind::forward_inference)),
        train_pd(ForwardDesc(s, dnnl::prop_kind::forward_training)),
        backward_pd(BackwardDesc(s, train_pd)),
        infer(infer_pd),
        train(train_pd),
        backward(backward_pd) {}

  static dnnl::lstm_backward::primitive_desc BackwardDesc(
      const Shape& s, const dnnl::lstm_forward::primitive_desc& hint) {
    Descs d(s);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return dnnl::lstm_backward::primitive_desc(
        Engine(), dnnl::prop_kind::backward, dnnl::rnn_direction::unidirectional_left2right,
        d.src, d.state, d.state, Any(d.w_x), Any(d.w_h), d.bias, d.dst, d.state, d.state,
        d.src, d.state, d.state, Any(d.w_x), Any(d.w_h), d.bias, d.dst, d.state, d.state, hint,
        attr);
  }
};

Primitives& PrimitivesFor(const Shape& s) {
  static std::mutex mutex;
  static std::map<Shape, std::unique_ptr<Primitives>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto& entry = cache[s];
  if (!entry) entry = std::make_unique<Primitives>(s);
  return *entry;
}

// A buffer XLA owns, seen by oneDNN.
memory Wrap(const memory::desc& d, const void* data) {
  return memory(d, Engine(), const_cast<void*>(data));
}

// Memory a call needs besides XLA's buffers (packed weights, the rerun's states and
// workspace, weight gradients in the primitive's layout, scratchpad). Calls borrow a set
// of grow-only buffers from a pool and give it back, so a call neither allocates nor
// page-faults once a set has held its shape (a fresh zeroed scratchpad per call made
// the S1 training step 2x slower); the pool holds as many sets as calls ever ran at once.
class Arena {
 public:
  memory Get(const memory::desc& d) {
    size_t n = d.get_size();
    if (n > size_) {
      data_.reset(new uint8_t[n]);
      size_ = n;
    }
    return memory(d, Engine(), data_.get());
  }

 private:
  std::unique_ptr<uint8_t[]> data_;
  size_t size_ = 0;
};

enum Slot { kPackedX, kPackedH, kBackX, kBackH, kDiffX, kDiffH, kStates, kStateH, kStateC,
            kWorkspace, kScratch, kSlots };

struct Arenas {
  Arena slot[kSlots];
  memory Get(Slot s, const memory::desc& d) { return slot[s].Get(d); }
};

class BorrowedArenas {
 public:
  BorrowedArenas() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (free_.empty()) {
      arenas_ = std::make_unique<Arenas>();
    } else {
      arenas_ = std::move(free_.back());
      free_.pop_back();
    }
  }
  ~BorrowedArenas() {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(std::move(arenas_));
  }
  Arenas* operator->() { return arenas_.get(); }
  Arenas& get() { return *arenas_; }

 private:
  static inline std::mutex mutex_;
  static inline std::vector<std::unique_ptr<Arenas>> free_;
  std::unique_ptr<Arenas> arenas_;
};

// What a training forward pass leaves for the backward pass of the same inputs: a copy
// of the inputs and oneDNN's workspace. The backward pass takes the entry whose inputs
// equal its own, byte for byte (so the workspace is what rerunning the forward pass would
// write), and reruns the forward pass only when there is none (more forward passes than
// kMaxSaved before their backward passes, or a vmap/remat that reran or copied them).
// Entries are recycled with their buffers, so a training step does not page-fault the
// workspace afresh (which made returning it to XLA slower than the rerun).
struct SavedForward {
  Shape shape{};
  std::vector<uint8_t> inputs;
  std::unique_ptr<uint8_t[]> workspace;
  size_t workspace_size = 0;
};

class SavedForwards {
 public:
  static constexpr size_t kMaxSaved = 8;

  // An entry for `s` (recycled if one is free) holding a copy of `inputs`.
  static std::unique_ptr<SavedForward> Start(const Shape& s,
                                             const std::vector<ffi::Buffer<ffi::F32>*>& inputs,
                                             size_t workspace_size) {
    std::unique_ptr<SavedForward> entry;
    {
      std::lock_guard<std::mutex> lock(recycle_mutex_);
      for (auto it = free_.begin(); it != free_.end(); ++it) {
        if ((*it)->shape == s) {
          entry = std::move(*it);
          free_.erase(it);
          break;
        }
      }
    }
    if (!entry) entry = std::make_unique<SavedForward>();
    entry->shape = s;
    if (entry->workspace_size < workspace_size) {
      entry->workspace.reset(new uint8_t[workspace_size]);
      entry->workspace_size = workspace_size;
    }
    entry->inputs.clear();
    for (auto* b : inputs) {
      auto* bytes = reinterpret_cast<const uint8_t*>(b->typed_data());
      entry->inputs.insert(entry->inputs.end(), bytes, bytes + b->size_bytes());
    }
    return entry;
  }

  static void Keep(std::unique_ptr<SavedForward> entry) {
    std::lock_guard<std::mutex> lock(mutex_);
    saved_.push_front(std::move(entry));
    while (saved_.size() > kMaxSaved) {
      Recycle(std::move(saved_.back()));
      saved_.pop_back();
    }
  }

  // The saved entry whose shape and inputs equal these, removed from the saved ones; or null.
  static std::unique_ptr<SavedForward> Take(const Shape& s,
                                            const std::vector<ffi::Buffer<ffi::F32>*>& inputs) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = saved_.begin(); it != saved_.end(); ++it) {
      if ((*it)->shape == s && SameInputs((*it)->inputs, inputs)) {
        auto entry = std::move(*it);
        saved_.erase(it);
        return entry;
      }
    }
    return nullptr;
  }

  static void Recycle(std::unique_ptr<SavedForward> entry) {
    std::lock_guard<std::mutex> lock(recycle_mutex_);
    free_.push_front(std::move(entry));
    while (free_.size() > kMaxSaved) free_.pop_back();
  }

 private:
  static bool SameInputs(const std::vector<uint8_t>& saved,
                         const std::vector<ffi::Buffer<ffi::F32>*>& inputs) {
    size_t offset = 0;
    for (auto* b : inputs) {
      size_t n = b->size_bytes();
      if (offset + n > saved.size() ||
          std::memcmp(saved.data() + offset, b->typed_data(), n) != 0)
        return false;
      offset += n;
    }
    return offset == saved.size();
  }

  static inline std::mutex mutex_, recycle_mutex_;
  static inline std::list<std::unique_ptr<SavedForward>> saved_, free_;
};

// `user` in the layout `d` wants: `user` itself when they agree, else a reordered copy.
memory Packed(dnnl::stream& stream, const memory& user, const memory::desc& d, Arena& arena) {
  if (user.get_desc() == d) return user;
  memory packed = arena.Get(d);
  dnnl::reorder(user, packed).execute(stream, const_cast<memory&>(user), packed);
  return packed;
}

ffi::Error ShapeError(const std::string& what) {
  return ffi::Error(ffi::ErrorCode::kInvalidArgument, "jaxlstm oneDNN LSTM: " + what);
}

// T, B, X, H from xs (T, B, X), or (B, T, X) batch-major, and w_h (H, 4H), after
// checking every input's shape.
ffi::ErrorOr<Shape> ShapeOf(const ffi::Buffer<ffi::F32>& xs, const ffi::Buffer<ffi::F32>& h0,
                            const ffi::Buffer<ffi::F32>& c0, const ffi::Buffer<ffi::F32>& w_x,
                            const ffi::Buffer<ffi::F32>& w_h, const ffi::Buffer<ffi::F32>& b,
                            bool batch_major) {
  auto x = xs.dimensions(), wh = w_h.dimensions(), wx = w_x.dimensions();
  if (x.size() != 3 || wh.size() != 2 || wx.size() != 2)
    return ffi::Unexpected(ShapeError("xs must be 3-D, w_x (X, 4H), w_h (H, 4H)"));
  Shape s = batch_major ? Shape{x[1], x[0], x[2], wh[0], true}
                        : Shape{x[0], x[1], x[2], wh[0], false};
  auto count = [](const ffi::Buffer<ffi::F32>& a) {
    return static_cast<int64_t>(a.element_count());
  };
  if (wh[1] != 4 * s.H || wx[0] != s.X || wx[1] != 4 * s.H || count(b) != 4 * s.H ||
      count(h0) != s.B * s.H || count(c0) != s.B * s.H)
    return ffi::Unexpected(ShapeError("inconsistent shapes"));
  return s;
}

// The forward pass into hs, h_T, c_T; with `workspace`, in training mode.
void RunForward(Primitives& p, const Shape& s, dnnl::stream& stream, Arenas& arenas,
                const float* xs,
                const float* h0, const float* c0, const float* w_x, const float* w_h,
                const float* b, float* hs, float* h_T, float* c_T, memory* workspace) {
  const auto& pd = workspace ? p.train_pd : p.infer_pd;
  Descs d(s);
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC_LAYER, Wrap(d.src, xs)},
      {DNNL_ARG_SRC_ITER, Wrap(d.state, h0)},
      {DNNL_ARG_SRC_ITER_C, Wrap(d.state, c0)},
      {DNNL_ARG_WEIGHTS_LAYER, Packed(stream, Wrap(d.w_x, w_x), pd.weights_layer_desc(),
                                        arenas.slot[kPackedX])},
      {DNNL_ARG_WEIGHTS_ITER, Packed(stream, Wrap(d.w_h, w_h), pd.weights_iter_desc(),
                                       arenas.slot[kPackedH])},
      {DNNL_ARG_BIAS, Wrap(d.bias, b)},
      {DNNL_ARG_DST_LAYER, Wrap(d.dst, hs)},
      {DNNL_ARG_DST_ITER, Wrap(d.state, h_T)},
      {DNNL_ARG_DST_ITER_C, Wrap(d.state, c_T)},
      {DNNL_ARG_SCRATCHPAD, arenas.Get(kScratch, pd.scratchpad_desc())}};
  if (workspace) args[DNNL_ARG_WORKSPACE] = *workspace;
  (workspace ? p.train : p.infer).execute(stream, args);
}

// oneDNN reports failures by exception; XLA wants an error value.
template <typename F>
ffi::Error Guarded(F run) {
  try {
    return run();
  } catch (const dnnl::error& e) {
    return ffi::Error(ffi::ErrorCode::kInternal,
                      std::string("jaxlstm oneDNN LSTM: oneDNN error: ") + e.what());
  } catch (const std::exception& e) {
    return ffi::Error(ffi::ErrorCode::kInternal, std::string("jaxlstm oneDNN LSTM: ") + e.what());
  }
}

using F32 = ffi::Buffer<ffi::F32>;
using OutF32 = ffi::ResultBuffer<ffi::F32>;

// The forward pass; in training mode (kTrain) it also keeps the inputs and oneDNN's
// workspace for the backward pass (SavedForwards).
template <bool kBatchMajor, bool kTrain>
ffi::Error Forward(F32 xs, F32 h0, F32 c0, F32 w_x, F32 w_h, F32 b, OutF32 hs, OutF32 h_T,
                   OutF32 c_T) {
  return Guarded([&]() -> ffi::Error {
    auto shape = ShapeOf(xs, h0, c0, w_x, w_h, b, kBatchMajor);
    if (shape.has_error()) return shape.error();
    const Shape& s = shape.value();
    Primitives& p = PrimitivesFor(s);
    std::unique_ptr<SavedForward> entry;
    memory workspace;
    if (kTrain) {
      const auto& ws_desc = p.train_pd.workspace_desc();
      entry = SavedForwards::Start(s, {&xs, &h0, &c0, &w_x, &w_h, &b}, ws_desc.get_size());
      workspace = memory(ws_desc, Engine(), entry->workspace.get());
    }
    dnnl::stream stream(Engine());
    BorrowedArenas arenas;
    RunForward(p, s, stream, arenas.get(), xs.typed_data(), h0.typed_data(), c0.typed_data(),
               w_x.typed_data(), w_h.typed_data(), b.typed_data(), hs->typed_data(),
               h_T->typed_data(), c_T->typed_data(), kTrain ? &workspace : nullptr);
    stream.wait();
    if (kTrain) SavedForwards::Keep(std::move(entry));
    return ffi::Error::Success();
  });
}

template <bool kBatchMajor>
ffi::Error Backward(F32 xs, F32 h0, F32 c0, F32 w_x, F32 w_h, F32 b, F32 hs_in, F32 h_T_in,
                    F32 c_T_in, F32 d_hs, F32 d_h_T, F32 d_c_T, OutF32 d_xs, OutF32 d_h0,
                    OutF32 d_c0, OutF32 d_w_x, OutF32 d_w_h, OutF32 d_b) {
  return Guarded([&]() -> ffi::Error {
    auto shape = ShapeOf(xs, h0, c0, w_x, w_h, b, kBatchMajor);
    if (shape.has_error()) return shape.error();
    const Shape& s = shape.value();
    Primitives& p = PrimitivesFor(s);
    const auto& pd = p.backward_pd;
    Descs d(s);
    dnnl::stream stream(Engine());
    BorrowedArenas arenas;
    auto saved = SavedForwards::Take(s, {&xs, &h0, &c0, &w_x, &w_h, &b});
    memory workspace, hs, h_T, c_T;
    if (saved) {
      workspace = memory(p.train_pd.workspace_desc(), Engine(), saved->workspace.get());
      hs = Wrap(d.dst, hs_in.typed_data());
      h_T = Wrap(d.state, h_T_in.typed_data());
      c_T = Wrap(d.state, c_T_in.typed_data());
    } else {  // rerun the forward pass into memory of our own
      workspace = arenas->Get(kWorkspace, p.train_pd.workspace_desc());
      hs = arenas->Get(kStates, d.dst);
      h_T = arenas->Get(kStateH, d.state);
      c_T = arenas->Get(kStateC, d.state);
      RunForward(p, s, stream, arenas.get(), xs.typed_data(), h0.typed_data(), c0.typed_data(),
                 w_x.typed_data(), w_h.typed_data(), b.typed_data(),
                 static_cast<float*>(hs.get_data_handle()),
                 static_cast<float*>(h_T.get_data_handle()),
                 static_cast<float*>(c_T.get_data_handle()), &workspace);
    }
    // oneDNN adds the weight gradients into these: they start at zero.
    memory d_wx = arenas->Get(kDiffX, pd.diff_weights_layer_desc());
    memory d_wh = arenas->Get(kDiffH, pd.diff_weights_iter_desc());
    std::memset(d_wx.get_data_handle(), 0, pd.diff_weights_layer_desc().get_size());
    std::memset(d_wh.get_data_handle(), 0, pd.diff_weights_iter_desc().get_size());
    std::memset(d_b->typed_data(), 0, d_b->size_bytes());
    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC_LAYER, Wrap(d.src, xs.typed_data())},
        {DNNL_ARG_SRC_ITER, Wrap(d.state, h0.typed_data())},
        {DNNL_ARG_SRC_ITER_C, Wrap(d.state, c0.typed_data())},
        {DNNL_ARG_WEIGHTS_LAYER,
         Packed(stream, Wrap(d.w_x, w_x.typed_data()), pd.weights_layer_desc(),
                arenas->slot[kBackX])},
        {DNNL_ARG_WEIGHTS_ITER,
         Packed(stream, Wrap(d.w_h, w_h.typed_data()), pd.weights_iter_desc(),
                arenas->slot[kBackH])},
        {DNNL_ARG_BIAS, Wrap(d.bias, b.typed_data())},
        {DNNL_ARG_DST_LAYER, hs},
        {DNNL_ARG_DST_ITER, h_T},
        {DNNL_ARG_DST_ITER_C, c_T},
        {DNNL_ARG_WORKSPACE, workspace},
        {DNNL_ARG_DIFF_SRC_LAYER, Wrap(d.src, d_xs->typed_data())},
        {DNNL_ARG_DIFF_SRC_ITER, Wrap(d.state, d_h0->typed_data())},
        {DNNL_ARG_DIFF_SRC_ITER_C, Wrap(d.state, d_c0->typed_data())},
        {DNNL_ARG_DIFF_WEIGHTS_LAYER, d_wx},
        {DNNL_ARG_DIFF_WEIGHTS_ITER, d_wh},
        {DNNL_ARG_DIFF_BIAS, Wrap(d.bias, d_b->typed_data())},
        {DNNL_ARG_DIFF_DST_LAYER, Wrap(d.dst, d_hs.typed_data())},
        {DNNL_ARG_DIFF_DST_ITER, Wrap(d.state, d_h_T.typed_data())},
        {DNNL_ARG_DIFF_DST_ITER_C, Wrap(d.state, d_c_T.typed_data())},
        {DNNL_ARG_SCRATCHPAD, arenas->Get(kScratch, pd.scratchpad_desc())}};
    p.backward.execute(stream, args);
    memory user_wx = Wrap(d.w_x, d_w_x->typed_data()), user_wh = Wrap(d.w_h, d_w_h->typed_data());
    dnnl::reorder(d_wx, user_wx).execute(stream, d_wx, user_wx);
    dnnl::reorder(d_wh, user_wh).execute(stream, d_wh, user_wh);
    stream.wait();
    if (saved) SavedForwards::Recycle(std::move(saved));
    return ffi::Error::Success();
  });
}

}  // namespace

#define JAXLSTM_FORWARD_BINDING                                                         \
  ffi::Ffi::Bind()                                                                       \
      .Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>()                 \
      .Ret<F32>().Ret<F32>().Ret<F32>()
#define JAXLSTM_BACKWARD_BINDING                                                        \
  ffi::Ffi::Bind()                                                                       \
      .Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>()                 \
      .Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>().Arg<F32>()                 \
      .Ret<F32>().Ret<F32>().Ret<F32>().Ret<F32>().Ret<F32>().Ret<F32>()

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxlstmLstmForward, (Forward<false, false>),
                              JAXLSTM_FORWARD_BINDING);
XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxlstmLstmForwardTrain, (Forward<false, true>),
                              JAXLSTM_FORWARD_BINDING);
XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxlstmLstmBackward, Backward<false>, JAXLSTM_BACKWARD_BINDING);
XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxlstmLstmForwardBatchMajor, (Forward<true, false>),
                              JAXLSTM_FORWARD_BINDING);
XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxlstmLstmForwardTrainBatchMajor, (Forward<true, true>),
                              JAXLSTM_FORWARD_BINDING);
XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxlstmLstmBackwardBatchMajor, Backward<true>,
                              JAXLSTM_BACKWARD_BINDING);
