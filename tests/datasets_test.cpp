// The built-in data sets (design section 4): digits as shipped, MNIST-style IDX
// folders (raw and gzipped), and labelled CSV files.
#include "gradlab/core/datasets.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "gradlab/core/error.hpp"
#include "gradlab/core/run.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace gradlab;
using test::TempDir;

namespace {

std::shared_ptr<const Dataset> load(const std::string& data_yaml, const fs::path& spec_dir) {
  auto spec = parse_run_spec("data: " + data_yaml + "\nmodel: {layers: [{type: dense, units: 10}]}\n", "data.yaml", {},
                             test::bundled_registry(), spec_dir.string());
  return load_dataset(spec, test::bundled_registry());
}

std::vector<double> parse_row(const std::string& line) {
  std::vector<double> out;
  std::stringstream ss(line);
  for (std::string cell; std::getline(ss, cell, ',');) out.push_back(std::stod(cell));
  return out;
}

}  // namespace

TEST(Datasets, DigitsAsShipped) {
  auto data = load("{name: digits}", test::source_dir());
  EXPECT_EQ(data->task, Task::classification);
  EXPECT_EQ(data->train.examples, 1437);
  EXPECT_EQ(data->test.examples, 360);
  EXPECT_EQ(data->input, (Shape{64, 1}));
  EXPECT_EQ(data->outputs, 10);
  ASSERT_EQ(data->train.inputs.rows(), 64);
  ASSERT_EQ(data->train.inputs.cols(), 1437);
  ASSERT_EQ(data->test.inputs.cols(), 360);
  ASSERT_EQ(data->train.labels.size(), 1437u);
  ASSERT_EQ(data->test.labels.size(), 360u);
  // Pixels 0..16 divided by 16: in [0, 1], both ends reached.
  for (const Split* s : {&data->train, &data->test}) {
    EXPECT_GE(s->inputs.minCoeff(), 0.0f);
    EXPECT_LE(s->inputs.maxCoeff(), 1.0f);
  }
  EXPECT_EQ(data->train.inputs.minCoeff(), 0.0f);
  EXPECT_EQ(data->train.inputs.maxCoeff(), 1.0f);
  // Every class 0..9 in both splits, nothing else.
  for (const Split* s : {&data->train, &data->test}) {
    std::set<int> classes(s->labels.begin(), s->labels.end());
    EXPECT_EQ(classes.size(), 10u);
    EXPECT_EQ(*classes.begin(), 0);
    EXPECT_EQ(*classes.rbegin(), 9);
  }

  // Train = the first 1437 rows, test = the last 360, in file order: compare
  // with the shipped file read independently (gzip + text).
  auto r = test::run_shell("gzip -dc '" + (test::source_dir() / "data" / "digits.csv.gz").string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  ASSERT_EQ(lines.size(), 1797u);
  for (auto [row, split, column] : std::vector<std::tuple<std::size_t, const Split*, Index>>{
           {0, &data->train, 0}, {1436, &data->train, 1436}, {1437, &data->test, 0}, {1796, &data->test, 359}}) {
    auto values = parse_row(lines[row]);
    ASSERT_EQ(values.size(), 65u);
    for (Index f = 0; f < 64; ++f) EXPECT_EQ(split->inputs(f, column), float(values[f] / 16.0)) << row << ":" << f;
    EXPECT_EQ(split->labels[column], int(values[64])) << row;
  }
}

TEST(Datasets, DigitsTestRowsParameter) {
  auto data = load("{name: digits, test_rows: 97}", test::source_dir());
  EXPECT_EQ(data->train.examples, 1797 - 97);
  EXPECT_EQ(data->test.examples, 97);
}

namespace {

std::string be32(std::uint32_t v) {
  return {char((v >> 24) & 0xff), char((v >> 16) & 0xff), char((v >> 8) & 0xff), char(v & 0xff)};
}

// Pixel (image i, row r, column c) of the generated set; reaches 0 and 255.
int pixel(int split, int i, int r, int c) {
  if (i == 1 && r == 0 && c == 0) return 255;
  return (split * 101 + i * 31 + r * 7 + c * 3) * 13 % 256;
}
int label(int split, int i) { return (i * 7 + split * 3) % 10; }

struct IdxSet {
  int train = 12, test = 5, rows = 4, cols = 3;  // rows != cols: a transposed reader fails
};

void write_idx_folder(const fs::path& dir, bool gz, const IdxSet& set = {}, bool dotted_names = false) {
  fs::create_directories(dir);
  for (int split = 0; split < 2; ++split) {
    const int count = split == 0 ? set.train : set.test;
    std::string images = be32(0x803) + be32(count) + be32(set.rows) + be32(set.cols);
    std::string labels = be32(0x801) + be32(count);
    for (int i = 0; i < count; ++i) {
      for (int r = 0; r < set.rows; ++r)
        for (int c = 0; c < set.cols; ++c) images.push_back(char(pixel(split, i, r, c)));
      labels.push_back(char(label(split, i)));
    }
    std::string prefix = split == 0 ? "train" : "t10k";
    std::string sep = dotted_names ? "." : "-";
    auto image_path = dir / (prefix + "-images" + sep + "idx3-ubyte");
    auto label_path = dir / (prefix + "-labels" + sep + "idx1-ubyte");
    test::write_text(image_path, images);
    test::write_text(label_path, labels);
    if (gz) {
      for (const auto& p : {image_path, label_path}) {
        auto r = test::run_shell("gzip -f '" + p.string() + "'");
        ASSERT_EQ(r.exit_code, 0) << r.err;
      }
    }
  }
}

void expect_idx_content(const Dataset& data, const IdxSet& set = {}, int train_count = -1, int test_count = -1) {
  EXPECT_EQ(data.task, Task::classification);
  EXPECT_EQ(data.outputs, 10);
  EXPECT_EQ(data.input, (Shape{set.rows * set.cols, 1}));
  for (int split = 0; split < 2; ++split) {
    const Split& s = split == 0 ? data.train : data.test;
    const int count =
        split == 0 ? (train_count < 0 ? set.train : train_count) : (test_count < 0 ? set.test : test_count);
    ASSERT_EQ(s.examples, count);
    ASSERT_EQ(s.inputs.rows(), set.rows * set.cols);
    ASSERT_EQ(s.inputs.cols(), count);
    ASSERT_EQ(s.labels.size(), std::size_t(count));
    for (int i = 0; i < count; ++i) {
      EXPECT_EQ(s.labels[i], label(split, i));
      // One column per image, row-major pixels (as torch.flatten orders them), /255.
      for (int r = 0; r < set.rows; ++r)
        for (int c = 0; c < set.cols; ++c)
          ASSERT_EQ(s.inputs(r * set.cols + c, i), float(pixel(split, i, r, c) / 255.0))
              << "split " << split << " image " << i << " pixel " << r << "," << c;
    }
  }
}

}  // namespace

TEST(Datasets, IdxFolderRawAndGzipped) {
  for (bool gz : {false, true}) {
    SCOPED_TRACE(gz ? "gzipped" : "raw");
    TempDir dir;
    write_idx_folder(dir / "mnist", gz);
    auto data = load("{name: mnist, path: " + (dir / "mnist").string() + "}", test::source_dir());
    expect_idx_content(*data);
    EXPECT_EQ(data->train.inputs.maxCoeff(), 1.0f);
    EXPECT_EQ(data->train.inputs.minCoeff(), 0.0f);
  }
}

TEST(Datasets, IdxFolderRelativeToTheSpec) {
  TempDir dir;
  write_idx_folder(dir / "sets" / "fm", true);
  auto data = load("{name: fashion_mnist, path: sets/fm}", dir.path());
  expect_idx_content(*data);
}

TEST(Datasets, IdxFolderWithDottedFileNames) {
  // Some mirrors name the files train-images.idx3-ubyte.
  TempDir dir;
  write_idx_folder(dir / "mnist", false, {}, true);
  auto data = load("{name: mnist, path: " + (dir / "mnist").string() + "}", test::source_dir());
  expect_idx_content(*data);
}

TEST(Datasets, IdxLimits) {
  TempDir dir;
  write_idx_folder(dir / "mnist", true);
  auto data =
      load("{name: mnist, path: " + (dir / "mnist").string() + ", train_limit: 7, test_limit: 2}", test::source_dir());
  expect_idx_content(*data, {}, 7, 2);
}

TEST(Datasets, IdxReaderDirectly) {
  TempDir dir;
  write_idx_folder(dir / "m", false, {3, 2, 5, 7});
  auto images = read_idx_images(dir / "m" / "train-images-idx3-ubyte");
  EXPECT_EQ(images.count, 3);
  EXPECT_EQ(images.rows, 5);
  EXPECT_EQ(images.cols, 7);
  ASSERT_EQ(images.pixels.size(), 3u * 5 * 7);
  EXPECT_EQ(std::uint8_t(images.pixels[1 * 35 + 2 * 7 + 4]), pixel(0, 1, 2, 4));
  auto labels = read_idx_labels(dir / "m" / "t10k-labels-idx1-ubyte");
  ASSERT_EQ(labels.size(), 2u);
  EXPECT_EQ(labels[1], label(1, 1));
}

TEST(Datasets, IdxLabelCountMismatchAndBadLabel) {
  TempDir dir;
  write_idx_folder(dir / "m", false);
  // 11 labels for 12 images.
  std::string labels = be32(0x801) + be32(11) + std::string(11, '\1');
  test::write_text(dir / "m" / "train-labels-idx1-ubyte", labels);
  try {
    load("{name: mnist, path: " + (dir / "m").string() + "}", test::source_dir());
    ADD_FAILURE() << "accepted 11 labels for 12 images";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("train-labels-idx1-ubyte"), std::string::npos) << e.what();
  }
  labels = be32(0x801) + be32(12) + std::string(11, '\1') + std::string(1, char(10));
  test::write_text(dir / "m" / "train-labels-idx1-ubyte", labels);
  try {
    load("{name: mnist, path: " + (dir / "m").string() + "}", test::source_dir());
    ADD_FAILURE() << "accepted label 10";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("label 10"), std::string::npos) << e.what();
  }
}

