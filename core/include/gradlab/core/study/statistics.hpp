// Statistics over a study's results (docs/studies.md, "Statistics"): per
// variant and grid cell across seeds, and every variant against the baseline.
// Pure functions over plain data; load_records reads them from a study folder.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gradlab/core/run.hpp"

namespace gradlab::study {

// Mean, sample standard deviation (n-1) and the two-sided 95% confidence
// interval of the mean (Student t, n-1 degrees of freedom). With n = 1 the
// sd and the interval are NaN (not defined); with n = 0 everything is NaN.
// Non-finite values are not expected here (callers drop them and count them).
struct Summary {
  std::int64_t n = 0;
  double mean = 0.0, sd = 0.0, ci_low = 0.0, ci_high = 0.0;
};
Summary summarize(const std::vector<double>& x);

// Welch's two-sample t-test (unequal variances), two-sided. `valid` is false,
// with `note` saying why, when a sample has fewer than 2 values or both have
// zero variance (t is not defined); t, df and p are then NaN.
struct WelchTest {
  bool valid = false;
  double t = 0.0, df = 0.0, p = 0.0;
  std::string note;
};
WelchTest welch_t_test(const std::vector<double>& a, const std::vector<double>& b);

// Holm's step-down adjustment of p-values (family-wise error rate); NaN
// entries are left out of the family and stay NaN.
std::vector<double> holm_adjust(const std::vector<double>& p);

// One stored run, as the results database holds it.
struct StoredRun {
  std::string key, variant;
  nlohmann::json grid = nlohmann::json::object();
  std::int64_t seed_index = 0, seed = 0;
  std::string status;  // ok, diverged, failed, running, pending
  Task task = Task::classification;
  std::vector<EpochRecord> epochs;
  std::map<std::string, std::vector<double>> pretraining;  // RunSummary::pretraining
  std::vector<StepProbe> step_probes;                      // RunSummary::step_probes
  // The epoch whose weights the run ended with when early stopping restored
  // them (RunSummary::best_epoch with restored_best); none: the last epoch.
  std::optional<std::int64_t> final_epoch;

  // The record the run's final model matches: what statistics compare.
  const EpochRecord& final_record() const {
    if (final_epoch)
      for (const auto& e : epochs)
        if (e.epoch == *final_epoch) return e;
    return epochs.back();
  }
};

struct StudyRecords {
  std::string name;
  std::string baseline;               // the baseline variant (the spec's baseline:, else the first variant)
  std::vector<std::string> variants;  // in the study file's order
  std::vector<StoredRun> runs;        // in plan order
};

// Reads a study folder's results (read-only). Throws InputError when `dir`
// holds no study results. Defined with the store (core/src/results).
StudyRecords load_records(const std::filesystem::path& dir);

// The final metrics the statistics cover for a task, in this order: for
// regression the mean squared error (train_mse, test_mse: the losses again,
// under the task's metric name) instead of the accuracies.
inline const std::vector<std::string>& final_metrics(Task task = Task::classification) {
  static const std::vector<std::string> classification{"train_loss", "train_accuracy", "test_loss", "test_accuracy",
                                                       "success_rate"};
  static const std::vector<std::string> regression{"train_loss", "train_mse", "test_loss", "test_mse", "success_rate"};
  return task == Task::regression ? regression : classification;
}

// Statistics of one variant at one grid cell.
struct CellStats {
  std::string variant;
  nlohmann::json grid = nlohmann::json::object();
  std::string cell;  // the grid cell as text, "depth=5 optimizer.lr=0.1" ("" without a grid)
  std::int64_t n_ok = 0, n_diverged = 0, n_failed = 0, n_unfinished = 0;
  std::map<std::string, Summary> metrics;  // final_metrics(task) over the ok runs
  // Per layer index (layers with parameters): gradient norms at the first
  // probed epoch (epoch 0) and at the last probed epoch, over the ok runs.
  std::map<std::int64_t, Summary> grad_norm_first, grad_norm_last;
  std::int64_t first_epoch = -1, last_epoch = -1;  // the probed epochs (of the first ok run)
  // Per run: grad norm of the first parametrized layer / of the last, at the
  // first probed epoch; summarized over the ok runs.
  Summary grad_ratio_first;
  // Against the baseline variant at the same cell, on StudyStats::metric (not
  // set for the baseline itself).
  bool compared = false;
  double delta = 0.0;  // mean - baseline mean
  WelchTest test;
  double p_holm = 0.0;  // Holm-adjusted over all comparisons of the study; NaN without a test
};

struct StudyStats {
  std::string name, baseline;
  // The task of the study's runs (of its first finished run: a study that
  // mixes tasks is summarized as that one's, the others' runs giving no value
  // to metrics they lack).
  Task task = Task::classification;
  // The metric compared: success_rate when the runs report one (a task with
  // its own criterion, the long-time-lag benchmarks), else test_accuracy, or
  // test_mse for regression (lower is better).
  std::string metric = "test_accuracy";
  std::vector<CellStats> cells;  // variants in file order, then cells in plan order
};

// Diverged, failed and unfinished runs are counted, never averaged: every
// statistic is over the ok runs of the cell.
StudyStats compute_stats(const StudyRecords& records);

nlohmann::json to_json(const StudyStats& stats);

}  // namespace gradlab::study
