// The plugin ABI: the one entry point a plugin library exports, and the
// Registrar through which it adds its components to the host.
//
// A plugin source file ends with
//
//   GRADLAB_PLUGIN("relu", "1.0.0", "Rectified linear unit (Nair & Hinton 2010)", register_relu)
//
// where register_relu(gradlab::Registrar&) adds one or more components. The
// macro exports a single Boost.DLL alias, `gradlab_plugin`, to a function that
// returns a PluginInfo. The host reads api_version first, then compares abi_tag,
// and only then calls anything else. Nothing registers itself from a static
// initializer.
#pragma once

#include <boost/dll/alias.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gradlab/abi.hpp"
#include "gradlab/data.hpp"
#include "gradlab/initializer.hpp"
#include "gradlab/layer.hpp"
#include "gradlab/optimizer.hpp"
#include "gradlab/params.hpp"
#include "gradlab/pretrain.hpp"
#include "gradlab/schedule.hpp"
#include "gradlab/version.hpp"

namespace gradlab {

enum class ComponentKind { layer, initializer, optimizer, pretrain, dataset, schedule };

inline const char* to_string(ComponentKind kind) {
  switch (kind) {
    case ComponentKind::layer: return "layer";
    case ComponentKind::initializer: return "initializer";
    case ComponentKind::optimizer: return "optimizer";
    case ComponentKind::pretrain: return "pretrain";
    case ComponentKind::dataset: return "dataset";
    case ComponentKind::schedule: return "schedule";
  }
  return "?";
}

// What the host shows and validates for one component. `description` is one
// line and cites the paper the component implements.
struct ComponentInfo {
  std::string name;
  std::string description;
  Schema schema;
  // Layers: the spec node may hold `layers: [...]`, built by the host and
  // handed to the factory as children (a residual block). Schedules: the spec
  // node may hold `then: {name: ...}`, built by the host and handed to the
  // factory (linear_warmup).
  bool accepts_children = false;
  // Layers only: spec keys besides `init:` that name an initializer for a part
  // of the layer's weights (an RNN's "recurrent_init"). The host validates and
  // builds each one given and hands it over with Layer::set_initializer before
  // initialize(); a key left out leaves that part to the layer's `init`.
  std::vector<std::string> initializer_keys;
  // Data sets only: whether the data depends on DataContext::seed (the run's
  // seed). A study shares one copy of a data set that says false among all
  // its runs, and loads one per run seed otherwise; true is the safe default
  // for a generator, a file loader says false.
  bool uses_run_seed = true;
};

// A child layer of a block, with the initializer its spec node asked for
// (null: use the one the block is initialized with).
struct ChildLayer {
  std::shared_ptr<Layer> layer;
  std::shared_ptr<const Initializer> init;
};

using LayerFactory = std::function<std::unique_ptr<Layer>(const Params&, std::vector<ChildLayer> children)>;
using InitializerFactory = std::function<std::unique_ptr<Initializer>(const Params&)>;
using OptimizerFactory = std::function<std::unique_ptr<Optimizer>(const Params&)>;
using PretrainFactory = std::function<std::unique_ptr<PretrainStrategy>(const Params&)>;
// `then` is the schedule the spec's `then:` names, or null when it has none.
using ScheduleFactory = std::function<std::unique_ptr<Schedule>(const Params&, std::shared_ptr<const Schedule> then)>;
using DatasetFactory = std::function<std::shared_ptr<const Dataset>(const Params&, const DataContext&)>;

// Owned by the host. Factories may be called concurrently from many runs, so
// they must not touch shared mutable state.
class Registrar {
 public:
  virtual void add_layer(ComponentInfo info, LayerFactory factory) = 0;
  virtual void add_initializer(ComponentInfo info, InitializerFactory factory) = 0;
  virtual void add_optimizer(ComponentInfo info, OptimizerFactory factory) = 0;
  virtual void add_pretrain(ComponentInfo info, PretrainFactory factory) = 0;
  virtual void add_dataset(ComponentInfo info, DatasetFactory factory) = 0;
  virtual void add_schedule(ComponentInfo info, ScheduleFactory factory) = 0;

 protected:
  ~Registrar() = default;
};

// The plain struct behind the entry point. api_version stays the first member
// in every future version so that any host can read it safely.
struct PluginInfo {
  std::uint32_t api_version;
  const char* abi_tag;
  const char* name;
  const char* version;
  const char* description;
  void (*register_components)(Registrar&);
};

using PluginEntryPoint = const PluginInfo*();
inline constexpr const char* plugin_entry_symbol = "gradlab_plugin";

}  // namespace gradlab

#define GRADLAB_PLUGIN(NAME, VERSION, DESCRIPTION, REGISTER_FN)                                      \
  namespace gradlab_plugin_detail {                                                                  \
  const ::gradlab::PluginInfo* entry() {                                                             \
    static const ::gradlab::PluginInfo info{                                                         \
        ::gradlab::plugin_api_version, ::gradlab::abi_tag, NAME, VERSION, DESCRIPTION, REGISTER_FN}; \
    return &info;                                                                                    \
  }                                                                                                  \
  }                                                                                                  \
  BOOST_DLL_ALIAS(gradlab_plugin_detail::entry, gradlab_plugin)
