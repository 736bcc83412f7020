// Bad input through the CLI: every case must end with exactly one line
// "gradlab: error: <where>: <what>" naming the problem and the place, exit code
// 2, and no output file at all (neither --json nor --save-weights, nor a
// temporary file left beside them).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>

#include "test_support.hpp"

namespace fs = std::filesystem;
using gradlab::test::CommandResult;
using gradlab::test::lines_of;
using gradlab::test::run_cli;
using gradlab::test::run_shell;
using gradlab::test::TempDir;
using gradlab::test::write_text;

namespace {

const char* good_spec = R"(data: {name: digits}
model:
  layers: [{type: dense, units: 16}, {type: sigmoid}, {type: dense, units: 10}]
optimizer: {name: sgd, lr: 0.5}
training: {epochs: 1, batch_size: 64}
)";

std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

// Runs `gradlab train SPEC --json out.json --save-weights w.safetensors ARGS`
// inside `dir` and checks the bad-input contract; returns the error line.
std::string expect_bad_input(const TempDir& dir, const std::string& spec_name, std::vector<std::string> extra,
                             const std::vector<std::string>& must_contain) {
  const auto before = names_in(dir.path());
  std::vector<std::string> args{"train",          (dir / spec_name).string(),
                                "--json",         (dir / "out.json").string(),
                                "--save-weights", (dir / "w.safetensors").string()};
  args.insert(args.end(), extra.begin(), extra.end());
  CommandResult r = run_cli(args);
  EXPECT_EQ(r.exit_code, 2) << "stdout: " << r.out << "\nstderr: " << r.err;
  auto lines = lines_of(r.err);
  EXPECT_EQ(lines.size(), 1u) << "stderr must be exactly one line:\n" << r.err;
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                          [](const std::string& l) { return l.rfind("gradlab: error: ", 0) == 0; }),
            1)
      << r.err;
  EXPECT_TRUE(r.out.empty()) << "nothing on stdout for bad input: " << r.out;
  EXPECT_FALSE(fs::exists(dir / "out.json")) << "partial --json output left behind";
  EXPECT_FALSE(fs::exists(dir / "w.safetensors")) << "partial --save-weights output left behind";
  EXPECT_EQ(names_in(dir.path()), before) << "the failed run left files behind";
  const std::string line = lines.empty() ? std::string() : lines.front();
  for (const auto& needle : must_contain)
    EXPECT_NE(line.find(needle), std::string::npos) << "'" << needle << "' missing from: " << line;
  return line;
}

// The spec with one line replaced (1-based), to place an error on a known line.
std::string spec_with_line(int line_number, const std::string& replacement) {
  auto lines = lines_of(good_spec);
  lines.at(static_cast<std::size_t>(line_number - 1)) = replacement;
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

}  // namespace

TEST(CliErrors, GoodSpecWritesBothOutputs) {
  // The control case: the same invocation with good input succeeds, so the
  // checks below fail for the reason they name.
  TempDir dir;
  write_text(dir / "spec.yaml", good_spec);
  auto r = run_cli({"train", (dir / "spec.yaml").string(), "-q", "--json", (dir / "out.json").string(),
                    "--save-weights", (dir / "w.safetensors").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir / "out.json"));
  EXPECT_TRUE(fs::exists(dir / "w.safetensors"));
  EXPECT_EQ(r.err.find("error"), std::string::npos) << r.err;
}

TEST(CliErrors, MalformedYamlNamesLineAndColumn) {
  TempDir dir;
  // Line 3 closes a flow map with ']' instead of '}'.
  write_text(dir / "broken.yaml",
             "data: {name: digits}\nmodel:\n  layers: [{type: dense, units: 16], {type: sigmoid}]\n"
             "optimizer: {name: sgd}\n");
  auto line = expect_bad_input(dir, "broken.yaml", {}, {"broken.yaml:3:", "YAML"});
  // file:line:column
  EXPECT_NE(line.find("broken.yaml:3:"), std::string::npos);
  auto after = line.substr(line.find("broken.yaml:3:") + 14);
  ASSERT_FALSE(after.empty());
  EXPECT_TRUE(std::isdigit(static_cast<unsigned char>(after.front()))) << "no column in: " << line;
}

