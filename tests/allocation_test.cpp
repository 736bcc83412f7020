// The training step allocates no memory after the first step.
//
// This file interposes the C allocator (malloc, calloc, realloc, free,
// posix_memalign, aligned_alloc, memalign, valloc) and every global operator
// new/delete for the whole test executable. The replacements forward to glibc's
// __libc_* entry points and count only while the calling thread has opened an
// AllocationWindow, so the rest of the suite runs unaffected. Plugins, loaded
// with dlopen, bind their malloc and operator new to these definitions (the
// executable exports them), so allocations inside layers and optimizers count.
//
// Each case builds a network through the public API (spec -> build_network ->
// registry initializer and optimizer), runs one warm-up train_step (the step of
// gradlab's training loop: gather, loss_and_gradient, clipping, optimizer step)
// and then requires zero allocations and zero frees over the next steps.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <malloc.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <new>
#include <numeric>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "../plugins/pretrain/autoencoder/autoencoder_level.hpp"
#include "gradlab/core/error.hpp"
#include "gradlab/core/run.hpp"
#include "test_support.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(__SANITIZE_MEMORY__)
#define GRADLAB_COUNT_ALLOCATIONS 0  // the sanitizer owns malloc
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define GRADLAB_COUNT_ALLOCATIONS 0
#endif
#endif
#if !defined(GRADLAB_COUNT_ALLOCATIONS) && defined(__GLIBC__)
#define GRADLAB_COUNT_ALLOCATIONS 1
#endif
#ifndef GRADLAB_COUNT_ALLOCATIONS
#define GRADLAB_COUNT_ALLOCATIONS 0
#endif

namespace {

// Only the thread that opened a window counts; the counters are atomic because
// nothing stops a plugin from allocating on another thread.
thread_local bool counting = false;
std::atomic<long> allocations{0};
std::atomic<long> frees{0};

inline void count_allocation() {
  if (counting) allocations.fetch_add(1, std::memory_order_relaxed);
}
inline void count_free(void* p) {
  if (p && counting) frees.fetch_add(1, std::memory_order_relaxed);
}

struct AllocationCounts {
  long allocations = 0;
  long frees = 0;
};

// Counts the allocations of this thread from construction to stop().
class AllocationWindow {
 public:
  AllocationWindow() {
    allocations = 0;
    frees = 0;
    counting = true;
  }
  ~AllocationWindow() { counting = false; }
  AllocationWindow(const AllocationWindow&) = delete;
  AllocationWindow& operator=(const AllocationWindow&) = delete;
  AllocationCounts stop() {
    counting = false;
    return {allocations.load(), frees.load()};
  }
};

}  // namespace

#if GRADLAB_COUNT_ALLOCATIONS
extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void __libc_free(void* p);
void* __libc_memalign(std::size_t alignment, std::size_t size);
void* __libc_valloc(std::size_t size);

void* malloc(std::size_t size) {
  count_allocation();
  return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) {
  count_allocation();
  return __libc_calloc(count, size);
}
void* realloc(void* p, std::size_t size) {
  count_allocation();
  return __libc_realloc(p, size);
}
void free(void* p) {
  count_free(p);
  __libc_free(p);
}
void* memalign(std::size_t alignment, std::size_t size) {
  count_allocation();
  return __libc_memalign(alignment, size);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) {
  count_allocation();
  return __libc_memalign(alignment, size);
}
void* valloc(std::size_t size) {
  count_allocation();
  return __libc_valloc(size);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) {
  if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) return EINVAL;
  count_allocation();
  void* p = __libc_memalign(alignment, size);
  if (!p && size != 0) return ENOMEM;
  *out = p;
  return 0;
}
}  // extern "C"

namespace {
void* new_or_throw(std::size_t size) {
  for (;;) {
    if (void* p = std::malloc(size ? size : 1)) return p;
    std::new_handler handler = std::get_new_handler();
    if (!handler) throw std::bad_alloc();
    handler();
  }
}
void* aligned_new_or_throw(std::size_t size, std::align_val_t alignment) {
  for (;;) {
    void* p = nullptr;
    if (posix_memalign(&p, std::max(static_cast<std::size_t>(alignment), sizeof(void*)), size ? size : 1) == 0)
      return p;
    std::new_handler handler = std::get_new_handler();
    if (!handler) throw std::bad_alloc();
    handler();
  }
}
}  // namespace

