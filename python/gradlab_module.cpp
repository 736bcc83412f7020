// gradlab._gradlab: the core's public API for Python (pybind11). The
// user-facing functions and their documentation are in gradlab/__init__.py;
// this extension does the work: loading plugins, parsing a spec, training
// (without the GIL), weights files to and from numpy arrays.
//
// Nothing here is process-wide state but the exception types: each call loads
// its own Registry, so concurrent calls from several Python threads are as
// independent as concurrent runs in the core.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "gradlab/core/error.hpp"
#include "gradlab/core/io.hpp"
#include "gradlab/core/registry.hpp"
#include "gradlab/core/run.hpp"
#include "gradlab/core/spec.hpp"
#include "gradlab/core/weights.hpp"

namespace py = pybind11;
using namespace gradlab;

namespace {

// Loads the bundled plugins and those of `plugin_dirs`; a library that does
// not load is returned as a problem (the Python side warns), as the CLI does.
std::unique_ptr<Registry> load_registry(const std::vector<std::string>& plugin_dirs,
                                        std::vector<LoadProblem>& problems) {
  auto registry = std::make_unique<Registry>();
  problems = registry->load_standard({plugin_dirs.begin(), plugin_dirs.end()});
  return registry;
}

py::list problems_to_python(const std::vector<LoadProblem>& problems) {
  py::list out;
  for (const auto& p : problems) out.append(terminal_line(p.path + ": " + p.message));
  return out;
}

std::string dumps(const nlohmann::json& value) { return value.dump(); }

// plugins(): the components as `gradlab plugins list --json` lists them.
py::tuple plugins_json(const std::vector<std::string>& plugin_dirs) {
  std::vector<LoadProblem> problems;
  auto registry = load_registry(plugin_dirs, problems);
  nlohmann::json components = nlohmann::json::array();
  for (const auto* e : registry->entries())
    components.push_back({{"kind", to_string(e->kind)},
                          {"name", e->info.name},
                          {"plugin", e->plugin->name},
                          {"version", e->plugin->version},
                          {"path", e->plugin->path},
                          {"description", e->info.description},
                          {"params", schema_to_json(e->info.schema)}});
  return py::make_tuple(dumps(components), problems_to_python(problems));
}

// One run, as `gradlab train` does it: the spec from a file (`spec_path`) or
// from text (`spec_text`, named `source` in messages). Returns the summary as
// JSON text (what --json writes), whether the weights were saved, and the
// plugin problems. Training runs without the GIL; after each epoch the GIL is
// taken for a moment to see a pending signal (Ctrl-C), which cancels the run
// and is raised once it has stopped.
py::tuple train_json(const std::optional<std::string>& spec_path, const std::optional<std::string>& spec_text,
                     const std::string& source, const std::vector<std::string>& overrides,
                     std::optional<std::int64_t> seed, std::optional<int> threads,
                     const std::vector<std::string>& plugin_dirs, const std::optional<std::string>& load_weights,
                     const std::optional<std::string>& save_weights, const std::optional<std::string>& max_memory) {
  RunOptions options;
  if (max_memory) options.max_memory = parse_bytes(*max_memory, "max_memory");
  if (threads) {
    if (*threads < 1 || *threads > 4096) throw InputError("threads", "must be in [1, 4096]");
    options.threads = *threads;
  }
  options.seed = seed;
  if (load_weights) options.load_weights = *load_weights;
  std::vector<LoadProblem> problems;
  auto registry = load_registry(plugin_dirs, problems);
  RunSpec spec = spec_path ? load_run_spec(*spec_path, overrides, *registry)
                           : parse_run_spec(spec_text.value_or(""), source, overrides, *registry);
  // Refuse an output that cannot be written before training, not after it.
  std::optional<OutputFile> weights_out;
  if (save_weights) weights_out = OutputFile::prepare("save_weights", *save_weights);

  std::atomic<bool> cancel{false};
  std::optional<py::error_already_set> interrupted;
  options.cancel = &cancel;
  options.on_epoch = [&](const EpochRecord&) {
    py::gil_scoped_acquire gil;
    if (!interrupted && PyErr_CheckSignals() != 0) {
      interrupted.emplace();  // takes the pending exception (KeyboardInterrupt)
      cancel = true;
    }
  };
  RunResult result;
  {
    py::gil_scoped_release no_gil;
    result = train_run(spec, *registry, options);
  }
  if (interrupted) throw std::move(*interrupted);
  bool saved = false;
  if (weights_out && result.summary.status == RunStatus::ok) {
    py::gil_scoped_release no_gil;
    weights_out->write(weights_bytes(*result.network, {{"spec", spec.effective.dump()}}));
    saved = true;
  }
  return py::make_tuple(dumps(to_json(result.summary)), saved, problems_to_python(problems));
}

// read_weights(): every tensor as a float32 array of its stored shape, in
// the file's order.
py::dict read_weights(const std::string& path) {
  SafetensorsFile file;
  {
    py::gil_scoped_release no_gil;
    file = read_safetensors_file(path, default_memory_budget(), "the memory budget");
  }
  py::dict out;
  for (const auto& [name, entry] : file.tensors) {
    std::vector<py::ssize_t> shape(entry.shape.begin(), entry.shape.end());
    py::array_t<float> array(shape);
    if (!entry.values.empty())
      std::memcpy(array.mutable_data(), entry.values.data(), entry.values.size() * sizeof(float));
    out[py::str(name)] = std::move(array);
  }
  return out;
}

py::dict read_metadata(const std::string& path) {
  auto file = read_safetensors_file(path, default_memory_budget(), "the memory budget");
  py::dict out;
  for (const auto& [key, value] : file.metadata) out[py::str(key)] = value;
  return out;
}

// write_weights(): the arrays (converted to float32, C order) in the dict's
// order, written as the CLI writes a network's weights.
void write_weights(const std::string& path, const py::dict& tensors, const std::optional<py::dict>& metadata) {
  using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
  std::vector<FloatArray> arrays;  // keep the converted arrays alive
  std::vector<TensorRef> refs;
  for (const auto& [key, value] : tensors) {
    if (!py::isinstance<py::str>(key))
      throw py::type_error("write_weights: tensor names must be str, got " + std::string(py::str(key.get_type())));
    auto array = FloatArray::ensure(value);
    if (!array)
      throw py::type_error("write_weights: tensor '" + key.cast<std::string>() +
                           "' is not convertible to a float32 array");
    TensorRef ref;
    ref.name = key.cast<std::string>();
    for (py::ssize_t d = 0; d < array.ndim(); ++d) ref.shape.push_back(static_cast<Index>(array.shape(d)));
    ref.data = array.data();
    ref.size = static_cast<Index>(array.size());
    refs.push_back(std::move(ref));
    arrays.push_back(std::move(array));
  }
  std::map<std::string, std::string> meta;
  if (metadata)
    for (const auto& [key, value] : *metadata) {
      if (!py::isinstance<py::str>(key) || !py::isinstance<py::str>(value))
        throw py::type_error("write_weights: metadata keys and values must be str (safetensors stores strings)");
      meta[key.cast<std::string>()] = value.cast<std::string>();
    }
  std::string bytes = safetensors_bytes(refs, meta);
  py::gil_scoped_release no_gil;
  write_file_atomically(path, bytes);
}

}  // namespace