TEST(CliErrors, MalformedJsonSpecToo) {
  TempDir dir;
  write_text(dir / "spec.json",
             "{\"data\": {\"name\": \"digits\"},\n \"model\": {\"layers\": [{\"type\": \"dense\",,}]}}\n");
  expect_bad_input(dir, "spec.json", {}, {"spec.json:2:"});
}

TEST(CliErrors, UnknownParameterKeySuggestsNearest) {
  TempDir dir;
  write_text(dir / "spec.yaml", spec_with_line(4, "optimizer: {name: sgd, lr_rate: 0.5}"));
  expect_bad_input(dir, "spec.yaml", {}, {"spec.yaml:4:", "'lr_rate'", "did you mean 'lr'"});
}

TEST(CliErrors, UnknownTopLevelKeySuggestsNearest) {
  TempDir dir;
  write_text(dir / "spec.yaml", spec_with_line(5, "trainig: {epochs: 1}"));
  expect_bad_input(dir, "spec.yaml", {}, {"spec.yaml:5:1", "'trainig'", "did you mean 'training'"});
}

TEST(CliErrors, UnknownLayerKeySuggestsNearest) {
  TempDir dir;
  write_text(dir / "spec.yaml", spec_with_line(3, "  layers: [{type: dense, unitz: 16}, {type: dense, units: 10}]"));
  expect_bad_input(dir, "spec.yaml", {}, {"spec.yaml:3:", "'unitz'", "did you mean 'units'"});
}

TEST(CliErrors, UnknownTrainingKeySuggestsNearest) {
  TempDir dir;
  write_text(dir / "spec.yaml", spec_with_line(5, "training: {epochs: 1, batchsize: 8}"));
  expect_bad_input(dir, "spec.yaml", {}, {"spec.yaml:5:", "'batchsize'", "did you mean 'batch_size'"});
}

TEST(CliErrors, WrongParameterType) {
  TempDir dir;
  write_text(dir / "spec.yaml", spec_with_line(3, "  layers: [{type: dense, units: abc}, {type: dense, units: 10}]"));
  expect_bad_input(dir, "spec.yaml", {}, {"spec.yaml:3:", "'units'", "integer", "abc"});
}

TEST(CliErrors, WrongParameterTypeFromSetNamesTheOption) {
  TempDir dir;
  write_text(dir / "spec.yaml", good_spec);
  expect_bad_input(dir, "spec.yaml", {"--set", "model.layers.0.units=abc"},
                   {"--set model.layers.0.units=abc", "'units'", "integer"});
}

TEST(CliErrors, ParameterOutOfBounds) {
  TempDir dir;
  write_text(dir / "spec.yaml", spec_with_line(4, "optimizer: {name: sgd, lr: -1}"));
  expect_bad_input(dir, "spec.yaml", {}, {"spec.yaml:4:", "'lr'", "-1", "bounds"});
}

// A combination the schema cannot express, refused by the plugin's factory.
TEST(CliErrors, ParametersAPluginRefusesTogether) {
  TempDir dir;
  write_text(dir / "spec.yaml", good_spec + std::string("init: {name: uniform, low: 1, high: 0}\n"));
  expect_bad_input(dir, "spec.yaml", {}, {"spec.yaml:6:", "uniform", "low", "high"});
}

