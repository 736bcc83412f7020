// The parts of distributed studies that need no MPI: the launcher's
// environment and the run summary's wire form (see distributed.hpp).
#include <cstdlib>
#include <string>

#include "gradlab/core/error.hpp"
#include "gradlab/core/study/distributed.hpp"

namespace gradlab::study {

namespace {

// The first of `names` set to a non-negative integer, else -1.
int env_int(std::initializer_list<const char*> names) {
  for (const char* name : names) {
    const char* value = std::getenv(name);
    if (!value || !*value) continue;
    char* end = nullptr;
    const long n = std::strtol(value, &end, 10);
    if (*end == '\0' && n >= 0 && n < (1L << 30)) return static_cast<int>(n);
  }
  return -1;
}

}  // namespace

bool launched_by_mpi() { return env_int({"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"}) >= 0; }

int launcher_world_size() {
  int n = env_int({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"});
  if (n < 0 && launched_by_mpi()) n = env_int({"SLURM_NTASKS"});
  return n > 0 ? n : 1;
}

int launcher_rank() {
  const int r = env_int({"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"});
  return r > 0 ? r : 0;
}

namespace {

// A layer probe row as an array; an absent update_ratio travels as null.
nlohmann::json encode_layers(const std::vector<LayerProbe>& layers) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& l : layers)
    out.push_back({l.index, l.type, l.param_count, l.grad_norm, l.weight_norm, l.saturation, l.grad_by_lag,
                   l.cell_grad_by_lag, l.output_grad_norm,
                   l.update_ratio ? nlohmann::json(*l.update_ratio) : nlohmann::json(nullptr)});
  return out;
}

std::vector<LayerProbe> decode_layers(const nlohmann::json& rows) {
  std::vector<LayerProbe> layers;
  for (const auto& l : rows) {
    LayerProbe p{l.at(0).get<Index>(),  l.at(1).get<std::string>(), l.at(2).get<Index>(),
                 l.at(3).get<double>(), l.at(4).get<double>(),      l.at(5).get<double>()};
    p.grad_by_lag = l.at(6).get<std::vector<double>>();
    p.cell_grad_by_lag = l.at(7).get<std::vector<double>>();
    p.output_grad_norm = l.at(8).get<double>();
    if (!l.at(9).is_null()) p.update_ratio = l.at(9).get<double>();
    layers.push_back(std::move(p));
  }
  return layers;
}

}  // namespace

std::vector<std::uint8_t> encode_summary(const RunSummary& s) {
  using nlohmann::json;
  json out{
      {"status", static_cast<int>(s.status)},
      {"task", static_cast<int>(s.task)},
      {"seed", s.seed},
      {"epochs_run", s.epochs_run},
      {"message", s.message},
      {"seconds", s.seconds},
      {"timing", {s.timing.train_steps, s.timing.evaluation, s.timing.probes, s.timing.pretraining, s.timing.other}},
      {"spec", s.spec},
      {"plugins", json::array()},
      {"epochs", json::array()}};
  if (s.diverged_epoch) out["diverged_epoch"] = *s.diverged_epoch;
  if (s.stopped_epoch) out["stopped_epoch"] = *s.stopped_epoch;
  if (s.best_epoch) out["best_epoch"] = *s.best_epoch;
  if (s.restored_best) out["restored_best"] = true;
  if (!s.pretraining.empty()) out["pretraining"] = s.pretraining;
  for (const auto& p : s.plugins) out["plugins"].push_back({p.kind, p.name, p.version, p.plugin, p.path, p.params});
  for (const auto& e : s.epochs) {
    json layers = encode_layers(e.layers);
    // Doubles go into CBOR as IEEE values (NaN and infinities included), so
    // they come back bit for bit; JSON text would turn them into null.
    // A success rate that is absent travels as null.
    auto optional = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
    out["epochs"].push_back({e.epoch, e.train_loss, e.train_accuracy, e.test_loss, e.test_accuracy, e.seconds,
                             std::move(layers), optional(e.success_rate), optional(e.train_success_rate)});
  }
  if (!s.step_probes.empty()) {
    out["step_probes"] = json::array();
    for (const auto& p : s.step_probes) out["step_probes"].push_back({p.step, p.epoch, encode_layers(p.layers)});
  }
  return json::to_cbor(out);
}

RunSummary decode_summary(const std::vector<std::uint8_t>& bytes) {
  try {
    const auto in = nlohmann::json::from_cbor(bytes);
    RunSummary s;
    const int status = in.at("status").get<int>();
    if (status < 0 || status > static_cast<int>(RunStatus::cancelled)) throw std::runtime_error("bad status");
    s.status = static_cast<RunStatus>(status);
    const int task = in.at("task").get<int>();
    if (task < 0 || task > static_cast<int>(Task::regression)) throw std::runtime_error("bad task");
    s.task = static_cast<Task>(task);
    s.seed = in.at("seed").get<std::int64_t>();
    s.epochs_run = in.at("epochs_run").get<std::int64_t>();
    s.message = in.at("message").get<std::string>();
    s.seconds = in.at("seconds").get<double>();
    const auto& t = in.at("timing");
    s.timing = {t.at(0).get<double>(), t.at(1).get<double>(), t.at(2).get<double>(), t.at(3).get<double>(),
                t.at(4).get<double>()};
    s.spec = in.at("spec");
    if (in.contains("diverged_epoch")) s.diverged_epoch = in.at("diverged_epoch").get<std::int64_t>();
    if (in.contains("stopped_epoch")) s.stopped_epoch = in.at("stopped_epoch").get<std::int64_t>();
    if (in.contains("best_epoch")) s.best_epoch = in.at("best_epoch").get<std::int64_t>();
    s.restored_best = in.contains("restored_best");
    if (in.contains("pretraining"))
      s.pretraining = in.at("pretraining").get<std::map<std::string, std::vector<double>>>();
    for (const auto& p : in.at("plugins"))
      s.plugins.push_back({p.at(0).get<std::string>(), p.at(1).get<std::string>(), p.at(2).get<std::string>(),
                           p.at(3).get<std::string>(), p.at(4).get<std::string>(), p.at(5)});
    for (const auto& e : in.at("epochs")) {
      EpochRecord r;
      r.epoch = e.at(0).get<std::int64_t>();
      r.train_loss = e.at(1).get<double>();
      r.train_accuracy = e.at(2).get<double>();
      r.test_loss = e.at(3).get<double>();
      r.test_accuracy = e.at(4).get<double>();
      r.seconds = e.at(5).get<double>();
      r.layers = decode_layers(e.at(6));
      if (!e.at(7).is_null()) r.success_rate = e.at(7).get<double>();
      if (!e.at(8).is_null()) r.train_success_rate = e.at(8).get<double>();
      s.epochs.push_back(std::move(r));
    }
    if (in.contains("step_probes"))
      for (const auto& p : in.at("step_probes"))
        s.step_probes.push_back({p.at(0).get<std::int64_t>(), p.at(1).get<std::int64_t>(), decode_layers(p.at(2))});
    return s;
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("a run summary from another process is damaged: ") + e.what());
  }
}

}  // namespace gradlab::study