void* operator new(std::size_t size) { return new_or_throw(size); }
void* operator new[](std::size_t size) { return new_or_throw(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return new_or_throw(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return new_or_throw(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t size, std::align_val_t a) { return aligned_new_or_throw(size, a); }
void* operator new[](std::size_t size, std::align_val_t a) { return aligned_new_or_throw(size, a); }
void* operator new(std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return aligned_new_or_throw(size, a);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return aligned_new_or_throw(size, a);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
#endif  // GRADLAB_COUNT_ALLOCATIONS

namespace {

using namespace gradlab;

#define REQUIRE_COUNTER() \
  if (!GRADLAB_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocation counting is off in sanitizer builds"

// The counter must be able to see an allocation, or a zero below means nothing.
TEST(AllocationCounter, SeesEveryKindOfAllocation) {
  REQUIRE_COUNTER();
  std::vector<int> v;
  {
    AllocationWindow window;
    v.push_back(1);  // operator new
    const auto c = window.stop();
    EXPECT_EQ(c.allocations, 1);
    EXPECT_EQ(c.frees, 0);
  }
  {
    AllocationWindow window;
    v = std::vector<int>();  // operator delete
    EXPECT_EQ(window.stop().frees, 1);
  }
  // Through pointers the optimizer cannot see through, so no call is elided.
  void* (*volatile c_malloc)(std::size_t) = &std::malloc;
  void* (*volatile c_calloc)(std::size_t, std::size_t) = &std::calloc;
  void* (*volatile c_realloc)(void*, std::size_t) = &std::realloc;
  void (*volatile c_free)(void*) = &std::free;
  int (*volatile c_posix_memalign)(void**, std::size_t, std::size_t) = &posix_memalign;
  void* (*volatile c_aligned_alloc)(std::size_t, std::size_t) = &aligned_alloc;
  void* (*volatile c_memalign)(std::size_t, std::size_t) = &memalign;
  AllocationWindow window;
  void* a = c_malloc(10);
  void* b = c_calloc(3, 8);
  a = c_realloc(a, 100);
  void* d = nullptr;
  ASSERT_EQ(c_posix_memalign(&d, 64, 128), 0);
  void* e = c_aligned_alloc(64, 128);
  void* f = c_memalign(64, 128);
  // Kept in volatile pointers: clang elides a new-expression whose result
  // does not escape ([expr.new]/10), and then nothing would be counted.
  double* volatile g = new double[4];
  float* volatile h = new (std::align_val_t(128)) float[8];
  delete[] g;
  ::operator delete[](h, std::align_val_t(128));
  for (void* p : {a, b, d, e, f}) c_free(p);
  const auto counts = window.stop();
  EXPECT_EQ(counts.allocations, 8);
  EXPECT_EQ(counts.frees, 7);
}

// Plugins are dlopen'ed: their calls to malloc and operator new bind to the
// first definition in the global scope, which must be this executable's.
TEST(AllocationCounter, PluginsBindToTheCountingAllocator) {
  REQUIRE_COUNTER();
  void* (*ours_malloc)(std::size_t) = &malloc;
  void* (*ours_new)(std::size_t) = &::operator new;
  void (*ours_delete)(void*) noexcept = &::operator delete;
  EXPECT_EQ(dlsym(RTLD_DEFAULT, "malloc"), reinterpret_cast<void*>(ours_malloc));
  EXPECT_EQ(dlsym(RTLD_DEFAULT, "free"), reinterpret_cast<void*>(&free));
  EXPECT_EQ(dlsym(RTLD_DEFAULT, "_Znwm"), reinterpret_cast<void*>(ours_new));
  EXPECT_EQ(dlsym(RTLD_DEFAULT, "_ZdlPv"), reinterpret_cast<void*>(ours_delete));
  // And a plugin's factory (its `new` runs inside gradlab_dense.so) is counted.
  const auto& registry = test::bundled_registry();
  auto spec = test::spec_from_yaml("data: {name: digits}\nmodel: {layers: [{type: dense, units: 10}]}\n");
  AllocationWindow window;
  auto layer = registry.make_layer("dense", spec.layers[0].layer.params);
  EXPECT_GE(window.stop().allocations, 1);
}

struct Case {
  std::string name;
  std::string model;  // YAML of model.layers
  std::string optimizer = "{name: sgd, lr: 0.01}";
  Index inputs = 64;
  Index classes = 10;
  Index batch = 32;
  Index examples = 100;            // not a multiple of the batch: the last batch of an epoch is smaller
  std::vector<std::string> needs;  // plugins that must be present, else the case is skipped
  Task task = Task::classification;
  double clip_value = 0.0, clip_norm = 0.0;
  std::vector<std::string> overrides;
  Index steps = 1;  // > 1: sequences of mixed lengths (1 .. steps), padded at the end
};

// gtest prints a failing parameter with this instead of its bytes.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::shared_ptr<Dataset> synthetic(const Case& c) {
  auto data = std::make_shared<Dataset>();
  data->name = "synthetic";
  data->task = c.task;
  data->input = {c.inputs, c.steps};
  data->outputs = c.classes;
  Rng rng(7);
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
  data->train.examples = c.examples;
  data->train.inputs.resize(c.inputs, c.examples * c.steps);
  if (c.steps > 1)
    for (Index e = 0; e < c.examples; ++e) data->train.lengths.push_back(std::int32_t(1 + (e * 7) % c.steps));
  for (Index i = 0; i < data->train.inputs.size(); ++i) data->train.inputs.data()[i] = pixel(rng);
  if (c.task == Task::classification) {
    std::uniform_int_distribution<int> label(0, static_cast<int>(c.classes) - 1);
    data->train.labels.resize(static_cast<std::size_t>(c.examples));
    for (auto& l : data->train.labels) l = label(rng);
  } else {
    data->train.targets.resize(c.classes, c.examples);
    for (Index i = 0; i < data->train.targets.size(); ++i) data->train.targets.data()[i] = pixel(rng);
  }
  data->test = data->train;
  return data;
}

std::string missing_plugin(const std::vector<std::string>& needs) {
  const auto& registry = test::bundled_registry();
  for (const auto& name : needs)
    if (!registry.find(ComponentKind::layer, name) && !registry.find(ComponentKind::optimizer, name)) return name;
  return "";
}

// Runs one warm-up step, then `steps` more (two epochs' worth, so the smaller
// last batch and the wrap to a full batch are both inside the window) and an
// evaluation of both splits, and returns the allocations and frees counted
// over those.
AllocationCounts count_training_steps(const Case& c, int steps = 0) {
  const auto& registry = test::bundled_registry();
  const RunSpec spec = test::spec_from_yaml(
      "data: {name: digits}\nmodel: {layers: " + c.model + "}\noptimizer: " + c.optimizer + "\n", c.overrides);
  auto data = synthetic(c);
  auto network = build_network(spec, registry, *data);
  Rng rng(1);
  auto init = registry.make_initializer(spec.init.name, spec.init.params);
  auto optimizer = registry.make_optimizer(spec.optimizer.name, spec.optimizer.params);
  network->reserve(c.batch);
  network->initialize(*init, rng);
  network->set_stochastic_stream(Rng(2));  // as train_run does: dropout draws its masks in the window
  optimizer->reset(network->param_count());
  std::vector<std::int64_t> order(static_cast<std::size_t>(c.examples));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);

  std::int64_t iteration = 0;
  Index first = 0;
  auto step = [&] {
    const Index count = std::min(c.batch, c.examples - first);
    const double loss = train_step(*network, *optimizer, data->train, order.data() + first, count,
                                   StepInfo{.iteration = ++iteration}, c.clip_value, c.clip_norm);
    first += count;
    if (first >= c.examples) first = 0;
    return loss;
  };
  const double warmup_loss = step();
  EXPECT_TRUE(std::isfinite(warmup_loss));
  if (steps == 0) steps = static_cast<int>(2 * ((c.examples + c.batch - 1) / c.batch));
  double loss = 0.0;
  AllocationCounts counts;
  {
    AllocationWindow window;
    for (int s = 0; s < steps; ++s) loss = step();
    // The per-epoch evaluation of both splits: one forward pass each, in place.
    const auto train = network->evaluate(data->train);
    const auto test = network->evaluate(data->test);
    counts = window.stop();
    EXPECT_TRUE(std::isfinite(train.loss) && std::isfinite(test.loss)) << c.name;
  }
  EXPECT_TRUE(std::isfinite(loss)) << c.name;
  return counts;
}

const std::string kDeepSigmoid =
    "[{repeat: 10, layers: [{type: dense, units: 100}, {type: sigmoid}]}, {type: dense, units: 10}]";

std::vector<Case> cases() {
  std::vector<Case> out;
  out.push_back({"mlp_64-100x10-10_sigmoid_b32_sgd", kDeepSigmoid});
  {
    Case c{"mlp_784-1024x4-10_sigmoid_b256_sgd",
           "[{repeat: 4, layers: [{type: dense, units: 1024}, {type: sigmoid}]}, {type: dense, units: 10}]"};
    c.inputs = 784;
    c.batch = 256;
    c.examples = 600;
    out.push_back(c);
  }
  {
    Case c{"sgd_weight_decay_and_clipping", kDeepSigmoid, "{name: sgd, lr: 0.01, weight_decay: 0.001}"};
    c.clip_value = 0.01;
    c.clip_norm = 0.05;
    out.push_back(c);
  }
  {
    Case c{"regression_mse", "[{type: dense, units: 50}, {type: sigmoid}, {type: dense, units: 3}]"};
    c.task = Task::regression;
    c.classes = 3;
    out.push_back(c);
  }
  // Optimizers and layers from the other plugins, when they are in the tree.
  const std::string small =
      "[{type: dense, units: 100}, {type: sigmoid}, {type: dense, units: 100}, {type: sigmoid}, "
      "{type: dense, units: 10}]";
  out.push_back({"momentum", small, "{name: momentum, lr: 0.01, momentum: 0.9}", 64, 10, 32, 100, {"momentum"}});
  out.push_back(
      {"momentum_nesterov", small, "{name: momentum, lr: 0.01, nesterov: true}", 64, 10, 32, 100, {"momentum"}});
  out.push_back({"rmsprop", small, "{name: rmsprop, lr: 0.001}", 64, 10, 32, 100, {"rmsprop"}});
  out.push_back({"adam", small, "{name: adam, lr: 0.001, weight_decay: 0.01}", 64, 10, 32, 100, {"adam"}});
  for (std::string variant : {"rprop-", "rprop+", "irprop-", "irprop+"})
    out.push_back({(variant.back() == '+' ? variant.substr(0, variant.size() - 1) + "_plus"
                                          : variant.substr(0, variant.size() - 1) + "_minus"),
                   small,
                   "{name: rprop, variant: \"" + variant + "\"}",
                   64,
                   10,
                   32,
                   100,
                   {"rprop"}});
  for (std::string act : {"tanh", "relu", "leaky_relu"})
    out.push_back({act,
                   "[{type: dense, units: 100}, {type: " + act + "}, {type: dense, units: 100}, {type: " + act +
                       "}, {type: dense, units: 10}]",
                   "{name: sgd, lr: 0.01}",
                   64,
                   10,
                   32,
                   100,
                   {act}});
  out.push_back({"batch_norm",
                 "[{type: dense, units: 100}, {type: batch_norm}, {type: sigmoid}, {type: dense, units: 100}, "
                 "{type: batch_norm, affine: false}, {type: sigmoid}, {type: dense, units: 10}]",
                 "{name: sgd, lr: 0.01}",
                 64,
                 10,
                 32,
                 100,
                 {"batch_norm"}});
  out.push_back(
      {"residual",
       "[{type: dense, units: 100}, {repeat: 3, layers: [{type: residual, learn_scale: true, layers: "
       "[{type: dense, units: 100}, {type: sigmoid}, {type: dense, units: 100}]}]}, {type: dense, units: 10}]",
       "{name: sgd, lr: 0.01}",
       64,
       10,
       32,
       100,
       {"residual"}});
  // Recurrent layers on padded sequences (BPTT over 12 steps, a smaller last batch).
  const std::vector<std::pair<std::string, std::string>> recurrent{
      {"rnn_sequence", "{type: rnn, units: 16}"},
      {"lstm_tbptt", "{type: lstm, units: 16, tbptt: 5}"},
      {"lstm_rnn_stack", "{type: lstm, units: 16, sequence: all}, {type: rnn, units: 8, activation: relu}"}};
  for (const auto& [name, layers] : recurrent) {
    Case c{name, "[" + layers + ", {type: dense, units: 10}]"};
    c.inputs = 6;
    c.steps = 12;
    c.needs = {"rnn", "lstm"};
    out.push_back(c);
  }
  {
    Case c{"dropout_sequence", "[{type: dropout, p: 0.2}, {type: rnn, units: 16}, {type: dense, units: 10}]"};
    c.inputs = 6;
    c.steps = 12;
    c.needs = {"rnn", "dropout"};
    out.push_back(c);
  }
  // The fully recurrent net of the weight-guessing experiments, both update orders.
  for (const auto& [name, layers] : std::vector<std::pair<std::string, std::string>>{
           {"fully_recurrent_layered", "{type: fully_recurrent, units: 5, outputs: 2, bias: hidden}"},
           {"fully_recurrent_synchronous", "{type: fully_recurrent, units: 5, update: synchronous}"}}) {
    Case c{name, "[" + layers + ", {type: dense, units: 10}]"};
    c.inputs = 6;
    c.steps = 12;
    c.needs = {"fully_recurrent"};
    out.push_back(c);
  }
  return out;
}

class TrainingStepAllocations : public ::testing::TestWithParam<Case> {};

TEST_P(TrainingStepAllocations, NoneAfterTheFirstStep) {
  REQUIRE_COUNTER();
  const Case& c = GetParam();
  if (auto missing = missing_plugin(c.needs); !missing.empty())
    GTEST_SKIP() << "plugin '" << missing << "' is not built yet";
  const auto counts = count_training_steps(c);
  EXPECT_EQ(counts.allocations, 0) << c.name << ": the training step allocated after the first step";
  EXPECT_EQ(counts.frees, 0) << c.name << ": the training step freed memory after the first step";
}

INSTANTIATE_TEST_SUITE_P(Networks, TrainingStepAllocations, ::testing::ValuesIn(cases()), [](const auto& info) {
  std::string name = info.param.name;
  for (auto& ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return name;
});

// Every optimizer in the registry, with its default parameters, including ones
// added after this test was written.
TEST(TrainingStepAllocations, EveryRegisteredOptimizer) {
  REQUIRE_COUNTER();
  const auto& registry = test::bundled_registry();
  int tested = 0;
  for (const auto* entry : registry.entries(ComponentKind::optimizer)) {
    Case c{"optimizer " + entry->info.name, "[{type: dense, units: 50}, {type: sigmoid}, {type: dense, units: 10}]",
           "{name: " + entry->info.name + "}"};
    AllocationCounts counts;
    try {
      counts = count_training_steps(c);
    } catch (const InputError& e) {  // needs a parameter without a default
      std::cout << "[   NOTE   ] " << c.name << " not covered with its defaults: " << e.what() << "\n";
      continue;
    }
    EXPECT_EQ(counts.allocations, 0) << c.name;
    EXPECT_EQ(counts.frees, 0) << c.name;
    ++tested;
  }
  EXPECT_GE(tested, 1);
}

// Every layer in the registry that can sit, with its defaults, between two
// dense layers of an MLP (activations, normalisations, ...). Layers that need
// parameters, children or sequences are covered by the cases above, or not.
TEST(TrainingStepAllocations, EveryRegisteredLayerThatFitsAnMlp) {
  REQUIRE_COUNTER();
  const auto& registry = test::bundled_registry();
  int tested = 0;
  for (const auto* entry : registry.entries(ComponentKind::layer)) {
    Case c{"layer " + entry->info.name,
           "[{type: dense, units: 40}, {type: " + entry->info.name + "}, {type: dense, units: 10}]"};
    AllocationCounts counts;
    try {
      counts = count_training_steps(c);
    } catch (const InputError& e) {
      std::cout << "[   NOTE   ] " << c.name << " does not fit an MLP with its defaults: " << e.what() << "\n";
      continue;
    }
    EXPECT_EQ(counts.allocations, 0) << c.name;
    EXPECT_EQ(counts.frees, 0) << c.name;
    ++tested;
  }
  EXPECT_GE(tested, 1);  // sigmoid at least
}

// A step that does allocate is caught: a network whose input must be gathered
// into a bigger workspace than the one reserved grows it inside the window.
TEST(TrainingStepAllocations, DetectsAGrowingWorkspace) {
  REQUIRE_COUNTER();
  const auto& registry = test::bundled_registry();
  Case c{"grow", "[{type: dense, units: 20}, {type: dense, units: 10}]"};
  const RunSpec spec = test::spec_from_yaml("data: {name: digits}\nmodel: {layers: " + c.model + "}\n");
  auto data = synthetic(c);
  auto network = build_network(spec, registry, *data);
  Rng rng(1);
  auto init = registry.make_initializer(spec.init.name, spec.init.params);
  auto optimizer = registry.make_optimizer(spec.optimizer.name, spec.optimizer.params);
  network->reserve(8);
  network->initialize(*init, rng);
  optimizer->reset(network->param_count());
  std::vector<std::int64_t> order(static_cast<std::size_t>(c.examples));
  std::iota(order.begin(), order.end(), 0);
  train_step(*network, *optimizer, data->train, order.data(), 8, StepInfo{.iteration = 1});
  AllocationWindow window;
  train_step(*network, *optimizer, data->train, order.data(), 16,
             StepInfo{.iteration = 2});  // twice the reserved batch
  EXPECT_GT(window.stop().allocations, 0);
}

// The autoencoder pretraining step (plugins/pretrain/autoencoder): a level's
// masking, forward and backward through its chain, tied-weight bookkeeping and
// optimizer step allocate nothing after the first step, for full and smaller
// batches, tied and untied, with either reconstruction.
TEST(TrainingStepAllocations, AutoencoderLevelStep) {
  REQUIRE_COUNTER();
  if (auto missing = missing_plugin({"dense", "sigmoid", "tanh", "sgd", "adam"}); !missing.empty())
    GTEST_SKIP() << "plugin '" << missing << "' is not built yet";
  RegistryComponents components(test::bundled_registry());
  using autoencoder::Reconstruction;
  for (const bool tied : {true, false})
    for (const auto& [activation, loss, optimizer] : {std::tuple{"sigmoid", Reconstruction::cross_entropy, "sgd"},
                                                      std::tuple{"tanh", Reconstruction::mse, "adam"}}) {
      SCOPED_TRACE(std::string(activation) + (tied ? " tied " : " untied ") + optimizer);
      auto act = components.make_layer(activation, Params());
      act->configure({32, 1});
      autoencoder::LevelOptions options;
      options.batch = 20;
      options.tied = tied;
      options.loss = loss;
      options.optimizer = optimizer;
      options.lr = 0.01;
      autoencoder::Level level(components, *act, 64, 32, true, options);
      Rng rng(5);
      Vector encoder(64 * 32 + 32);
      for (Index k = 0; k < encoder.size(); ++k) encoder[k] = Scalar(double(rng() % 1000) / 1000.0 - 0.5) / 8;
      level.start(ConstVectorMap(encoder.data(), encoder.size()));
      Matrix x(64, 20);
      for (Index k = 0; k < x.size(); ++k) x.data()[k] = Scalar(double(rng() % 1000) / 1000.0);
      level.step(ConstMatrixMap(x.data(), 64, 20), 0.3, rng);
      AllocationWindow window;
      for (int s = 0; s < 3; ++s) {
        level.step(ConstMatrixMap(x.data(), 64, 20), 0.3, rng);
        level.step(ConstMatrixMap(x.data(), 64, 7), 0.0, rng);  // an epoch's smaller last batch
      }
      const auto counts = window.stop();
      EXPECT_EQ(counts.allocations, 0);
      EXPECT_EQ(counts.frees, 0);
    }
}

}  // namespace