TEST(CliErrors, ParameterOutOfBoundsFromSet) {
  TempDir dir;
  write_text(dir / "spec.yaml", good_spec);
  expect_bad_input(dir, "spec.yaml", {"--set", "optimizer.lr=-1"}, {"--set optimizer.lr=-1", "'lr'", "bounds"});
  expect_bad_input(dir, "spec.yaml", {"--set", "model.layers.0.units=0"}, {"--set model.layers.0.units=0", "'units'"});
  expect_bad_input(dir, "spec.yaml", {"--set", "training.batch_size=0"}, {"'batch_size'"});
}

TEST(CliErrors, NonFiniteRealIsRejected) {
  // YAML reads .inf and .nan as numbers; a learning rate of infinity is not one.
  TempDir dir;
  write_text(dir / "spec.yaml", good_spec);
  expect_bad_input(dir, "spec.yaml", {"--set", "optimizer.lr=.inf"}, {"--set optimizer.lr=.inf", "'lr'", "finite"});
  expect_bad_input(dir, "spec.yaml", {"--set", "optimizer.lr=.nan"}, {"--set optimizer.lr=.nan", "'lr'"});
}

TEST(CliErrors, UnknownPluginNameSuggestsNearest) {
  TempDir dir;
  write_text(dir / "spec.yaml",
             spec_with_line(3, "  layers: [{type: dense, units: 16}, {type: sigmod}, {type: dense, units: 10}]"));
  expect_bad_input(dir, "spec.yaml", {}, {"spec.yaml:3:", "'sigmod'", "did you mean 'sigmoid'"});
}

TEST(CliErrors, UnknownOptimizerAndInitializerSuggestNearest) {
  TempDir dir;
  write_text(dir / "spec.yaml", spec_with_line(4, "optimizer: {name: sgdd, lr: 0.5}"));
  expect_bad_input(dir, "spec.yaml", {}, {"spec.yaml:4:", "'sgdd'", "'sgd'"});
  write_text(dir / "init.yaml", spec_with_line(4, "init: {name: lecun_norml}"));
  expect_bad_input(dir, "init.yaml", {}, {"init.yaml:4:", "'lecun_norml'", "'lecun_normal'"});
}

TEST(CliErrors, MissingSpecFile) {
  TempDir dir;
  expect_bad_input(dir, "nope.yaml", {}, {"nope.yaml"});
}

TEST(CliErrors, SpecThatIsAFolder) {
  TempDir dir;
  fs::create_directory(dir / "folder.yaml");
  expect_bad_input(dir, "folder.yaml", {}, {"folder.yaml", "folder"});
}

TEST(CliErrors, CsvPathThatDoesNotExist) {
  TempDir dir;
  write_text(dir / "spec.yaml", spec_with_line(1, "data: {name: csv, path: missing_rows.csv}"));
  expect_bad_input(dir, "spec.yaml", {}, {"missing_rows.csv", "no such file"});
}

TEST(CliErrors, MnistFolderThatDoesNotExist) {
  TempDir dir;
  write_text(dir / "spec.yaml", spec_with_line(1, "data: {name: mnist, path: no_such_mnist_dir}"));
  expect_bad_input(dir, "spec.yaml", {}, {"no_such_mnist_dir"});
}

TEST(CliErrors, CsvRowThatIsNotNumericNamesRowAndColumn) {
  TempDir dir;
  write_text(dir / "rows.csv", "0.1,0.2,0\n0.3,0.4,1\n0.5,oops,1\n0.7,0.8,0\n");
  write_text(dir / "spec.yaml", "data: {name: csv, path: rows.csv}\nmodel: {layers: [{type: dense, units: 2}]}\n");
  expect_bad_input(dir, "spec.yaml", {}, {"rows.csv:3:2", "'oops'", "not a number"});
}

TEST(CliErrors, CsvRaggedRowNamesRow) {
  TempDir dir;
  write_text(dir / "rows.csv", "0.1,0.2,0\n0.3,0.4,1\n0.5,1\n");
  write_text(dir / "spec.yaml", "data: {name: csv, path: rows.csv}\nmodel: {layers: [{type: dense, units: 2}]}\n");
  expect_bad_input(dir, "spec.yaml", {}, {"rows.csv:3", "columns"});
}

