// Statistics over a study's results (see statistics.hpp).
#include "gradlab/core/study/statistics.hpp"

#include <algorithm>
#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <limits>
#include <numeric>

namespace gradlab::study {

namespace {

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

double mean_of(const std::vector<double>& x) { return std::accumulate(x.begin(), x.end(), 0.0) / double(x.size()); }

// Sample variance (n-1), two-pass.
double variance_of(const std::vector<double>& x, double mean) {
  double s = 0.0;
  for (double v : x) s += (v - mean) * (v - mean);
  return s / double(x.size() - 1);
}

nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json summary_json(const Summary& s) {
  return {{"n", s.n}, {"mean", number(s.mean)}, {"sd", number(s.sd)}, {"ci95", {number(s.ci_low), number(s.ci_high)}}};
}

std::string cell_text(const nlohmann::json& grid) {
  std::string out;
  for (auto it = grid.begin(); it != grid.end(); ++it)
    out += (out.empty() ? "" : " ") + it.key() + "=" + (it->is_string() ? it->get<std::string>() : it->dump());
  return out;
}

// A run's value of a final metric; NaN where its task has none (an accuracy of
// a regression run, an MSE of a classifier), so it is left out.
double final_metric(const EpochRecord& e, Task task, const std::string& name) {
  const bool regression = task == Task::regression;
  if (name == "train_loss") return e.train_loss;
  if (name == "test_loss") return e.test_loss;
  if (name == "train_mse") return regression ? e.train_loss : nan;
  if (name == "test_mse") return regression ? e.test_loss : nan;
  if (name == "train_accuracy") return regression ? nan : e.train_accuracy;
  if (name == "success_rate") return e.success_rate.value_or(nan);
  return regression ? nan : e.test_accuracy;
}

}  // namespace

Summary summarize(const std::vector<double>& x) {
  Summary s;
  s.n = static_cast<std::int64_t>(x.size());
  if (x.empty()) {
    s.mean = s.sd = s.ci_low = s.ci_high = nan;
    return s;
  }
  s.mean = mean_of(x);
  if (x.size() < 2) {
    s.sd = s.ci_low = s.ci_high = nan;
    return s;
  }
  s.sd = std::sqrt(variance_of(x, s.mean));
  boost::math::students_t dist(double(x.size() - 1));
  const double half = boost::math::quantile(dist, 0.975) * s.sd / std::sqrt(double(x.size()));
  s.ci_low = s.mean - half;
  s.ci_high = s.mean + half;
  return s;
}

WelchTest welch_t_test(const std::vector<double>& a, const std::vector<double>& b) {
  WelchTest w;
  w.t = w.df = w.p = nan;
  if (a.size() < 2 || b.size() < 2) {
    w.note = "fewer than 2 runs in a group";
    return w;
  }
  const double ma = mean_of(a), mb = mean_of(b);
  const double va = variance_of(a, ma) / double(a.size()), vb = variance_of(b, mb) / double(b.size());
  if (va + vb == 0.0) {
    w.note = "zero variance in both groups";
    return w;
  }
  w.valid = true;
  w.t = (ma - mb) / std::sqrt(va + vb);
  // Welch-Satterthwaite; a group with zero variance contributes nothing.
  double denom = 0.0;
  if (va > 0) denom += va * va / double(a.size() - 1);
  if (vb > 0) denom += vb * vb / double(b.size() - 1);
  w.df = (va + vb) * (va + vb) / denom;
  boost::math::students_t dist(w.df);
  w.p = std::min(1.0, 2.0 * boost::math::cdf(boost::math::complement(dist, std::fabs(w.t))));
  return w;
}

std::vector<double> holm_adjust(const std::vector<double>& p) {
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < p.size(); ++i)
    if (!std::isnan(p[i])) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return p[x] < p[y]; });
  std::vector<double> adjusted(p.size(), nan);
  const double m = double(order.size());
  double running = 0.0;
  for (std::size_t k = 0; k < order.size(); ++k) {
    running = std::max(running, std::min(1.0, (m - double(k)) * p[order[k]]));
    adjusted[order[k]] = running;
  }
  return adjusted;
}

