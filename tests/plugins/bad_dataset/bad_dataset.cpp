// Test-only plugin: a data set factory that makes a small 4-feature, 3-class
// data set with one chosen defect (or none). The host must check what a data
// set factory made before anything indexes by its shapes and labels: each
// defect is bad input (an InputError naming it), never an out-of-bounds read
// or write.
#include <gradlab/sdk.hpp>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>

namespace {

using namespace gradlab;

constexpr Index features = 4;
constexpr Index classes = 3;

// Three well separated clusters, one per class: a model learns them in a few epochs.
void fill(Split& split, Index examples, Index offset) {
  split.examples = examples;
  split.inputs.resize(features, examples);
  split.labels.resize(static_cast<std::size_t>(examples));
  for (Index i = 0; i < examples; ++i) {
    const auto label = static_cast<std::int32_t>((i + offset) % classes);
    split.labels[static_cast<std::size_t>(i)] = label;
    for (Index f = 0; f < features; ++f)
      split.inputs(f, i) = Scalar(f == label ? 1.0 : 0.0) + Scalar(0.01) * Scalar((i * 7 + f * 3) % 5);
  }
}

std::shared_ptr<const Dataset> make(const Params& params, const DataContext&) {
  auto data = std::make_shared<Dataset>();
  data->name = "bad_dataset";
  data->task = Task::classification;
  data->input = Shape{features, 1};
  data->outputs = classes;
  fill(data->train, 30, 0);
  fill(data->test, 9, 1);

  const std::string& defect = params.string("defect");
  Split& s = data->train;
  if (defect == "none") {
  } else if (defect == "label_out_of_range") {
    s.labels[5] = 7;
  } else if (defect == "negative_label") {
    s.labels[2] = -1;
  } else if (defect == "too_few_columns") {
    s.inputs.conservativeResize(features, s.examples - 1);
  } else if (defect == "label_count") {
    s.labels.pop_back();
  } else if (defect == "nan_input") {
    s.inputs(1, 3) = std::numeric_limits<Scalar>::quiet_NaN();
  } else if (defect == "zero_features") {
    data->input = Shape{0, 1};
    data->train.inputs.resize(0, data->train.examples);
    data->test.inputs.resize(0, data->test.examples);
  } else if (defect == "regression_target_shape") {
    data->task = Task::regression;
    for (Split* split : {&data->train, &data->test}) {
      split->labels.clear();
      split->targets = Matrix::Zero(classes, split->examples);
    }
    s.targets.resize(classes, s.examples - 1);
    s.targets.setZero();
  } else {
    throw std::invalid_argument("bad_dataset: unknown defect '" + defect + "'");
  }
  return data;
}

void register_bad_dataset(Registrar& r) {
  r.add_dataset({"bad_dataset",
                 "A small 4-feature, 3-class data set with a chosen defect, for testing validation (test only)",
                 {ParamSpec::choice("defect", "none",
                                    {"none", "label_out_of_range", "negative_label", "too_few_columns", "label_count",
                                     "nan_input", "zero_features", "regression_target_shape"})
                      .describe("what is wrong with the data set")}},
                make);
}

}  // namespace

GRADLAB_PLUGIN("bad_dataset", "1.0.0", "Test-only data set with a chosen defect", register_bad_dataset)