// csv target_columns (regression): each bad list is one line naming the data
// spec's place and the file.
TEST(CliErrors, CsvTargetColumnsThatAreNotColumnsOfTheFile) {
  const std::pair<const char*, const char*> cases[] = {
      {"'3'", "there is no column 3"},        // rows have columns 0..2
      {"'-4'", "there is no column -4"},      // -1 is the last
      {"'0,0'", "column 0 is named twice"},   // the same column twice
      {"'-1,2'", "column 2 is named twice"},  // ... also when one counts from the end
      {"'0,,1'", "entry 2 is empty"},         // an empty entry
      {"'1,'", "entry 2 is empty"},           // a trailing comma
      {"'y'", "'y' is not a column number"},  // not a number
      {"'1.5'", "'1.5' is not a column number"},
      {"'0,1,2'", "no column is left for the features"}};
  for (const auto& [columns, problem] : cases) {
    TempDir dir;
    write_text(dir / "rows.csv", "0.1,0.2,0.5\n0.3,0.4,0.7\n0.5,0.6,0.9\n");
    write_text(dir / "spec.yaml", std::string("data: {name: csv, path: rows.csv, target_columns: ") + columns +
                                      "}\nmodel: {layers: [{type: dense, units: 1}]}\n");
    SCOPED_TRACE(columns);
    expect_bad_input(dir, "spec.yaml", {}, {"spec.yaml:1:7: data set 'csv': target_columns", "rows.csv", problem});
  }
}

TEST(CliErrors, CsvTargetColumnsFromTheCommandLine) {
  TempDir dir;
  write_text(dir / "rows.csv", "0.1,0.2,0.5\n0.3,0.4,0.7\n0.5,0.6,0.9\n");
  write_text(dir / "spec.yaml", "data: {name: csv, path: rows.csv}\nmodel: {layers: [{type: dense, units: 1}]}\n");
  expect_bad_input(dir, "spec.yaml", {"--set", "data.target_columns=7"}, {"rows.csv", "there is no column 7"});
}

// A regression run has no accuracy to watch: refused before training, at the data spec's place.
TEST(CliErrors, EarlyStoppingOnAccuracyOfARegressionRun) {
  TempDir dir;
  write_text(dir / "rows.csv", "0.1,0.2,0.5\n0.3,0.4,0.7\n0.5,0.6,0.9\n");
  write_text(dir / "spec.yaml",
             "data: {name: csv, path: rows.csv, target_columns: '-1'}\n"
             "model: {layers: [{type: dense, units: 1}]}\n"
             "training:\n"
             "  early_stopping: {metric: test_accuracy}\n");
  expect_bad_input(dir, "spec.yaml", {}, {"spec.yaml:1:7", "'test_accuracy'", "regression", "test_loss"});
}

