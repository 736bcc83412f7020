#include "gradlab/core/registry.hpp"

#include <dlfcn.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "builtin_datasets.hpp"
#include "gradlab/core/datasets.hpp"
#include "gradlab/core/error.hpp"

namespace gradlab {

namespace fs = std::filesystem;

// Collects one plugin's registrations so that a plugin whose registration
// throws, or that clashes with a name already taken, adds nothing at all.
class Registry::Staging final : public Registrar {
 public:
  std::vector<Entry> entries;

  void add_layer(ComponentInfo info, LayerFactory factory) override {
    stage(ComponentKind::layer, std::move(info), &Entry::layer, std::move(factory));
  }
  void add_initializer(ComponentInfo info, InitializerFactory factory) override {
    stage(ComponentKind::initializer, std::move(info), &Entry::initializer, std::move(factory));
  }
  void add_optimizer(ComponentInfo info, OptimizerFactory factory) override {
    stage(ComponentKind::optimizer, std::move(info), &Entry::optimizer, std::move(factory));
  }
  void add_pretrain(ComponentInfo info, PretrainFactory factory) override {
    stage(ComponentKind::pretrain, std::move(info), &Entry::pretrain, std::move(factory));
  }
  void add_dataset(ComponentInfo info, DatasetFactory factory) override {
    stage(ComponentKind::dataset, std::move(info), &Entry::dataset, std::move(factory));
  }
  void add_schedule(ComponentInfo info, ScheduleFactory factory) override {
    stage(ComponentKind::schedule, std::move(info), &Entry::schedule, std::move(factory));
  }