TEST(Datasets, IdxMissingFileIsNamed) {
  TempDir dir;
  write_idx_folder(dir / "m", false);
  fs::remove(dir / "m" / "t10k-images-idx3-ubyte");
  try {
    load("{name: mnist, path: " + (dir / "m").string() + "}", test::source_dir());
    ADD_FAILURE() << "accepted a folder without test images";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("t10k-images-idx3-ubyte"), std::string::npos) << e.what();
  }
}

namespace {
const char* csv_rows =
    "label,a,b,c\n"
    "1,0.5,1.5,2.5\n"
    "0,1,2,3\n"
    "2,-1,-2,-3\n"
    "1,4,5,6\n"
    "0,7,8,9\n"
    "1,10,11,12\n"
    "3,13,14,15\n"
    "2,16,17,18\n";
}

TEST(Datasets, CsvWithHeaderLabelColumnAndTestFraction) {
  TempDir dir;
  test::write_text(dir / "rows.csv", csv_rows);
  auto data = load("{name: csv, path: rows.csv, header: true, label_column: 0, test_fraction: 0.25}", dir.path());
  EXPECT_EQ(data->task, Task::classification);
  EXPECT_EQ(data->input, (Shape{3, 1}));
  EXPECT_EQ(data->outputs, 4);  // labels 0..3
  ASSERT_EQ(data->train.examples, 6);
  ASSERT_EQ(data->test.examples, 2);  // the last floor(0.25 * 8) rows
  EXPECT_EQ(data->train.labels, (std::vector<std::int32_t>{1, 0, 2, 1, 0, 1}));
  EXPECT_EQ(data->test.labels, (std::vector<std::int32_t>{3, 2}));
  EXPECT_EQ(data->train.inputs(0, 0), 0.5f);
  EXPECT_EQ(data->train.inputs(2, 0), 2.5f);
  EXPECT_EQ(data->train.inputs(1, 2), -2.0f);
  EXPECT_EQ(data->test.inputs(0, 0), 13.0f);
  EXPECT_EQ(data->test.inputs(2, 1), 18.0f);
}