StudyStats compute_stats(const StudyRecords& records) {
  StudyStats stats;
  stats.name = records.name;
  stats.baseline = records.baseline;
  // Cells: variants in file order, then grid cells in the order the plan first lists them.
  std::vector<std::string> variants = records.variants;
  std::vector<std::string> cells;
  std::map<std::string, nlohmann::json> cell_grid;
  for (const auto& run : records.runs) {
    const std::string text = cell_text(run.grid);
    if (!cell_grid.count(text)) {
      cells.push_back(text);
      cell_grid[text] = run.grid;
    }
    if (std::find(variants.begin(), variants.end(), run.variant) == variants.end()) variants.push_back(run.variant);
  }
  for (const auto& run : records.runs)
    if (run.status == "ok" && !run.epochs.empty()) {
      stats.task = run.task;
      break;
    }
  if (stats.task == Task::regression) stats.metric = "test_mse";
  for (const auto& run : records.runs)
    if (run.status == "ok" && !run.epochs.empty() && run.final_record().success_rate) stats.metric = "success_rate";
  const auto& metrics = final_metrics(stats.task);
  // The compared metric's samples of each (variant, cell).
  std::map<std::pair<std::string, std::string>, std::vector<double>> accuracy;
  for (const auto& variant : variants)
    for (const auto& cell : cells) {
      CellStats c;
      c.variant = variant;
      c.cell = cell;
      c.grid = cell_grid[cell];
      std::map<std::string, std::vector<double>> metric_values;
      std::map<std::int64_t, std::vector<double>> first, last;
      std::vector<double> ratios;
      bool any = false;
      for (const auto& run : records.runs) {
        if (run.variant != variant || cell_text(run.grid) != cell) continue;
        any = true;
        if (run.status == "diverged") {
          ++c.n_diverged;
          continue;
        }
        if (run.status == "failed") {
          ++c.n_failed;
          continue;
        }
        if (run.status != "ok" || run.epochs.empty()) {
          ++c.n_unfinished;
          continue;
        }
        ++c.n_ok;
        const auto& final = run.final_record();
        for (const auto& name : metrics) {
          const double v = final_metric(final, run.task, name);
          if (std::isfinite(v)) metric_values[name].push_back(v);
        }
        const EpochRecord *p0 = nullptr, *p1 = nullptr;
        for (const auto& e : run.epochs)
          if (!e.layers.empty()) {
            if (!p0) p0 = &e;
            p1 = &e;
          }
        if (!p0) continue;
        if (c.first_epoch < 0) {
          c.first_epoch = p0->epoch;
          c.last_epoch = p1->epoch;
        }
        auto collect = [](const EpochRecord& e, std::map<std::int64_t, std::vector<double>>& into) {
          for (const auto& l : e.layers)
            if (l.param_count > 0 && std::isfinite(l.grad_norm)) into[l.index].push_back(l.grad_norm);
        };
        collect(*p0, first);
        collect(*p1, last);
        const LayerProbe *lo = nullptr, *hi = nullptr;
        for (const auto& l : p0->layers)
          if (l.param_count > 0 && std::isfinite(l.grad_norm)) {
            if (!lo) lo = &l;
            hi = &l;
          }
        if (lo && hi != lo && hi->grad_norm > 0) ratios.push_back(lo->grad_norm / hi->grad_norm);
      }
      if (!any) continue;
      for (const auto& name : metrics) c.metrics[name] = summarize(metric_values[name]);
      for (const auto& [index, values] : first) c.grad_norm_first[index] = summarize(values);
      for (const auto& [index, values] : last) c.grad_norm_last[index] = summarize(values);
      c.grad_ratio_first = summarize(ratios);
      accuracy[{variant, cell}] = metric_values[stats.metric];
      stats.cells.push_back(std::move(c));
    }
  // Every variant against the baseline at the same cell; Holm over all of them.
  std::vector<double> p;
  std::vector<std::size_t> tested;
  for (std::size_t i = 0; i < stats.cells.size(); ++i) {
    auto& c = stats.cells[i];
    if (c.variant == stats.baseline) continue;
    auto base = accuracy.find({stats.baseline, c.cell});
    if (base == accuracy.end()) continue;
    const auto& mine = accuracy[{c.variant, c.cell}];
    c.compared = true;
    c.delta = (mine.empty() || base->second.empty()) ? nan : mean_of(mine) - mean_of(base->second);
    c.test = welch_t_test(mine, base->second);
    p.push_back(c.test.valid ? c.test.p : nan);
    tested.push_back(i);
  }
  const auto adjusted = holm_adjust(p);
  for (std::size_t k = 0; k < tested.size(); ++k) stats.cells[tested[k]].p_holm = adjusted[k];
  return stats;
}

nlohmann::json to_json(const StudyStats& stats) {
  nlohmann::json out{{"study", stats.name}, {"baseline", stats.baseline}, {"cells", nlohmann::json::array()}};
  // Classification output stays as it was before regression was named.
  if (stats.task == Task::regression) out["task"] = to_string(stats.task);
  for (const auto& c : stats.cells) {
    nlohmann::json j{{"variant", c.variant},       {"grid", c.grid},         {"n_ok", c.n_ok},
                     {"n_diverged", c.n_diverged}, {"n_failed", c.n_failed}, {"n_unfinished", c.n_unfinished}};
    for (const auto& [name, s] : c.metrics) j["final"][name] = summary_json(s);
    auto layers = [](const std::map<std::int64_t, Summary>& m) {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& [index, s] : m) {
        auto row = summary_json(s);
        row["layer"] = index;
        a.push_back(row);
      }
      return a;
    };
    j["grad_norm"] = {{"first_epoch", c.first_epoch},
                      {"last_epoch", c.last_epoch},
                      {"first", layers(c.grad_norm_first)},
                      {"last", layers(c.grad_norm_last)},
                      {"first_over_last_layer_at_first_epoch", summary_json(c.grad_ratio_first)}};
    if (c.compared)
      j["vs_baseline"] = {{"metric", stats.metric},  {"delta", number(c.delta)}, {"t", number(c.test.t)},
                          {"df", number(c.test.df)}, {"p", number(c.test.p)},    {"p_holm", number(c.p_holm)},
                          {"note", c.test.note}};
    out["cells"].push_back(j);
  }
  return out;
}

}  // namespace gradlab::study