 private:
  template <class Factory>
  void stage(ComponentKind kind, ComponentInfo info, Factory Entry::*slot, Factory factory) {
    Entry e{};
    e.kind = kind;
    e.info = std::move(info);
    e.*slot = std::move(factory);
    entries.push_back(std::move(e));
  }
};

Registry::Registry() { register_builtin_datasets(*this); }
Registry::~Registry() = default;

void Registry::add_builtin(Entry entry) {
  if (!entry.plugin) {
    auto core = std::make_shared<PluginRecord>();
    core->name = "core";
    core->version = version_string;
    core->description = "built into libgradlab_core";
    entry.plugin = core;
  }
  auto key = std::make_pair(entry.kind, entry.info.name);
  entries_.insert_or_assign(key, std::move(entry));
}

std::optional<LoadProblem> Registry::load_library(const fs::path& path) {
  auto problem = [&](std::string message) { return LoadProblem{path.string(), std::move(message)}; };

  std::error_code ec;
  fs::path canonical = fs::weakly_canonical(path, ec);
  if (ec) canonical = path;
  if (std::find(loaded_paths_.begin(), loaded_paths_.end(), canonical) != loaded_paths_.end()) return std::nullopt;

  // RTLD_NODELETE: a loaded plugin is never unmapped while the process runs,
  // even after the last handle is gone (code of a plugin may still be on a
  // stack somewhere, e.g. in a deleter). RTLD_LOCAL keeps plugins' symbols apart.
  auto mode = static_cast<boost::dll::load_mode::type>(RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  auto library = std::make_shared<boost::dll::shared_library>();
  boost::system::error_code load_error;
  library->load(boost::dll::fs::path(path.string()), mode, load_error);
  if (load_error) {
    const char* detail = dlerror();
    return problem("cannot load library: " + (detail ? std::string(detail) : load_error.message()));
  }
  if (!library->has(plugin_entry_symbol))
    return problem(std::string("not a gradlab plugin: no '") + plugin_entry_symbol + "' entry point");

  const PluginInfo* info = nullptr;
  try {
    auto entry = library->get_alias<PluginEntryPoint>(plugin_entry_symbol);
    info = entry();
  } catch (const std::exception& e) {
    return problem(std::string("entry point failed: ") + e.what());
  }
  if (!info) return problem("entry point returned no plugin info");
  // Only api_version may be read before it is checked: the rest of the struct
  // may have another layout in another API version.
  if (info->api_version != plugin_api_version)
    return problem("plugin API version " + std::to_string(info->api_version) + " does not match the host's " +
                   std::to_string(plugin_api_version) + "; rebuild the plugin against this SDK");
  if (!info->abi_tag || std::strcmp(info->abi_tag, abi_tag) != 0)
    return problem(std::string("ABI tag '") + (info->abi_tag ? info->abi_tag : "(null)") +
                   "' does not match the host's '" + abi_tag + "'; rebuild the plugin with the same compiler, " +
                   "standard library, Eigen, scalar type and -march");
  if (!info->name || !*info->name || !info->register_components)
    return problem("plugin info has no name or no registration function");

  // A plugin of the user's (--plugin-dir, GRADLAB_PLUGIN_PATH; searched first)
  // may replace a bundled one: allowed, and said, never silent.
  const bool bundled = path.parent_path() == bundled_plugin_dir();
  for (const auto& existing : plugins_)
    if (existing->name == info->name) {
      if (bundled && !existing->path.empty())
        return problem(std::string("bundled plugin '") + info->name + "' not loaded: replaced by " + existing->path);
      return problem(std::string("duplicate plugin name '") + info->name + "', already loaded from " +
                     (existing->path.empty() ? std::string("the core") : existing->path) + "; skipped");
    }

  Staging staging;
  try {
    info->register_components(staging);
  } catch (const std::exception& e) {
    return problem(std::string("registration of plugin '") + info->name + "' threw: " + e.what());
  } catch (...) {
    return problem(std::string("registration of plugin '") + info->name + "' threw a non-standard exception");
  }
  if (staging.entries.empty()) return problem(std::string("plugin '") + info->name + "' registered no component");
  for (std::size_t i = 0; i < staging.entries.size(); ++i) {
    const auto& e = staging.entries[i];
    if (e.info.name.empty())
      return problem(std::string("plugin '") + info->name + "' registered a component without a name");
    auto key = std::make_pair(e.kind, e.info.name);
    if (auto it = entries_.find(key); it != entries_.end()) {
      if (bundled && !it->second.plugin->path.empty())
        return problem(std::string("bundled plugin '") + info->name + "' not loaded: its " + to_string(e.kind) + " '" +
                       e.info.name + "' is replaced by " + it->second.plugin->path);
      return problem(
          std::string("duplicate ") + to_string(e.kind) + " name '" + e.info.name + "', already provided by " +
          (it->second.plugin->path.empty() ? std::string("the core") : it->second.plugin->path) + "; skipped");
    }
    for (std::size_t j = 0; j < i; ++j)
      if (staging.entries[j].kind == e.kind && staging.entries[j].info.name == e.info.name)
        return problem(std::string("plugin registers ") + to_string(e.kind) + " '" + e.info.name + "' twice");
  }

  auto record = std::make_shared<PluginRecord>();
  record->name = info->name;
  record->version = info->version ? info->version : "";
  record->description = info->description ? info->description : "";
  record->path = path.string();
  plugins_.push_back(record);
  loaded_paths_.push_back(canonical);
  for (auto& e : staging.entries) {
    e.plugin = record;
    e.library = library;
    auto key = std::make_pair(e.kind, e.info.name);
    entries_.emplace(key, std::move(e));
  }
  return std::nullopt;
}

namespace {

// A plugin is code the process will run: like ssh with its keys, refuse a
// library or folder that users other than its owner can replace. Group write
// is accepted only for a user-private group (the group of the owner's own
// name, as Debian's adduser makes), where it gives no one else access.
std::optional<std::string> unsafe_permissions(const fs::path& path, const char* what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  const uid_t me = ::geteuid();
  if (st.st_uid != me && st.st_uid != 0)
    return std::string(what) + " belongs to another user (uid " + std::to_string(st.st_uid) + ")";
  if (st.st_mode & S_IWOTH)
    return std::string(what) + " is writable by every user (mode " + [&] {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
      return std::string(mode);
    }() + "); fix with chmod o-w";
  if (st.st_mode & S_IWGRP) {
    const struct passwd* owner = ::getpwuid(st.st_uid);
    const struct group* group = ::getgrgid(st.st_gid);
    const bool private_group =
        owner && group && owner->pw_gid == st.st_gid && std::strcmp(group->gr_name, owner->pw_name) == 0;
    if (!private_group) return std::string(what) + " is writable by its group; fix with chmod g-w";
  }
  return std::nullopt;
}

std::string entry_kind(const fs::directory_entry& item) {
  std::error_code ec;
  if (item.is_symlink(ec) && !fs::exists(item.path(), ec)) return "a dangling symbolic link";
  if (item.is_directory(ec)) return "a folder";
  if (item.is_fifo(ec)) return "a FIFO";
  if (item.is_socket(ec)) return "a socket";
  if (item.is_block_file(ec) || item.is_character_file(ec)) return "a device";
  return "not a regular file";
}

}  // namespace

std::vector<LoadProblem> Registry::load_directory(const fs::path& dir) {
  std::vector<LoadProblem> problems;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    problems.push_back({dir.string(), "plugin folder does not exist"});
    return problems;
  }
  if (auto unsafe = unsafe_permissions(dir, "the plugin folder")) {
    problems.push_back({dir.string(), *unsafe + "; no plugin loaded from it"});
    return problems;
  }
  std::vector<fs::path> libraries;
  // Non-throwing iteration and tests: a symlink loop or an unreadable entry is
  // one problem line, never the end of plugin loading.
  fs::directory_iterator it(dir, ec), end;
  if (ec) {
    problems.push_back({dir.string(), "cannot list the plugin folder: " + ec.message()});
    return problems;
  }
  for (; it != end; it.increment(ec)) {
    if (ec) {
      problems.push_back({dir.string(), "cannot list the plugin folder: " + ec.message()});
      break;
    }
    const auto& item = *it;
    if (item.path().extension() != ".so") continue;
    std::error_code type_error;
    if (!item.is_regular_file(type_error)) {
      problems.push_back({item.path().string(), type_error && type_error != std::errc::no_such_file_or_directory
                                                    ? "cannot use: " + type_error.message()
                                                    : "is " + entry_kind(item) + ", not a plugin library; skipped"});
      continue;
    }
    libraries.push_back(item.path());
  }
  std::sort(libraries.begin(), libraries.end());
  for (const auto& lib : libraries) {
    if (auto unsafe = unsafe_permissions(lib, "the library")) {
      problems.push_back({lib.string(), *unsafe + "; not loaded"});
      continue;
    }
    if (auto p = load_library(lib)) problems.push_back(*p);
  }
  return problems;
}

fs::path Registry::bundled_plugin_dir() {
  // Plugins live in <libdir>/gradlab/plugins, next to libgradlab_core.so, in the
  // build tree and in an install prefix alike.
  boost::system::error_code ec;
  auto self = boost::dll::this_line_location(ec);
  if (ec) return {};
  return fs::path(self.parent_path().string()) / "gradlab" / "plugins";
}

std::vector<LoadProblem> Registry::load_standard(const std::vector<fs::path>& extra_dirs) {
  std::vector<LoadProblem> problems;
  auto add = [&](std::vector<LoadProblem> more) { problems.insert(problems.end(), more.begin(), more.end()); };
  for (const auto& dir : extra_dirs) add(load_directory(dir));
  if (const char* env = std::getenv("GRADLAB_PLUGIN_PATH")) {
    std::stringstream ss(env);
    std::string item;
    while (std::getline(ss, item, ':'))
      if (!item.empty()) add(load_directory(item));
  }
  auto bundled = bundled_plugin_dir();
  std::error_code ec;
  if (!bundled.empty() && fs::is_directory(bundled, ec)) add(load_directory(bundled));
  return problems;
}

const Registry::Entry* Registry::find(ComponentKind kind, const std::string& name) const {
  auto it = entries_.find(std::make_pair(kind, name));
  return it == entries_.end() ? nullptr : &it->second;
}

const Registry::Entry& Registry::get(ComponentKind kind, const std::string& name, const std::string& where) const {
  if (const auto* e = find(kind, name)) return *e;
  std::vector<std::string> names;
  for (const auto* e : entries(kind)) names.push_back(e->info.name);
  std::string message = std::string("unknown ") + to_string(kind) + " '" + name + "'";
  auto close = nearest_names(name, names);
  if (!close.empty()) {
    message += "; did you mean ";
    for (std::size_t i = 0; i < close.size(); ++i) message += (i ? ", '" : "'") + close[i] + "'";
    message += "?";
  } else if (names.empty()) {
    message +=
        std::string("; no ") + to_string(kind) + " plugins are loaded (check --plugin-dir / GRADLAB_PLUGIN_PATH)";
  } else {
    message += "; known: ";
    for (std::size_t i = 0; i < names.size(); ++i) message += (i ? ", " : "") + names[i];
  }
  throw InputError(where, message);
}

std::vector<const Registry::Entry*> Registry::entries(ComponentKind kind) const {
  std::vector<const Entry*> out;
  for (const auto& [key, e] : entries_)
    if (key.first == kind) out.push_back(&e);
  return out;
}

std::vector<const Registry::Entry*> Registry::entries() const {
  std::vector<const Entry*> out;
  for (const auto& [key, e] : entries_) out.push_back(&e);
  return out;
}

namespace {
// The handle's deleter holds the library: the object's vtable and destructor
// live in it (Boost.DLL's refcounting idiom).
template <class T>
std::shared_ptr<T> keep_library_alive(std::unique_ptr<T> object, std::shared_ptr<void> library) {
  if (!object) throw std::runtime_error("plugin factory returned no object");
  return std::shared_ptr<T>(object.release(), [library = std::move(library)](T* p) { delete p; });
}

template <class Factory>
const Factory& factory_of(const Registry::Entry* e, Factory Registry::Entry::*member, ComponentKind kind,
                          const std::string& name) {
  if (!e || !(e->*member)) throw std::invalid_argument(std::string("no ") + to_string(kind) + " named '" + name + "'");
  return e->*member;
}
}  // namespace

std::shared_ptr<Layer> Registry::make_layer(const std::string& name, const Params& params,
                                            std::vector<ChildLayer> children) const {
  const auto* e = find(ComponentKind::layer, name);
  const auto& f = factory_of(e, &Entry::layer, ComponentKind::layer, name);
  return keep_library_alive(f(params, std::move(children)), e->library);
}

std::shared_ptr<Initializer> Registry::make_initializer(const std::string& name, const Params& params) const {
  const auto* e = find(ComponentKind::initializer, name);
  const auto& f = factory_of(e, &Entry::initializer, ComponentKind::initializer, name);
  return keep_library_alive(f(params), e->library);
}

std::shared_ptr<Optimizer> Registry::make_optimizer(const std::string& name, const Params& params) const {
  const auto* e = find(ComponentKind::optimizer, name);
  const auto& f = factory_of(e, &Entry::optimizer, ComponentKind::optimizer, name);
  return keep_library_alive(f(params), e->library);
}

std::shared_ptr<PretrainStrategy> Registry::make_pretrain(const std::string& name, const Params& params) const {
  const auto* e = find(ComponentKind::pretrain, name);
  const auto& f = factory_of(e, &Entry::pretrain, ComponentKind::pretrain, name);
  return keep_library_alive(f(params), e->library);
}

std::shared_ptr<Schedule> Registry::make_schedule(const std::string& name, const Params& params,
                                                  std::shared_ptr<const Schedule> then) const {
  const auto* e = find(ComponentKind::schedule, name);
  const auto& f = factory_of(e, &Entry::schedule, ComponentKind::schedule, name);
  return keep_library_alive(f(params, std::move(then)), e->library);
}

std::shared_ptr<const Dataset> Registry::make_dataset(const std::string& name, const Params& params,
                                                      const DataContext& context) const {
  const auto* e = find(ComponentKind::dataset, name);
  const auto& f = factory_of(e, &Entry::dataset, ComponentKind::dataset, name);
  auto data = f(params, context);
  if (!data) throw std::invalid_argument("the data set factory returned nothing");
  // Checked once here, whatever made it: everything downstream indexes by
  // these shapes and labels without checking again.
  check_dataset(*data);
  if (!e->library) return data;
  auto library = e->library;
  return std::shared_ptr<const Dataset>(data.get(), [data, library](const Dataset*) {});
}

std::vector<std::string> nearest_names(const std::string& name, const std::vector<std::string>& candidates,
                                       std::size_t max) {
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      std::size_t diag = row[0];
      row[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j) {
        std::size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
        diag = up;
      }
    }
    return row[b.size()];
  };
  std::vector<std::pair<std::size_t, std::string>> scored;
  for (const auto& c : candidates) {
    std::size_t d = distance(name, c);
    bool prefix = !name.empty() && (c.rfind(name, 0) == 0 || name.rfind(c, 0) == 0);
    std::size_t limit = std::max<std::size_t>(2, std::max(name.size(), c.size()) / 3);
    if (d <= limit || prefix) scored.emplace_back(prefix ? std::min(d, std::size_t{1}) : d, c);
  }
  std::stable_sort(scored.begin(), scored.end(), [](auto& x, auto& y) { return x.first < y.first; });
  std::vector<std::string> out;
  for (std::size_t i = 0; i < scored.size() && i < max; ++i) out.push_back(scored[i].second);
  return out;
}

}  // namespace gradlab