TEST(Datasets, CsvDefaultsLabelLastAndScale) {
  TempDir dir;
  test::write_text(dir / "rows.csv", "2,4,1\n6,8,0\n10,12,1\n14,16,0\n18,20,1\n");
  auto data = load("{name: csv, path: rows.csv, scale: 2}", dir.path());
  EXPECT_EQ(data->input, (Shape{2, 1}));
  EXPECT_EQ(data->outputs, 2);
  ASSERT_EQ(data->train.examples, 4);  // default test_fraction 0.2 of 5 rows: 1
  ASSERT_EQ(data->test.examples, 1);
  EXPECT_EQ(data->train.inputs(0, 0), 1.0f);
  EXPECT_EQ(data->train.inputs(1, 3), 8.0f);
  EXPECT_EQ(data->test.inputs(1, 0), 10.0f);
  EXPECT_EQ(data->test.labels[0], 1);
}

TEST(Datasets, CsvGzippedWithSeparateTestFile) {
  TempDir dir;
  test::write_text(dir / "train.csv", "0.1,0.2,0\n0.3,0.4,1\n0.5,0.6,2\n");
  test::write_text(dir / "test.csv", "0.7,0.8,1\n");
  ASSERT_EQ(test::run_shell("gzip -f '" + (dir / "train.csv").string() + "'").exit_code, 0);
  auto data = load("{name: csv, path: train.csv.gz, test_path: test.csv}", dir.path());
  EXPECT_EQ(data->train.examples, 3);
  EXPECT_EQ(data->test.examples, 1);
  EXPECT_EQ(data->outputs, 3);
  EXPECT_EQ(data->train.inputs(1, 2), 0.6f);
  EXPECT_EQ(data->test.inputs(0, 0), 0.7f);
}

