// The report's charts: Vega-Lite specs with their data inline, one row per
// variant, grid cell and x value, summarized over the cell's ok runs (as
// `gradlab study stats` counts them: diverged, failed and unfinished runs are
// left out).
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <tuple>

#include "gradlab/core/report/report.hpp"

namespace gradlab::report {

namespace {

using nlohmann::json;

const char* schema = "https://vega.github.io/schema/vega-lite/v6.json";
constexpr int width = 380, height = 240;

json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

// The grid cell as `gradlab study stats` writes it: "depth=5 optimizer.lr=0.1".
std::string cell_text(const json& grid) {
  std::string out;
  for (auto it = grid.begin(); it != grid.end(); ++it)
    out += (out.empty() ? "" : " ") + it.key() + "=" + (it->is_string() ? it->get<std::string>() : it->dump());
  return out;
}

// Mean, min, max and n of some values (all finite).
struct Spread {
  std::vector<double> values;
  json fields() const {
    if (values.empty()) return {{"mean", nullptr}, {"min", nullptr}, {"max", nullptr}, {"n", 0}};
    double sum = 0.0;
    for (double v : values) sum += v;
    const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
    return {{"mean", sum / double(values.size())}, {"min", *lo}, {"max", *hi}, {"n", values.size()}};
  }
};

// What every chart shares: the variants in file order, the grid cells in plan
// order, and the ok runs.
struct Study {
  std::vector<std::string> variants, cells;
  std::vector<const study::StoredRun*> ok;
  bool by_cell() const { return cells.size() > 1; }
};

Study study_of(const ReportInput& in) {
  Study s;
  s.variants = in.records.variants;
  for (const auto& run : in.records.runs) {
    if (std::find(s.variants.begin(), s.variants.end(), run.variant) == s.variants.end())
      s.variants.push_back(run.variant);
    const std::string cell = cell_text(run.grid);
    if (std::find(s.cells.begin(), s.cells.end(), cell) == s.cells.end()) s.cells.push_back(cell);
    if (run.status == "ok" && !run.epochs.empty()) s.ok.push_back(&run);
  }
  return s;
}

json color(const Study& s) { return {{"field", "variant"}, {"type", "nominal"}, {"sort", s.variants}}; }

// A layered spec over `rows`, faceted by `column` (a field, or none) and by
// grid cell when there are several.
json faceted(const Study& s, json rows, const std::string& title, const std::string& description, const json& column,
             json layered, const json& resolve = nullptr) {
  json spec{{"$schema", schema}, {"title", title}, {"description", description}, {"data", {{"values", rows}}}};
  json facet = json::object();
  if (!column.is_null()) facet["column"] = column;
  if (s.by_cell()) facet["row"] = {{"field", "cell"}, {"type", "nominal"}, {"sort", s.cells}, {"title", "grid cell"}};
  layered["width"] = width;
  layered["height"] = height;
  if (facet.empty()) {
    for (auto it = layered.begin(); it != layered.end(); ++it) spec[it.key()] = it.value();
  } else {
    spec["facet"] = facet;
    spec["spec"] = layered;
  }
  if (!resolve.is_null()) spec["resolve"] = resolve;
  return spec;
}

// Per-run first and last probed epochs, labelled "epoch 0" when every run
// agrees, else "first probed epoch" / "last probed epoch".
struct Stages {
  std::set<std::int64_t> first, last;
  std::string label(int stage) const {
    const auto& set = stage == 0 ? first : last;
    if (set.size() == 1) return "epoch " + std::to_string(*set.begin());
    return stage == 0 ? "first probed epoch" : "last probed epoch";
  }
  json order() const {
    json o = json::array({label(0)});
    if (label(1) != label(0) && !last.empty()) o.push_back(label(1));
    return o;
  }
};

// A line of means with a band from the least to the largest run, on a log
// scale when `log`; y in `y_title`, x the quantitative field `x`.
json band_and_line(const Study& s, const std::string& x, const std::string& x_title, const std::string& y_title,
                   bool log, const json& tooltip) {
  json y_scale = log ? json{{"type", "log"}} : json{{"zero", false}};
  return {{"encoding",
           {{"x", {{"field", x}, {"type", "quantitative"}, {"title", x_title}, {"axis", {{"tickMinStep", 1}}}}},
            {"color", color(s)}}},
          {"layer",
           {{{"mark", {{"type", "area"}, {"opacity", 0.18}}},
             {"encoding",
              {{"y", {{"field", "min"}, {"type", "quantitative"}, {"scale", y_scale}, {"title", y_title}}},
               {"y2", {{"field", "max"}}}}}},
            {{"mark", {{"type", "line"}, {"point", true}}},
             {"encoding",
              {{"y", {{"field", "mean"}, {"type", "quantitative"}, {"scale", y_scale}, {"title", y_title}}},
               {"tooltip", tooltip}}}}}}};
}

// A transform that keeps the rows of one kind.
json keep(const std::string& kind) { return json::array({json{{"filter", "datum.kind === '" + kind + "'"}}}); }

json tooltip(std::initializer_list<std::pair<const char*, const char*>> fields) {
  json t = json::array();
  for (const auto& [field, type] : fields) t.push_back({{"field", field}, {"type", type}});
  return t;
}

// A profile: one value per position (layer or lag) per variant, grid cell and
// stage (the first and the last probed epoch), drawn as a line with the seeds'
// band on a log scale, one panel per stage.
using ProfileKey = std::tuple<std::string, std::string, int, std::int64_t>;  // variant, cell, facet, position

// Rows of values keyed (variant, cell, facet, position), in the study's order
// of variants and cells: `facet` names the key's third part and `facet_label`
// gives its text; `more` adds fields to a row.
json keyed_rows(const Study& s, const std::map<ProfileKey, Spread>& values, const char* facet,
                const std::function<std::string(int)>& facet_label, const char* position,
                const std::function<void(const ProfileKey&, json&)>& more = {}) {
  json rows = json::array();
  for (const auto& variant : s.variants)
    for (const auto& cell : s.cells)
      for (int f = 0; f < 2; ++f)
        for (const auto& [k, spread] : values) {
          if (std::get<0>(k) != variant || std::get<1>(k) != cell || std::get<2>(k) != f) continue;
          json row{{"variant", variant}, {"cell", cell}, {facet, facet_label(f)}, {position, std::get<3>(k)}};
          if (more) more(k, row);
          row.update(spread.fields());
          rows.push_back(row);
        }
  return rows;
}

// A profile's rows: one panel per stage.
json profile_rows(const Study& s, const std::map<ProfileKey, Spread>& values, const Stages& stages,
                  const char* position, const std::function<void(const ProfileKey&, json&)>& more = {}) {
  return keyed_rows(
      s, values, "stage", [&](int stage) { return stages.label(stage); }, position, more);
}

Chart profile_chart(const Study& s, const Stages& stages, json rows, Chart c, const char* position,
                    const char* position_title, const std::vector<std::pair<const char*, const char*>>& extra) {
  json tips = tooltip({{"variant", "nominal"}, {"cell", "nominal"}, {"stage", "nominal"}, {position, "quantitative"}});
  for (const auto& [field, type] : extra) tips.push_back({{"field", field}, {"type", type}});
  for (const char* field : {"mean", "min", "max", "n"}) tips.push_back({{"field", field}, {"type", "quantitative"}});
  c.spec = faceted(s, std::move(rows), c.title, c.description,
                   {{"field", "stage"}, {"type", "nominal"}, {"sort", stages.order()}, {"title", nullptr}},
                   band_and_line(s, position, position_title, "gradient norm", true, tips));
  return c;
}

Chart grad_norm_chart(const ReportInput&, const Study& s) {
  // (variant, cell, stage, layer) -> gradient norms over the ok runs.
  std::map<ProfileKey, Spread> values;
  std::map<ProfileKey, std::string> types;
  Stages stages;
  for (const auto* run : s.ok) {
    const EpochRecord *p0 = nullptr, *p1 = nullptr;
    for (const auto& e : run->epochs)
      if (!e.layers.empty()) {
        if (!p0) p0 = &e;
        p1 = &e;
      }
    if (!p0) continue;
    stages.first.insert(p0->epoch);
    if (p1 != p0) stages.last.insert(p1->epoch);
    const std::string cell = cell_text(run->grid);
    for (int stage = 0; stage < 2; ++stage) {
      const EpochRecord* e = stage == 0 ? p0 : p1;
      if (stage == 1 && p1 == p0) break;
      // Layers with parameters, as the statistics take them; a log scale
      // shows no zero.
      for (const auto& l : e->layers)
        if (l.param_count > 0 && std::isfinite(l.grad_norm) && l.grad_norm > 0) {
          const auto k = std::make_tuple(run->variant, cell, stage, l.index);
          values[k].values.push_back(l.grad_norm);
          types[k] = l.type;
        }
    }
  }
  json rows =
      profile_rows(s, values, stages, "layer", [&](const ProfileKey& k, json& row) { row["layer_type"] = types[k]; });
  return profile_chart(
      s, stages, std::move(rows),
      {"grad_norm_by_layer",
       "Gradient norm by layer",
       "Gradient norm of each layer with parameters (log scale), mean over the ok runs' seeds with the band from "
       "the least to the largest, at the first probed epoch (before any update) and at the last. Falling towards "
       "the input (layer 0): a vanishing gradient; rising: an exploding one.",
       {}},
      "layer", "layer index", {{"layer_type", "nominal"}});
}

Chart learning_curves_chart(const ReportInput& in, const Study& s) {
  // Regression has no accuracy, and its loss is its metric (MSE): train and test MSE instead.
  const bool regression = in.stats.task == Task::regression;
  const std::pair<const char*, double EpochRecord::*> metrics[] = {
      regression ? std::pair{"test MSE", &EpochRecord::test_loss}
                 : std::pair{"test accuracy", &EpochRecord::test_accuracy},
      regression ? std::pair{"train MSE", &EpochRecord::train_loss} : std::pair{"test loss", &EpochRecord::test_loss}};
  // (variant, cell, metric, epoch) -> values over the ok runs.
  std::map<ProfileKey, Spread> values;
  for (const auto* run : s.ok)
    for (const auto& e : run->epochs)
      for (int m = 0; m < 2; ++m) {
        const double v = e.*(metrics[m].second);
        if (std::isfinite(v)) values[{run->variant, cell_text(run->grid), m, e.epoch}].values.push_back(v);
      }
  json rows = keyed_rows(
      s, values, "metric", [&](int m) { return std::string(metrics[m].first); }, "epoch");
  const std::string description =
      std::string(regression ? "Test and train mean squared error" : "Test accuracy and test loss") +
      " after each evaluated epoch (epoch 0: before any update): mean over the ok runs' "
      "seeds, with the band from the least to the largest.";
  Chart c{"learning_curves", "Learning curves", description, {}};
  c.spec = faceted(
      s, rows, c.title, description,
      {{"field", "metric"}, {"type", "nominal"}, {"sort", {metrics[0].first, metrics[1].first}}, {"title", nullptr}},
      band_and_line(s, "epoch", "epoch", "value", false,
                    tooltip({{"variant", "nominal"},
                             {"cell", "nominal"},
                             {"metric", "nominal"},
                             {"epoch", "quantitative"},
                             {"mean", "quantitative"},
                             {"min", "quantitative"},
                             {"max", "quantitative"},
                             {"n", "quantitative"}})),
      {{"scale", {{"y", "independent"}}}});
  return c;
}

Chart final_accuracy_chart(const ReportInput& in, const Study& s) {
  // Regression: the final test MSE (the chart keeps its name for --charts).
  const bool regression = in.stats.task == Task::regression;
  const std::string metric_text = regression ? "test MSE" : "test accuracy";
  json rows = json::array();
  for (const auto& c : in.stats.cells) {
    const auto& a = c.metrics.at(regression ? "test_mse" : "test_accuracy");
    rows.push_back({{"kind", "mean"},
                    {"variant", c.variant},
                    {"cell", c.cell},
                    {"mean", number(a.mean)},
                    {"sd", number(a.sd)},
                    {"ci_low", number(a.ci_low)},
                    {"ci_high", number(a.ci_high)},
                    {"n_ok", c.n_ok},
                    {"n_diverged", c.n_diverged},
                    {"n_failed", c.n_failed}});
  }
  for (const auto* run : s.ok)
    rows.push_back({{"kind", "run"},
                    {"variant", run->variant},
                    {"cell", cell_text(run->grid)},
                    {"key", run->key},
                    {"seed_index", run->seed_index},
                    {"value", number(regression ? run->final_record().test_loss : run->final_record().test_accuracy)}});
  const json x = s.by_cell()
                     ? json{{"field", "cell"}, {"type", "nominal"}, {"sort", s.cells}, {"title", "grid cell"}}
                     : json{{"field", "variant"}, {"type", "nominal"}, {"sort", s.variants}, {"title", nullptr}};
  json encoding{{"x", x}, {"color", color(s)}};
  if (s.by_cell()) encoding["xOffset"] = {{"field", "variant"}, {"type", "nominal"}, {"sort", s.variants}};
  // Accuracy in [0, 1]; an interval that reaches beyond (few runs) is cut at the frame. An MSE has no upper bound.
  const json y_scale = regression ? json{{"zero", true}} : json{{"domain", {0, 1}}, {"clamp", true}};
  const json layers = {
      {{"transform", keep("mean")},
       {"mark", {{"type", "bar"}, {"opacity", 0.55}}},
       {"encoding",
        {{"y", {{"field", "mean"}, {"type", "quantitative"}, {"scale", y_scale}, {"title", "final " + metric_text}}},
         {"tooltip", tooltip({{"variant", "nominal"},
                              {"cell", "nominal"},
                              {"mean", "quantitative"},
                              {"sd", "quantitative"},
                              {"ci_low", "quantitative"},
                              {"ci_high", "quantitative"},
                              {"n_ok", "quantitative"},
                              {"n_diverged", "quantitative"},
                              {"n_failed", "quantitative"}})}}}},
      {{"transform", keep("mean")},
       {"mark", {{"type", "rule"}, {"strokeWidth", 2}}},
       {"encoding",
        {{"y", {{"field", "ci_low"}, {"type", "quantitative"}, {"scale", y_scale}}},
         {"y2", {{"field", "ci_high"}}},
         {"color", {{"value", "black"}}}}}},
      {{"transform", keep("run")},
       {"mark", {{"type", "point"}, {"filled", true}, {"size", 40}}},
       {"encoding",
        {{"y", {{"field", "value"}, {"type", "quantitative"}, {"scale", y_scale}}},
         {"color", {{"value", "black"}}},
         {"tooltip", tooltip({{"key", "nominal"}, {"seed_index", "quantitative"}, {"value", "quantitative"}})}}}}};
  const std::string description =
      std::string(regression ? "Test mean squared error" : "Test accuracy") + " after the last epoch per variant" +
      std::string(s.by_cell() ? " and grid cell" : "") +
      ": bar, the mean over the ok runs; black line, its 95% confidence interval (Student t, as in the table); "
      "dots, the single runs.";
  Chart c{"final_accuracy", regression ? "Final test MSE" : "Final accuracy", description, {}};
  json spec{{"$schema", schema},
            {"title", c.title},
            {"description", description},
            {"data", {{"values", rows}}},
            {"width", s.by_cell() ? std::max<int>(width, 60 * int(s.cells.size() * s.variants.size())) : width},
            {"height", height},
            {"encoding", encoding},
            {"layer", layers}};
  c.spec = std::move(spec);
  return c;
}

// The error flow of recurrent runs (grad_by_lag probes): emitted only when the
// database holds such rows (load_input).
Chart lag_chart(const ReportInput& in, const Study& s) {
  std::map<std::string, const study::StoredRun*> ok_by_key;
  for (const auto* run : s.ok) ok_by_key[run->key] = run;
  // Each run's first and last epoch with lag rows.
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> span;
  for (const auto& r : in.lag) {
    if (!ok_by_key.count(r.key)) continue;
    auto [it, fresh] = span.try_emplace(r.key, r.epoch, r.epoch);
    if (!fresh) {
      it->second.first = std::min(it->second.first, r.epoch);
      it->second.second = std::max(it->second.second, r.epoch);
    }
  }
  Stages stages;
  for (const auto& [key, e] : span) {
    stages.first.insert(e.first);
    if (e.second != e.first) stages.last.insert(e.second);
  }
  std::map<ProfileKey, Spread> values;
  for (const auto& r : in.lag) {
    auto run = ok_by_key.find(r.key);
    if (run == ok_by_key.end() || !std::isfinite(r.grad_norm) || r.grad_norm <= 0) continue;
    const auto& [first, last] = span[r.key];
    const std::string cell = cell_text(run->second->grid);
    if (r.epoch == first) values[{run->second->variant, cell, 0, r.lag}].values.push_back(r.grad_norm);
    if (r.epoch == last && last != first) values[{run->second->variant, cell, 1, r.lag}].values.push_back(r.grad_norm);
  }
  return profile_chart(
      s, stages, profile_rows(s, values, stages, "lag"),
      {"error_flow_by_lag",
       "Error flow by lag",
       "Recurrent runs: the norm of the error signal that reaches each lag (time steps back from the loss), log "
       "scale, mean over the ok runs' seeds with the band from the least to the largest. Falling with the lag: the "
       "error vanishes before it reaches the early steps.",
       {}},
      "lag", "lag (time steps back)", {});
}

}  // namespace

const std::vector<std::string>& chart_names() {
  static const std::vector<std::string> names{"grad_norm_by_layer", "learning_curves", "final_accuracy",
                                              "error_flow_by_lag"};
  return names;
}

std::vector<Chart> build_charts(const ReportInput& in) {
  const Study s = study_of(in);
  std::vector<Chart> all{grad_norm_chart(in, s), learning_curves_chart(in, s), final_accuracy_chart(in, s)};
  if (!in.lag.empty()) all.push_back(lag_chart(in, s));
  // A chart without a value to draw (no run ended ok yet, runs without
  // probes) is left out.
  std::vector<Chart> charts;
  for (auto& chart : all) {
    bool data = false;
    for (const auto& row : chart.spec["data"]["values"])
      data = data || (row.contains("mean") && !row["mean"].is_null()) ||
             (row.contains("value") && !row["value"].is_null());
    if (data) charts.push_back(std::move(chart));
  }
  return charts;
}

}  // namespace gradlab::report