namespace {

std::string be32(std::uint32_t v) {
  return {char((v >> 24) & 0xff), char((v >> 16) & 0xff), char((v >> 8) & 0xff), char(v & 0xff)};
}
std::string idx_images(std::uint32_t count, std::uint32_t rows, std::uint32_t cols, std::uint32_t magic = 0x803) {
  std::string out = be32(magic) + be32(count) + be32(rows) + be32(cols);
  for (std::uint32_t i = 0; i < count * rows * cols; ++i) out.push_back(char(i * 37 % 256));
  return out;
}
std::string idx_labels(std::uint32_t count, std::uint32_t magic = 0x801) {
  std::string out = be32(magic) + be32(count);
  for (std::uint32_t i = 0; i < count; ++i) out.push_back(char(i % 10));
  return out;
}

// A small MNIST-like folder; `mutate` may spoil one file's bytes first.
void write_mnist(const fs::path& dir, bool gz, const std::string& bad_file = "", const std::string& bad_bytes = "") {
  fs::create_directories(dir);
  std::vector<std::pair<std::string, std::string>> files{{"train-images-idx3-ubyte", idx_images(12, 4, 3)},
                                                         {"train-labels-idx1-ubyte", idx_labels(12)},
                                                         {"t10k-images-idx3-ubyte", idx_images(5, 4, 3)},
                                                         {"t10k-labels-idx1-ubyte", idx_labels(5)}};
  for (auto& [name, bytes] : files) {
    write_text(dir / name, name == bad_file ? bad_bytes : bytes);
    if (gz) {
      auto r = run_shell("gzip -f '" + (dir / name).string() + "'");
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
  }
}

const char* mnist_spec = "data: {name: mnist, path: mn}\nmodel: {layers: [{type: dense, units: 10}]}\n";

}  // namespace

TEST(CliErrors, ControlMnistFolderTrains) {
  for (bool gz : {false, true}) {
    TempDir dir;
    write_mnist(dir / "mn", gz);
    write_text(dir / "spec.yaml", mnist_spec);
    auto r = run_cli({"train", (dir / "spec.yaml").string(), "-q", "--json", (dir / "out.json").string()});
    EXPECT_EQ(r.exit_code, 0) << (gz ? "gz: " : "raw: ") << r.err;
    EXPECT_TRUE(fs::exists(dir / "out.json"));
  }
}

TEST(CliErrors, TruncatedIdxFile) {
  for (bool gz : {false, true}) {
    SCOPED_TRACE(gz ? "gzipped" : "raw");
    TempDir dir;
    auto full = idx_images(12, 4, 3);
    write_mnist(dir / "mn", gz, "train-images-idx3-ubyte", full.substr(0, full.size() - 7));
    write_text(dir / "spec.yaml", mnist_spec);
    expect_bad_input(dir, "spec.yaml", {}, {"train-images-idx3-ubyte", "truncated"});
  }
}

TEST(CliErrors, TruncatedIdxHeader) {
  TempDir dir;
  write_mnist(dir / "mn", false, "t10k-labels-idx1-ubyte", be32(0x801).substr(0, 3));
  write_text(dir / "spec.yaml", mnist_spec);
  expect_bad_input(dir, "spec.yaml", {}, {"t10k-labels-idx1-ubyte", "truncated"});
}

TEST(CliErrors, TruncatedGzipStream) {
  // The gzip stream itself is cut short (a download that stopped half way).
  TempDir dir;
  write_mnist(dir / "mn", true);
  auto path = dir / "mn" / "train-images-idx3-ubyte.gz";
  auto bytes = gradlab::test::read_text(path);
  write_text(path, bytes.substr(0, bytes.size() / 2));
  write_text(dir / "spec.yaml", mnist_spec);
  expect_bad_input(dir, "spec.yaml", {}, {"train-images-idx3-ubyte.gz"});
}

TEST(CliErrors, WrongMagicIdxFile) {
  for (bool gz : {false, true}) {
    SCOPED_TRACE(gz ? "gzipped" : "raw");
    TempDir dir;
    // Labels where images belong: magic 0x801 instead of 0x803.
    write_mnist(dir / "mn", gz, "t10k-images-idx3-ubyte", idx_labels(5));
    write_text(dir / "spec.yaml", mnist_spec);
    expect_bad_input(dir, "spec.yaml", {}, {"t10k-images-idx3-ubyte", "magic", "0x00000801"});
  }
}

TEST(CliErrors, IdxHeaderWithHugeDimensionsIsTruncatedNotACrash) {
  // A corrupt header whose count * rows * cols overflows 64 bits.
  TempDir dir;
  write_mnist(dir / "mn", false, "train-images-idx3-ubyte",
              be32(0x803) + be32(0xffffffffu) + be32(0xffffffffu) + be32(0xffffffffu) + std::string(64, '\1'));
  write_text(dir / "spec.yaml", mnist_spec);
  expect_bad_input(dir, "spec.yaml", {}, {"train-images-idx3-ubyte", "truncated"});
}

TEST(CliErrors, WeightsOfAnotherWidth) {
  TempDir dir;
  write_text(dir / "spec.yaml", good_spec);
  auto saved = run_cli({"train", (dir / "spec.yaml").string(), "-q", "--set", "training.epochs=0", "--save-weights",
                        (dir / "w16.safetensors").string()});
  ASSERT_EQ(saved.exit_code, 0) << saved.err;
  ASSERT_TRUE(fs::exists(dir / "w16.safetensors"));
  expect_bad_input(dir, "spec.yaml",
                   {"--set", "model.layers.0.units=20", "--load-weights", (dir / "w16.safetensors").string()},
                   {"w16.safetensors", "'0.weight'", "[16, 64]", "[20, 64]"});
}

TEST(CliErrors, WeightsOfAnotherDepth) {
  TempDir dir;
  write_text(dir / "spec.yaml", good_spec);
  auto saved = run_cli({"train", (dir / "spec.yaml").string(), "-q", "--set", "training.epochs=0", "--save-weights",
                        (dir / "w.st").string()});
  ASSERT_EQ(saved.exit_code, 0) << saved.err;
  write_text(dir / "deeper.yaml",
             spec_with_line(3,
                            "  layers: [{type: dense, units: 16}, {type: sigmoid}, {type: dense, units: 16}, "
                            "{type: sigmoid}, {type: dense, units: 10}]"));
  expect_bad_input(dir, "deeper.yaml", {"--load-weights", (dir / "w.st").string()}, {"w.st", "'2.weight'"});
  write_text(dir / "shallow.yaml", spec_with_line(3, "  layers: [{type: dense, units: 10}]"));
  expect_bad_input(dir, "shallow.yaml", {"--load-weights", (dir / "w.st").string()}, {"w.st", "'0.weight'"});
}

TEST(CliErrors, WeightsFileMissingOrGarbage) {
  TempDir dir;
  write_text(dir / "spec.yaml", good_spec);
  expect_bad_input(dir, "spec.yaml", {"--load-weights", (dir / "absent.safetensors").string()}, {"absent.safetensors"});
  write_text(dir / "garbage.safetensors", "this is not a safetensors file at all");
  expect_bad_input(dir, "spec.yaml", {"--load-weights", (dir / "garbage.safetensors").string()},
                   {"garbage.safetensors", "safetensors"});
}

TEST(CliErrors, OutputFolderThatDoesNotExistIsRefusedBeforeTraining) {
  TempDir dir;
  write_text(dir / "spec.yaml", good_spec);
  auto r = run_cli({"train", (dir / "spec.yaml").string(), "-q", "--json", (dir / "out.json").string(),
                    "--save-weights", (dir / "no_such_dir" / "w.safetensors").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("--save-weights"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no_such_dir"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out.json")) << "the summary was written although the run could not finish";
  EXPECT_EQ(r.out.find("status"), std::string::npos) << "it trained before refusing: " << r.out;
}

TEST(CliErrors, MalformedSetOption) {
  TempDir dir;
  write_text(dir / "spec.yaml", good_spec);
  expect_bad_input(dir, "spec.yaml", {"--set", "optimizer.lr"}, {"--set optimizer.lr", "KEY=VALUE"});
  expect_bad_input(dir, "spec.yaml", {"--set", "model.layers.7.units=3"}, {"--set model.layers.7.units=3", "index"});
}

TEST(CliErrors, UnknownCommandAndOption) {
  auto r = run_cli({"trian"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("gradlab: error: "), std::string::npos);
  EXPECT_NE(r.err.find("'train'"), std::string::npos) << r.err;

  TempDir dir;
  write_text(dir / "spec.yaml", good_spec);
  expect_bad_input(dir, "spec.yaml", {"--epochs", "3"}, {"epochs"});
}
