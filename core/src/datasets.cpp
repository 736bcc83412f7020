#include "gradlab/core/datasets.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <limits>
#include <sstream>

#include "builtin_datasets.hpp"
#include "gradlab/core/error.hpp"
#include "gradlab/core/io.hpp"
#include "gradlab/core/registry.hpp"
#include "gradlab/core/target_columns.hpp"

namespace gradlab {

namespace fs = std::filesystem;

fs::path default_data_dir() {
  if (const char* env = std::getenv("GRADLAB_DATA_DIR"); env && *env) return env;
  std::error_code ec;
#ifdef GRADLAB_DATA_DIR_FROM_LIBDIR
  // An installed tree is relocatable: the data sit at a fixed place relative
  // to libgradlab_core.so (<libdir>/gradlab/plugins is the bundled plugin dir).
  if (auto plugins = Registry::bundled_plugin_dir(); !plugins.empty()) {
    auto installed = plugins.parent_path().parent_path() / GRADLAB_DATA_DIR_FROM_LIBDIR;
    if (fs::is_directory(installed, ec)) return installed.lexically_normal();
  }
#endif
#ifdef GRADLAB_SOURCE_DATA_DIR
  if (fs::is_directory(GRADLAB_SOURCE_DATA_DIR, ec)) return GRADLAB_SOURCE_DATA_DIR;
#endif
#ifdef GRADLAB_INSTALL_DATA_DIR
  return GRADLAB_INSTALL_DATA_DIR;
#else
  return "data";
#endif
}

std::string read_maybe_gzipped(const fs::path& path, std::uint64_t max_bytes) {
  GzipInput in(path, "a data file");
  return in.read_rest(max_bytes);
}

namespace {

std::uint32_t big_endian_u32(const std::string& bytes, std::size_t at) {
  return (std::uint32_t(std::uint8_t(bytes[at])) << 24) | (std::uint32_t(std::uint8_t(bytes[at + 1])) << 16) |
         (std::uint32_t(std::uint8_t(bytes[at + 2])) << 8) | std::uint32_t(std::uint8_t(bytes[at + 3]));
}

std::string hex(std::uint32_t v) {
  std::ostringstream s;
  s << "0x" << std::hex << std::setw(8) << std::setfill('0') << v;
  return s.str();
}

}  // namespace

IdxImages read_idx_images(const fs::path& path, std::uint64_t max_bytes) {
  GzipInput in(path, "an IDX image file");
  std::string header(16, '\0');
  const std::size_t got = in.read(header.data(), header.size());
  // The magic first: a file of the wrong kind is named as such even when short.
  if (got >= 4 && big_endian_u32(header, 0) != 0x00000803)
    throw InputError(path.string(), "wrong IDX magic " + hex(big_endian_u32(header, 0)) +
                                        ", expected 0x00000803 (unsigned byte images)");
  if (got < 16) throw InputError(path.string(), "truncated IDX header: " + std::to_string(got) + " bytes");
  IdxImages images;
  const std::uint64_t count = big_endian_u32(header, 4);
  const std::uint64_t rows = big_endian_u32(header, 8);
  const std::uint64_t cols = big_endian_u32(header, 12);
  if (rows == 0 || cols == 0)
    throw InputError(path.string(),
                     "IDX header gives an empty image size " + std::to_string(rows) + "x" + std::to_string(cols));
  // Each factor is below 2^32: rows * cols fits in 64 bits, and count * that
  // is compared by division so that it cannot overflow.
  const std::uint64_t per_image = rows * cols;
  auto declared = [&] {
    return std::to_string(count) + " images of " + std::to_string(rows) + "x" + std::to_string(cols);
  };
  // A plain file is checked against its size before reading (gzip data may
  // be far smaller than what it inflates to, so that is left to the read).
  if (!in.compressed() && count > 0 && (in.file_size() - 16) / count < per_image)
    throw InputError(path.string(), "truncated IDX file: header promises " + declared() + ", file has " +
                                        std::to_string(in.file_size() - 16) + " bytes of pixels");
  // The pixels become floats: 5 bytes of memory for each byte read. Checked
  // before anything that size is allocated.
  const std::uint64_t limit = std::min<std::uint64_t>(max_bytes / 5, std::uint64_t(1) << 40);
  if (per_image > limit || (count > 0 && per_image > limit / count))
    throw InputError(path.string(), "IDX header declares " + declared() + " pixels, more than the memory budget of " +
                                        format_bytes(max_bytes) + " allows (see --max-memory)");
  const std::uint64_t need = count * per_image;
  images.count = Index(count);
  images.rows = Index(rows);
  images.cols = Index(cols);
  images.pixels.resize(std::size_t(need));
  const std::size_t read = in.read(images.pixels.data(), images.pixels.size());
  if (read != need)
    throw InputError(path.string(), "truncated IDX file: header promises " + std::to_string(count) + " images of " +
                                        std::to_string(rows) + "x" + std::to_string(cols) + ", file has " +
                                        std::to_string(read) + " bytes of pixels");
  in.expect_end("the " + declared());
  return images;
}

std::vector<std::int32_t> read_idx_labels(const fs::path& path, std::uint64_t max_bytes) {
  GzipInput in(path, "an IDX label file");
  std::string header(8, '\0');
  const std::size_t got = in.read(header.data(), header.size());
  // The magic first: a file of the wrong kind is named as such even when short.
  if (got >= 4 && big_endian_u32(header, 0) != 0x00000801)
    throw InputError(path.string(), "wrong IDX magic " + hex(big_endian_u32(header, 0)) +
                                        ", expected 0x00000801 (unsigned byte labels)");
  if (got < 8) throw InputError(path.string(), "truncated IDX header: " + std::to_string(got) + " bytes");
  const std::uint64_t count = big_endian_u32(header, 4);
  if (count > max_bytes / 5)
    throw InputError(path.string(), "IDX header declares " + std::to_string(count) +
                                        " labels, more than the memory budget of " + format_bytes(max_bytes) +
                                        " allows (see --max-memory)");
  std::string bytes(std::size_t(count), '\0');
  const std::size_t read = in.read(bytes.data(), bytes.size());
  if (read != count)
    throw InputError(path.string(), "truncated IDX file: header promises " + std::to_string(count) +
                                        " labels, file has " + std::to_string(read));
  in.expect_end("the " + std::to_string(count) + " labels");
  std::vector<std::int32_t> labels(count);
  for (std::size_t i = 0; i < count; ++i) labels[i] = std::uint8_t(bytes[i]);
  return labels;
}

std::vector<std::vector<double>> read_numeric_csv(const fs::path& path, bool header, std::uint64_t max_bytes) {
  // Parsed, a value takes 8 bytes as a double and 4 as a float from at least
  // 2 bytes of text ("0,"): the text may be at most an eighth of the budget.
  auto text = read_maybe_gzipped(path, max_bytes / 8);
  std::vector<std::vector<double>> rows;
  std::istringstream in(text);
  std::string line;
  std::size_t row_number = 0;
  std::size_t width = 0;
  while (std::getline(in, line)) {
    ++row_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (header && row_number == 1) continue;
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    std::vector<double> row;
    std::size_t column = 0;
    std::size_t start = 0;
    for (;;) {
      ++column;
      auto comma = line.find(',', start);
      std::string cell = line.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      auto first = cell.find_first_not_of(" \t");
      auto last = cell.find_last_not_of(" \t");
      cell = first == std::string::npos ? "" : cell.substr(first, last - first + 1);
      char* end = nullptr;
      double value = std::strtod(cell.c_str(), &end);
      if (cell.empty() || end != cell.c_str() + cell.size() || !std::isfinite(value))
        throw InputError(path.string() + ":" + std::to_string(row_number) + ":" + std::to_string(column),
                         quote_text(cell) + " is not a number" +
                             (row_number == 1 && !header ? " (if the first line is a header, set header: true)" : ""));
      row.push_back(value);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (width == 0) width = row.size();
    if (row.size() != width)
      throw InputError(
          path.string() + ":" + std::to_string(row_number),
          "row has " + std::to_string(row.size()) + " columns, earlier rows have " + std::to_string(width));
    rows.push_back(std::move(row));
  }
  if (rows.empty()) throw InputError(path.string(), "no data rows");
  return rows;
}

std::vector<std::size_t> parse_target_columns(const std::string& text, std::int64_t width, const std::string& file) {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument("target_columns " + quote_text(text) + ": " + why + " (" + file + " has " +
                                std::to_string(width) + " columns)");
  };
  std::vector<std::size_t> columns;
  std::size_t start = 0;
  for (;;) {
    const auto comma = text.find(',', start);
    std::string entry = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const auto first = entry.find_first_not_of(" \t");
    const auto last = entry.find_last_not_of(" \t");
    entry = first == std::string::npos ? "" : entry.substr(first, last - first + 1);
    if (entry.empty()) fail("entry " + std::to_string(columns.size() + 1) + " is empty");
    char* end = nullptr;
    errno = 0;
    const long long given = std::strtoll(entry.c_str(), &end, 10);
    if (end != entry.c_str() + entry.size() || errno == ERANGE)
      fail(quote_text(entry) + " is not a column number (0, 1, ..., or -1 for the last)");
    const long long column = given < 0 ? given + width : given;
    if (column < 0 || column >= width) fail("there is no column " + entry);
    for (auto c : columns)
      if (c == static_cast<std::size_t>(column)) fail("column " + std::to_string(column) + " is named twice");
    columns.push_back(static_cast<std::size_t>(column));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (static_cast<std::int64_t>(columns.size()) >= width) fail("no column is left for the features");
  return columns;
}

namespace {

fs::path resolve(const std::string& path, const DataContext& context) {
  fs::path p(path);
  if (p.is_relative() && !context.spec_dir.empty()) {
    std::error_code ec;
    if (!fs::exists(p, ec) && fs::exists(fs::path(context.spec_dir) / p, ec)) return fs::path(context.spec_dir) / p;
  }
  return p;
}

// Labelled rows -> a classification split: `label_column` holds integer labels.
// With steps > 1 a row's other values are `steps` blocks of features, step 0
// first: the split's example-major storage in the same order.
void fill_split(Split& split, const std::vector<std::vector<double>>& rows, std::size_t begin, std::size_t end,
                std::size_t label_column, double scale, const std::string& where, Index& classes, Index steps = 1) {
  const Index values = static_cast<Index>(rows.front().size() - 1);
  split.examples = static_cast<Index>(end - begin);
  split.inputs.resize(values / steps, split.examples * steps);
  split.labels.resize(end - begin);
  for (std::size_t r = begin; r < end; ++r) {
    const auto& row = rows[r];
    Scalar* out = split.inputs.data() + static_cast<Index>(r - begin) * values;
    for (std::size_t c = 0; c < row.size(); ++c) {
      if (c == label_column) continue;
      *out++ = static_cast<Scalar>(row[c] / scale);
    }
    double label = row[label_column];
    if (label < 0 || label != std::floor(label) || label > 1e6)
      throw InputError(where + ": data row " + std::to_string(r + 1),
                       "label " + std::to_string(label) + " is not a class number (0, 1, 2, ...)");
    split.labels[r - begin] = static_cast<std::int32_t>(label);
    classes = std::max<Index>(classes, static_cast<Index>(label) + 1);
  }
}

// Regression rows -> a split: the `targets` columns (in the order given) are
// the example's target vector, every other column a feature; with steps > 1
// the features are `steps` blocks, step 0 first, as fill_split reads them.
// Targets are not scaled: the loss is measured in the file's units.
void fill_regression_split(Split& split, const std::vector<std::vector<double>>& rows,
                           const std::vector<std::size_t>& targets, double scale, Index steps) {
  const std::size_t width = rows.front().size();
  std::vector<bool> is_target(width, false);
  for (auto t : targets) is_target[t] = true;
  const Index values = static_cast<Index>(width - targets.size());
  split.examples = static_cast<Index>(rows.size());
  split.inputs.resize(values / steps, split.examples * steps);
  split.targets.resize(static_cast<Index>(targets.size()), split.examples);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const auto& row = rows[r];
    Scalar* out = split.inputs.data() + static_cast<Index>(r) * values;
    for (std::size_t c = 0; c < width; ++c)
      if (!is_target[c]) *out++ = static_cast<Scalar>(row[c] / scale);
    for (std::size_t k = 0; k < targets.size(); ++k)
      split.targets(static_cast<Index>(k), static_cast<Index>(r)) = static_cast<Scalar>(row[targets[k]]);
  }
}

std::shared_ptr<const Dataset> load_digits(const Params& params, const DataContext& context) {
  fs::path path = params.string("path").empty() ? fs::path(context.data_dir) / "digits.csv.gz"
                                                : resolve(params.string("path"), context);
  auto rows = read_numeric_csv(path, false, context.max_bytes);
  if (rows.front().size() != 65)
    throw InputError(path.string(), "digits rows have 64 pixels and a label, found " +
                                        std::to_string(rows.front().size()) + " columns");
  const std::size_t test_rows = static_cast<std::size_t>(params.integer("test_rows"));
  if (rows.size() <= test_rows)
    throw InputError(path.string(), "only " + std::to_string(rows.size()) + " rows, fewer than test_rows + 1");
  auto data = std::make_shared<Dataset>();
  data->name = "digits";
  data->task = Task::classification;
  data->input = {64, 1};
  Index classes = 0;
  fill_split(data->train, rows, 0, rows.size() - test_rows, 64, 16.0, path.string(), classes);
  fill_split(data->test, rows, rows.size() - test_rows, rows.size(), 64, 16.0, path.string(), classes);
  data->outputs = 10;
  if (classes > data->outputs) {
    const auto& labels = data->train.labels;
    auto max_label = std::max(*std::max_element(labels.begin(), labels.end()),
                              *std::max_element(data->test.labels.begin(), data->test.labels.end()));
    throw InputError(path.string(), "label " + std::to_string(max_label) + " is not a digit 0..9");
  }
  return data;
}

std::shared_ptr<const Dataset> load_idx_set(const std::string& name, const Params& params, const DataContext& context) {
  fs::path dir = resolve(params.string("path"), context);
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw InputError(dir.string(), "no such file or folder (the " + name + " IDX folder)");
  if (!fs::is_directory(dir, ec))
    throw InputError(dir.string(), "expected the folder holding the four " + name + " IDX files");
  auto find = [&](const std::string& stem) {
    for (const char* suffix : {"", ".gz"}) {
      for (const std::string& s : {stem, std::string(stem).replace(stem.find("-idx"), 4, ".idx")}) {
        auto p = dir / (s + suffix);
        if (fs::exists(p, ec)) return p;
      }
    }
    throw InputError(dir.string(), "missing " + stem + "[.gz]");
  };
  auto data = std::make_shared<Dataset>();
  data->name = name;
  data->task = Task::classification;
  data->outputs = 10;
  auto load = [&](Split& split, const std::string& images_stem, const std::string& labels_stem, std::int64_t limit) {
    auto image_path = find(images_stem);
    auto label_path = find(labels_stem);
    auto images = read_idx_images(image_path, context.max_bytes);
    auto labels = read_idx_labels(label_path, context.max_bytes);
    if (static_cast<Index>(labels.size()) != images.count)
      throw InputError(label_path.string(), std::to_string(labels.size()) + " labels for " +
                                                std::to_string(images.count) + " images in " + image_path.string());
    Index n = limit > 0 ? std::min<Index>(limit, images.count) : images.count;
    Index features = images.rows * images.cols;
    if (&split == &data->test && data->input.features != features)
      throw InputError(image_path.string(), "images are " + std::to_string(images.rows) + "x" +
                                                std::to_string(images.cols) + ", the training images " +
                                                std::to_string(data->input.features) + " pixels each");
    data->input = {features, 1};
    split.examples = n;
    split.inputs.resize(features, n);
    for (Index i = 0; i < n; ++i)
      for (Index f = 0; f < features; ++f)
        split.inputs(f, i) = static_cast<Scalar>(std::uint8_t(images.pixels[i * features + f]) / 255.0);
    split.labels.assign(labels.begin(), labels.begin() + n);
    for (auto l : split.labels)
      if (l > 9) throw InputError(label_path.string(), "label " + std::to_string(l) + " outside 0..9");
  };
  load(data->train, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", params.integer("train_limit"));
  load(data->test, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", params.integer("test_limit"));
  return data;
}

// A csv data set with `target_columns`: regression on those columns. Rows are
// split into train and test as for classification (test_path or test_fraction).
std::shared_ptr<const Dataset> load_csv_regression(const Params& params, const DataContext& context,
                                                   const fs::path& path, std::vector<std::vector<double>> rows) {
  const bool header = params.boolean("header");
  const auto width = static_cast<std::int64_t>(rows.front().size());
  const std::vector<std::size_t> targets = parse_target_columns(params.string("target_columns"), width, path.string());
  const auto features = width - static_cast<std::int64_t>(targets.size());
  const Index steps = static_cast<Index>(params.integer("steps"));
  if (features % steps != 0)
    throw InputError(path.string(), "rows have " + std::to_string(features) + " values besides the targets, not a " +
                                        "multiple of steps = " + std::to_string(steps));
  auto data = std::make_shared<Dataset>();
  data->name = "csv";
  data->task = Task::regression;
  data->input = {features / steps, steps};
  data->outputs = static_cast<Index>(targets.size());
  const double scale = params.real("scale");
  std::vector<std::vector<double>> test_rows;
  if (!params.string("test_path").empty()) {
    auto test_path = resolve(params.string("test_path"), context);
    test_rows = read_numeric_csv(test_path, header, context.max_bytes);
    if (static_cast<std::int64_t>(test_rows.front().size()) != width)
      throw InputError(test_path.string(), "has " + std::to_string(test_rows.front().size()) +
                                               " columns, the training file " + std::to_string(width));
  } else {
    auto test_count = static_cast<std::size_t>(std::floor(params.real("test_fraction") * double(rows.size())));
    if (test_count >= rows.size()) throw InputError(path.string(), "test_fraction leaves no training rows");
    test_rows.assign(std::make_move_iterator(rows.end() - static_cast<std::ptrdiff_t>(test_count)),
                     std::make_move_iterator(rows.end()));
    rows.resize(rows.size() - test_count);
  }
  fill_regression_split(data->train, rows, targets, scale, steps);
  if (test_rows.empty()) {
    data->test.inputs.resize(data->input.features, 0);
    data->test.targets.resize(data->outputs, 0);
  } else {
    fill_regression_split(data->test, test_rows, targets, scale, steps);
  }
  return data;
}

std::shared_ptr<const Dataset> load_csv(const Params& params, const DataContext& context) {
  auto path = resolve(params.string("path"), context);
  bool header = params.boolean("header");
  auto rows = read_numeric_csv(path, header, context.max_bytes);
  if (!params.string("target_columns").empty()) return load_csv_regression(params, context, path, std::move(rows));
  if (rows.front().size() < 2) throw InputError(path.string(), "a labelled CSV needs at least one feature and a label");
  auto width = static_cast<std::int64_t>(rows.front().size());
  auto label = params.integer("label_column");
  if (label < 0) label += width;
  if (label < 0 || label >= width)
    throw InputError(path.string(), "label_column " + std::to_string(params.integer("label_column")) + " outside the " +
                                        std::to_string(width) + " columns");
  const Index steps = static_cast<Index>(params.integer("steps"));
  if ((width - 1) % steps != 0)
    throw InputError(path.string(), "rows have " + std::to_string(width - 1) + " values besides the label, not a " +
                                        "multiple of steps = " + std::to_string(steps));
  auto data = std::make_shared<Dataset>();
  data->name = "csv";
  data->task = Task::classification;
  data->input = {(width - 1) / steps, steps};
  double scale = params.real("scale");
  Index classes = 0;
  if (!params.string("test_path").empty()) {
    auto test_path = resolve(params.string("test_path"), context);
    auto test_rows = read_numeric_csv(test_path, header, context.max_bytes);
    if (static_cast<std::int64_t>(test_rows.front().size()) != width)
      throw InputError(test_path.string(), "has " + std::to_string(test_rows.front().size()) +
                                               " columns, the training file " + std::to_string(width));
    fill_split(data->train, rows, 0, rows.size(), std::size_t(label), scale, path.string(), classes, steps);
    fill_split(data->test, test_rows, 0, test_rows.size(), std::size_t(label), scale, test_path.string(), classes,
               steps);
  } else {
    auto test_count = static_cast<std::size_t>(std::floor(params.real("test_fraction") * double(rows.size())));
    if (test_count >= rows.size()) throw InputError(path.string(), "test_fraction leaves no training rows");
    fill_split(data->train, rows, 0, rows.size() - test_count, std::size_t(label), scale, path.string(), classes,
               steps);
    fill_split(data->test, rows, rows.size() - test_count, rows.size(), std::size_t(label), scale, path.string(),
               classes, steps);
  }
  data->outputs = classes;
  return data;
}

}  // namespace

void check_dataset(const Dataset& data) {
  auto fail = [](const std::string& what) { throw std::invalid_argument(what); };
  const Index features = data.input.features, steps = data.input.steps;
  if (features < 1 || steps < 1)
    fail("input shape " + std::to_string(features) + " features x " + std::to_string(steps) + " steps is empty");
  if (features > (Index(1) << 40) / steps)
    fail("input shape " + std::to_string(features) + " x " + std::to_string(steps) + " is impossibly large");
  if (data.outputs < 1)
    fail(std::string("has ") + std::to_string(data.outputs) +
         (data.task == Task::classification ? " classes" : " targets") + "; at least 1 needed");
  for (const auto* split : {&data.train, &data.test}) {
    const std::string name = split == &data.train ? "train" : "test";
    if (split->examples < 0) fail(name + " split has a negative example count");
    if (split->inputs.rows() != features || split->inputs.cols() != split->examples * steps)
      fail(name + " inputs are " + std::to_string(split->inputs.rows()) + "x" + std::to_string(split->inputs.cols()) +
           ", expected " + std::to_string(features) + "x" + std::to_string(split->examples * steps) + " (" +
           std::to_string(split->examples) + " examples x " + std::to_string(steps) + " steps)");
    if (!split->lengths.empty()) {
      if (static_cast<Index>(split->lengths.size()) != split->examples)
        fail(name + " split has " + std::to_string(split->lengths.size()) + " sequence lengths for " +
             std::to_string(split->examples) + " examples");
      for (std::size_t i = 0; i < split->lengths.size(); ++i)
        if (split->lengths[i] < 1 || split->lengths[i] > steps)
          fail(name + " example " + std::to_string(i) + " has length " + std::to_string(split->lengths[i]) +
               ", outside 1.." + std::to_string(steps));
    }
    // Targets: one per example, or one per step (example-major) for every_step data.
    const Index per_example = data.target_at == TargetAt::every_step ? steps : 1;
    auto padded = [&](Index column) {
      return per_example > 1 && column % steps >= split->length(column / steps, steps);
    };
    if (data.task == Task::classification) {
      if (static_cast<Index>(split->labels.size()) != split->examples * per_example)
        fail(name + " split has " + std::to_string(split->labels.size()) + " labels for " +
             std::to_string(split->examples) + " examples" +
             (per_example > 1 ? " x " + std::to_string(steps) + " steps" : std::string()));
      for (std::size_t i = 0; i < split->labels.size(); ++i) {
        if (padded(Index(i))) continue;  // padded steps carry -1 by convention; never read
        if (split->labels[i] < 0 || split->labels[i] >= data.outputs)
          fail(name + " example " + std::to_string(Index(i) / per_example) +
               (per_example > 1 ? " step " + std::to_string(Index(i) % per_example) : std::string()) + " has label " +
               std::to_string(split->labels[i]) + ", outside 0.." + std::to_string(data.outputs - 1));
      }
    } else if (split->targets.rows() != data.outputs || split->targets.cols() != split->examples * per_example) {
      fail(name + " targets are " + std::to_string(split->targets.rows()) + "x" +
           std::to_string(split->targets.cols()) + ", expected " + std::to_string(data.outputs) + "x" +
           std::to_string(split->examples * per_example));
    } else if (!split->targets.allFinite()) {
      fail(name + " targets hold a NaN or infinite value");
    }
    if (!split->inputs.allFinite()) {
      for (Index c = 0; c < split->inputs.cols(); ++c)
        if (!split->inputs.col(c).allFinite())
          fail(name + " example " + std::to_string(c / steps) + " has a NaN or infinite input");
    }
  }
}

void register_builtin_datasets(Registry& registry) {
  auto add = [&](ComponentInfo info, DatasetFactory factory) {
    info.uses_run_seed = false;  // files: the same data whatever the run's seed
    Registry::Entry e{ComponentKind::dataset, std::move(info)};
    e.dataset = std::move(factory);
    registry.add_builtin(std::move(e));
  };
  add({"digits",
       "8x8 handwritten digits (UCI optdigits test set as shipped with scikit-learn, CC BY 4.0): 1797 rows, "
       "pixels/16; train = first rows, test = last test_rows",
       {ParamSpec::string("path", "").describe("CSV(.gz) of 64 pixels + label; empty = the copy shipped in data/"),
        ParamSpec::integer("test_rows", 360).at_least(1).describe("the last N rows form the test split")}},
      load_digits);
  for (std::string name : {"mnist", "fashion_mnist"}) {
    add({name,
         name == "mnist" ? "MNIST handwritten digits (LeCun et al. 1998) from IDX files, pixels/255"
                         : "Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) from IDX files, pixels/255",
         {name == "mnist"
              ? ParamSpec::string("path").describe(
                    "folder with train-images-idx3-ubyte[.gz] and the three other IDX files")
              : ParamSpec::string("path", "/usr/share/datasets/fashion-mnist")
                    .describe(
                        "folder with the four IDX files; default: where Debian's dataset-fashion-mnist puts them"),
          ParamSpec::integer("train_limit", 0).at_least(0).describe("use only the first N training images; 0 = all"),
          ParamSpec::integer("test_limit", 0).at_least(0).describe("use only the first N test images; 0 = all")}},
        [name](const Params& p, const DataContext& c) { return load_idx_set(name, p, c); });
  }
  add({"csv",
       "A numeric CSV (optionally gzipped): one example per row, an integer class label in one column, or "
       "regression targets in target_columns",
       {ParamSpec::string("path").describe("the CSV file (training rows, or all rows when test_path is empty)"),
        ParamSpec::string("test_path", "").describe("a separate CSV of test rows; empty = split off the last rows"),
        ParamSpec::real("test_fraction", 0.2)
            .at_least(0)
            .at_most(0.99)
            .describe("fraction of rows (the last ones) held out for test when there is no test_path"),
        ParamSpec::integer("label_column", -1)
            .describe("column of the class label; negative counts from the end; ignored with target_columns"),
        ParamSpec::string("target_columns", "")
            .describe("regression: comma-separated column numbers of the targets, e.g. \"-2,-1\" (negative counts "
                      "from the end); every other column is a feature; empty = classification on label_column"),
        ParamSpec::boolean("header", false).describe("skip the first line"),
        ParamSpec::integer("steps", 1)
            .at_least(1)
            .at_most(1 << 20)
            .describe("time steps per row: a row holds steps x features inputs, step 0 first, then the label"),
        ParamSpec::real("scale", 1.0).positive().describe("divide every feature by this")}},
      load_csv);
}

}  // namespace gradlab