TEST(Datasets, CsvErrorsNameThePlace) {
  TempDir dir;
  auto expect_error = [&](const std::string& file, const std::string& content, const std::string& data_yaml,
                          const std::vector<std::string>& needles) {
    test::write_text(dir / file, content);
    try {
      load(data_yaml, dir.path());
      ADD_FAILURE() << content << " accepted";
    } catch (const InputError& e) {
      std::string what = e.what();
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
      for (const auto& n : needles) EXPECT_NE(what.find(n), std::string::npos) << n << " not in: " << what;
    }
  };
  // A header read as data hints at `header: true`.
  expect_error("h.csv", csv_rows, "{name: csv, path: h.csv}", {"h.csv:1:1", "'label'", "header"});
  expect_error("n.csv", "1,2,0\n3,4,1\n5,six,0\n", "{name: csv, path: n.csv}", {"n.csv:3:2", "'six'"});
  expect_error("l.csv", "1,2,0\n3,4,1.5\n", "{name: csv, path: l.csv}", {"l.csv", "row 2", "1.5"});
  expect_error("c.csv", "1,2,0\n3,4,1\n", "{name: csv, path: c.csv, label_column: 5}", {"c.csv", "label_column"});
  expect_error("e.csv", "\n\n", "{name: csv, path: e.csv}", {"e.csv", "no data rows"});
}

// The model has 10 outputs for digits: a label outside 0..9 would index past
// them in the loss, so a digits file with such a label is refused.
TEST(Datasets, DigitsLabelOutsideTheTenClassesIsRefused) {
  TempDir dir;
  auto row = [](int label) {
    std::string line;
    for (int i = 0; i < 64; ++i) line += std::to_string(i % 17) + ",";
    return line + std::to_string(label) + "\n";
  };
  test::write_text(dir / "digits.csv", row(3) + row(12) + row(4));
  try {
    load("{name: digits, path: " + (dir / "digits.csv").string() + ", test_rows: 1}", dir.path());
    ADD_FAILURE() << "a digits label of 12 was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("12"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("digits.csv"), std::string::npos) << e.what();
  }
}

// Train and test images of different sizes cannot feed one network: refused,
// naming the test images file, instead of gathering columns of the wrong height.
TEST(Datasets, IdxSplitsWithDifferentImageSizesAreRefused) {
  TempDir dir;
  write_idx_folder(dir / "mnist", false);
  std::string images = be32(0x803) + be32(2) + be32(2) + be32(2) + std::string(8, char(7));
  test::write_text(dir / "mnist" / "t10k-images-idx3-ubyte", images);
  test::write_text(dir / "mnist" / "t10k-labels-idx1-ubyte", be32(0x801) + be32(2) + std::string(2, char(1)));
  try {
    load("{name: mnist, path: " + (dir / "mnist").string() + "}", dir.path());
    ADD_FAILURE() << "train images 4x3 and test images 2x2 were accepted together";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("t10k-images"), std::string::npos) << e.what();
  }
}
