#include "gradlab/core/datasets.hpp"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <limits>
#include <sstream>

#include "builtin_datasets.hpp"
#include "gradlab/core/error.hpp"
#include "gradlab/core/registry.hpp"

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

std::string read_maybe_gzipped(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(path.string(), "no such file");
  if (fs::is_directory(path, ec)) throw InputError(path.string(), "is a folder, expected a file");
  // gzread passes plain files through unchanged, so one reader serves both.
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) throw InputError(path.string(), "cannot open for reading");
  std::string out;
  char buffer[1 << 16];
  for (;;) {
    int n = gzread(file, buffer, sizeof buffer);
    if (n < 0) {
      int code = 0;
      std::string message = gzerror(file, &code);
      gzclose(file);
      throw InputError(path.string(), "corrupt or truncated gzip data: " + message);
    }
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  gzclose(file);
  return out;
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

IdxImages read_idx_images(const fs::path& path) {
  auto bytes = read_maybe_gzipped(path);
  // The magic first: a file of the wrong kind is named as such even when short.
  if (bytes.size() >= 4 && big_endian_u32(bytes, 0) != 0x00000803)
    throw InputError(path.string(), "wrong IDX magic " + hex(big_endian_u32(bytes, 0)) +
                                        ", expected 0x00000803 (unsigned byte images)");
  if (bytes.size() < 16)
    throw InputError(path.string(), "truncated IDX header: " + std::to_string(bytes.size()) + " bytes");
  IdxImages images;
  images.count = big_endian_u32(bytes, 4);
  images.rows = big_endian_u32(bytes, 8);
  images.cols = big_endian_u32(bytes, 12);
  if (images.rows == 0 || images.cols == 0)
    throw InputError(path.string(), "IDX header gives an empty image size " + std::to_string(images.rows) + "x" +
                                        std::to_string(images.cols));
  // Each factor is below 2^32: rows * cols fits, and dividing avoids an
  // overflowing count * rows * cols for a corrupt header.
  const std::size_t per_image = std::size_t(images.rows) * std::size_t(images.cols);
  const std::size_t need = std::size_t(images.count) <= (bytes.size() - 16) / per_image
                               ? std::size_t(images.count) * per_image
                               : std::numeric_limits<std::size_t>::max();
  if (bytes.size() - 16 < need)
    throw InputError(path.string(), "truncated IDX file: header promises " + std::to_string(images.count) +
                                        " images of " + std::to_string(images.rows) + "x" +
                                        std::to_string(images.cols) + ", file has " +
                                        std::to_string(bytes.size() - 16) + " bytes of pixels");
  images.pixels = bytes.substr(16, need);
  return images;
}

std::vector<std::int32_t> read_idx_labels(const fs::path& path) {
  auto bytes = read_maybe_gzipped(path);
  // The magic first: a file of the wrong kind is named as such even when short.
  if (bytes.size() >= 4 && big_endian_u32(bytes, 0) != 0x00000801)
    throw InputError(path.string(), "wrong IDX magic " + hex(big_endian_u32(bytes, 0)) +
                                        ", expected 0x00000801 (unsigned byte labels)");
  if (bytes.size() < 8)
    throw InputError(path.string(), "truncated IDX header: " + std::to_string(bytes.size()) + " bytes");
  std::size_t count = big_endian_u32(bytes, 4);
  if (bytes.size() - 8 < count)
    throw InputError(path.string(), "truncated IDX file: header promises " + std::to_string(count) +
                                        " labels, file has " + std::to_string(bytes.size() - 8));
  std::vector<std::int32_t> labels(count);
  for (std::size_t i = 0; i < count; ++i) labels[i] = std::uint8_t(bytes[8 + i]);
  return labels;
}

std::vector<std::vector<double>> read_numeric_csv(const fs::path& path, bool header) {
  auto text = read_maybe_gzipped(path);
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
                         "'" + cell + "' is not a number" +
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
void fill_split(Split& split, const std::vector<std::vector<double>>& rows, std::size_t begin, std::size_t end,
                std::size_t label_column, double scale, const std::string& where, Index& classes) {
  const std::size_t features = rows.front().size() - 1;
  split.examples = static_cast<Index>(end - begin);
  split.inputs.resize(static_cast<Index>(features), split.examples);
  split.labels.resize(end - begin);
  for (std::size_t r = begin; r < end; ++r) {
    const auto& row = rows[r];
    std::size_t f = 0;
    for (std::size_t c = 0; c < row.size(); ++c) {
      if (c == label_column) continue;
      split.inputs(static_cast<Index>(f++), static_cast<Index>(r - begin)) = static_cast<Scalar>(row[c] / scale);
    }
    double label = row[label_column];
    if (label < 0 || label != std::floor(label) || label > 1e6)
      throw InputError(where + ": data row " + std::to_string(r + 1),
                       "label " + std::to_string(label) + " is not a class number (0, 1, 2, ...)");
    split.labels[r - begin] = static_cast<std::int32_t>(label);
    classes = std::max<Index>(classes, static_cast<Index>(label) + 1);
  }
}

std::shared_ptr<const Dataset> load_digits(const Params& params, const DataContext& context) {
  fs::path path = params.string("path").empty() ? fs::path(context.data_dir) / "digits.csv.gz"
                                                : resolve(params.string("path"), context);
  auto rows = read_numeric_csv(path, false);
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
    auto images = read_idx_images(image_path);
    auto labels = read_idx_labels(label_path);
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

std::shared_ptr<const Dataset> load_csv(const Params& params, const DataContext& context) {
  auto path = resolve(params.string("path"), context);
  bool header = params.boolean("header");
  auto rows = read_numeric_csv(path, header);
  if (rows.front().size() < 2) throw InputError(path.string(), "a labelled CSV needs at least one feature and a label");
  auto width = static_cast<std::int64_t>(rows.front().size());
  auto label = params.integer("label_column");
  if (label < 0) label += width;
  if (label < 0 || label >= width)
    throw InputError(path.string(), "label_column " + std::to_string(params.integer("label_column")) + " outside the " +
                                        std::to_string(width) + " columns");
  auto data = std::make_shared<Dataset>();
  data->name = "csv";
  data->task = Task::classification;
  data->input = {width - 1, 1};
  double scale = params.real("scale");
  Index classes = 0;
  if (!params.string("test_path").empty()) {
    auto test_path = resolve(params.string("test_path"), context);
    auto test_rows = read_numeric_csv(test_path, header);
    if (static_cast<std::int64_t>(test_rows.front().size()) != width)
      throw InputError(test_path.string(), "has " + std::to_string(test_rows.front().size()) +
                                               " columns, the training file " + std::to_string(width));
    fill_split(data->train, rows, 0, rows.size(), std::size_t(label), scale, path.string(), classes);
    fill_split(data->test, test_rows, 0, test_rows.size(), std::size_t(label), scale, test_path.string(), classes);
  } else {
    auto test_count = static_cast<std::size_t>(std::floor(params.real("test_fraction") * double(rows.size())));
    if (test_count >= rows.size()) throw InputError(path.string(), "test_fraction leaves no training rows");
    fill_split(data->train, rows, 0, rows.size() - test_count, std::size_t(label), scale, path.string(), classes);
    fill_split(data->test, rows, rows.size() - test_count, rows.size(), std::size_t(label), scale, path.string(),
               classes);
  }
  data->outputs = classes;
  return data;
}

}  // namespace

void register_builtin_datasets(Registry& registry) {
  auto add = [&](ComponentInfo info, DatasetFactory factory) {
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
       "A labelled numeric CSV (optionally gzipped): one example per row, integer class labels in one column",
       {ParamSpec::string("path").describe("the CSV file (training rows, or all rows when test_path is empty)"),
        ParamSpec::string("test_path", "").describe("a separate CSV of test rows; empty = split off the last rows"),
        ParamSpec::real("test_fraction", 0.2)
            .at_least(0)
            .at_most(0.99)
            .describe("fraction of rows (the last ones) held out for test when there is no test_path"),
        ParamSpec::integer("label_column", -1).describe("column of the class label; negative counts from the end"),
        ParamSpec::boolean("header", false).describe("skip the first line"),
        ParamSpec::real("scale", 1.0).positive().describe("divide every feature by this")}},
      load_csv);
}

}  // namespace gradlab
