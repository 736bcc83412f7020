// The registry of components, and the plugin loader that fills it.
//
// A Registry is an ordinary object owned by the host: two registries in one
// process are independent. Loading a plugin directory never throws for a bad
// library; each problem is returned as a LoadProblem naming the library's path,
// and every good library still loads.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gradlab/plugin.hpp"

namespace gradlab {

// Where a component came from: a plugin library, or the core itself (data sets).
struct PluginRecord {
  std::string name;
  std::string version;
  std::string description;
  std::string path;  // empty for components built into the core
};

struct LoadProblem {
  std::string path;
  std::string message;
};

class Registry {
 public:
  struct Entry {
    ComponentKind kind;
    ComponentInfo info;
    LayerFactory layer;
    InitializerFactory initializer;
    OptimizerFactory optimizer;
    PretrainFactory pretrain;
    DatasetFactory dataset;
    ScheduleFactory schedule;
    std::shared_ptr<const PluginRecord> plugin;
    std::shared_ptr<void> library;  // keeps the plugin library loaded while any handle lives
  };

  // Registers the core's built-in components (the data sets).
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Loads one library. Returns the problem instead of throwing.
  std::optional<LoadProblem> load_library(const std::filesystem::path& path);
  // Loads every *.so in a folder (sorted by name), returning all problems.
  std::vector<LoadProblem> load_directory(const std::filesystem::path& dir);
  // The standard search: each of `extra_dirs` (--plugin-dir), then each folder
  // of GRADLAB_PLUGIN_PATH, then the folder shipped next to the core library.
  // A library already loaded from an earlier folder (same file) is skipped.
  std::vector<LoadProblem> load_standard(const std::vector<std::filesystem::path>& extra_dirs = {});
  // The folder of plugins that ships with this core (build tree or install prefix).
  static std::filesystem::path bundled_plugin_dir();

  const Entry* find(ComponentKind kind, const std::string& name) const;
  // Throws InputError(where, ...) naming the nearest known names when absent.
  const Entry& get(ComponentKind kind, const std::string& name, const std::string& where) const;
  std::vector<const Entry*> entries(ComponentKind kind) const;
  std::vector<const Entry*> entries() const;
  std::vector<std::shared_ptr<const PluginRecord>> plugins() const { return plugins_; }

  // Factories wrapped so that each object keeps its library alive. Params must
  // already be validated (see validate_params in spec.hpp).
  std::shared_ptr<Layer> make_layer(const std::string& name, const Params& params,
                                    std::vector<ChildLayer> children = {}) const;
  std::shared_ptr<Initializer> make_initializer(const std::string& name, const Params& params) const;
  std::shared_ptr<Optimizer> make_optimizer(const std::string& name, const Params& params) const;
  std::shared_ptr<PretrainStrategy> make_pretrain(const std::string& name, const Params& params) const;
  // `then`: the schedule a `then:` key names (ComponentInfo::accepts_children), or null.
  std::shared_ptr<Schedule> make_schedule(const std::string& name, const Params& params,
                                          std::shared_ptr<const Schedule> then = nullptr) const;
  std::shared_ptr<const Dataset> make_dataset(const std::string& name, const Params& params,
                                              const DataContext& context) const;

  // Adds a component that is part of the host application itself (no library).
  void add_builtin(Entry entry);

 private:
  class Staging;
  std::map<std::pair<ComponentKind, std::string>, Entry> entries_;
  std::vector<std::shared_ptr<const PluginRecord>> plugins_;
  std::vector<std::filesystem::path> loaded_paths_;
};

// Up to `max` names from `candidates` closest to `name` by edit distance, for
// "did you mean" hints; empty when nothing is reasonably close.
std::vector<std::string> nearest_names(const std::string& name, const std::vector<std::string>& candidates,
                                       std::size_t max = 3);

}  // namespace gradlab