PYBIND11_MODULE(_gradlab, m) {
  m.doc() = "gradlab's core for Python; use the package gradlab (see docs/python.md)";
  m.attr("__version__") = version_string;
  m.attr("plugin_api_version") = plugin_api_version;

  // Bad input: the CLI's one line with the place (file:line:col, the option),
  // which the CLI prints after "gradlab: error: " and exits 2 for.
  static py::exception<InputError> input_error(m, "InputError", PyExc_ValueError);
  // A write that failed once the work was done (disk full).
  static py::exception<OutputError> output_error(m, "OutputError", PyExc_OSError);
  py::register_exception_translator([](std::exception_ptr error) {
    try {
      if (error) std::rethrow_exception(error);
    } catch (const InputError& e) {
      PyErr_SetString(input_error.ptr(), terminal_line(e.what()).c_str());
    } catch (const OutputError& e) {
      PyErr_SetString(output_error.ptr(), terminal_line(e.what()).c_str());
    }
  });

  m.def("_plugins_json", &plugins_json, py::arg("plugin_dirs"));
  m.def("_train_json", &train_json, py::arg("spec_path"), py::arg("spec_text"), py::arg("source"), py::arg("overrides"),
        py::arg("seed"), py::arg("threads"), py::arg("plugin_dirs"), py::arg("load_weights"), py::arg("save_weights"),
        py::arg("max_memory"));
  m.def("read_weights", &read_weights, py::arg("path"));
  m.def("read_metadata", &read_metadata, py::arg("path"));
  m.def("write_weights", &write_weights, py::arg("path"), py::arg("tensors"), py::arg("metadata") = py::none());
}
