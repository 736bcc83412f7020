// Hostile inputs, as a reviewer tried them: files that are FIFOs or devices,
// gzip bombs, headers declaring huge sizes, YAML alias bombs, huge layers.
// Each runs the CLI under prlimit: at most 1 GiB of address space and 5 s of
// CPU time (a limit on CPU, not wall time, so a loaded machine cannot make it
// flaky; the wall-clock `timeout` only catches a hang, such as a read from a
// FIFO, which uses no CPU). Each must end with exit code 2, exactly one line
// "gradlab: error: ..." naming the file, and no output file.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <functional>

#include "test_support.hpp"

namespace fs = std::filesystem;
using gradlab::test::TempDir;
using gradlab::test::write_text;

namespace {

using gradlab::test::be32;
using gradlab::test::gzip_bytes;
using gradlab::test::safetensors_bytes;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool sanitized = true;  // shadow memory needs terabytes of address space
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif
#else
constexpr bool sanitized = false;
#endif

const char* small_model = "model: {layers: [{type: dense, units: 16}, {type: sigmoid}, {type: dense, units: 10}]}\n";

std::string mnist_spec(const std::string& folder) {
  return "data: {name: mnist, path: " + folder + "}\n" + small_model;
}

void write_mnist(const fs::path& dir, const std::string& images, const std::string& labels, bool gz) {
  fs::create_directories(dir);
  const std::string suffix = gz ? ".gz" : "";
  write_text(dir / ("train-images-idx3-ubyte" + suffix), gz ? gzip_bytes(images) : images);
  write_text(dir / ("train-labels-idx1-ubyte" + suffix), gz ? gzip_bytes(labels) : labels);
  write_text(dir / ("t10k-images-idx3-ubyte" + suffix), gz ? gzip_bytes(images) : images);
  write_text(dir / ("t10k-labels-idx1-ubyte" + suffix), gz ? gzip_bytes(labels) : labels);
}

struct Hostile {
  std::string name;
  // Writes the files into the folder and returns the CLI arguments after "train".
  std::function<std::vector<std::string>(const TempDir&)> make;
  std::string expected;  // a part of the error line
};
// gtest shows the parameter in test listings: the name is enough.
void PrintTo(const Hostile& h, std::ostream* os) { *os << h.name; }

std::vector<Hostile> hostile_inputs() {
  auto spec = [](const TempDir& d, const std::string& text) {
    write_text(d / "spec.yaml", text);
    return (d / "spec.yaml").string();
  };
  return {
      {"spec_is_a_fifo",
       [](const TempDir& d) {
         ::mkfifo((d / "spec.yaml").c_str(), 0600);
         return std::vector<std::string>{(d / "spec.yaml").string()};
       },
       "is a FIFO (named pipe); expected a run spec"},
      {"spec_is_dev_zero", [](const TempDir&) { return std::vector<std::string>{"/dev/zero"}; },
       "is a character device"},
      {"spec_is_a_folder", [](const TempDir& d) { return std::vector<std::string>{d.path().string()}; }, "is a folder"},
      {"spec_of_20_mib",
       [spec](const TempDir& d) {
         return std::vector<std::string>{spec(d, "data: {name: digits}\n# " + std::string(20u << 20, 'x') + "\n")};
       },
       "larger than the 16 MiB allowed (no run spec is that large)"},
      {"yaml_alias_bomb",
       [spec](const TempDir& d) {
         std::string yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
         for (int i = 1; i < 12; ++i) {
           yaml += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
           for (int k = 0; k < 10; ++k) yaml += (k ? ", *a" : "*a") + std::to_string(i - 1);
           yaml += "]\n";
         }
         return std::vector<std::string>{spec(d, yaml + "data: {name: digits}\n" + small_model)};
       },
       "expands to more than"},
      {"yaml_nested_100000_deep",
       [spec](const TempDir& d) {
         return std::vector<std::string>{
             spec(d, "data: " + std::string(100000, '[') + std::string(100000, ']') + "\n")};
       },
       "spec.yaml"},
      {"units_of_10_to_the_12",
       [spec](const TempDir& d) {
         return std::vector<std::string>{
             spec(d, "data: {name: digits}\nmodel: {layers: [{type: dense, units: 1000000000000}]}\n")};
       },
       "outside its bounds"},
      {"two_layers_of_100000_units",
       [spec](const TempDir& d) {
         return std::vector<std::string>{
             spec(d,
                  "data: {name: digits}\nmodel: {layers: [{type: dense, units: 100000}, {type: dense, units: "
                  "100000}, {type: dense, units: 10}]}\n")};
       },
       "more than the memory budget"},
      {"units_set_to_10_to_the_12",
       [spec](const TempDir& d) {
         return std::vector<std::string>{spec(d, std::string("data: {name: digits}\n") + small_model), "--set",
                                         "model.layers.0.units=1000000000000"};
       },
       "--set model.layers.0.units=1000000000000"},
      {"residual_children_bomb",
       [spec](const TempDir& d) {
         return std::vector<std::string>{spec(d, R"(data: {name: digits}
model:
  layers:
    - repeat: 100000
      layers: [{type: residual, layers: [{repeat: 100000, layers: [{type: dense, units: 64}]}]}]
    - {type: dense, units: 10}
)")};
       },
       "more than the 100000"},
      {"csv_data_is_a_fifo",
       [spec](const TempDir& d) {
         ::mkfifo((d / "data.csv").c_str(), 0600);
         return std::vector<std::string>{spec(d, std::string("data: {name: csv, path: data.csv}\n") + small_model)};
       },
       "data.csv: is a FIFO"},
      {"csv_gzip_bomb",
       [spec](const TempDir& d) {
         // 512 MiB of digits in under a megabyte.
         write_text(d / "bomb.csv.gz", gzip_bytes(std::string(512u << 20, '7')));
         return std::vector<std::string>{spec(d, std::string("data: {name: csv, path: bomb.csv.gz}\n") + small_model)};
       },
       "bomb.csv.gz: the data (uncompressed) is larger than"},
      {"csv_truncated_gzip",
       [spec](const TempDir& d) {
         std::string rows;
         for (int r = 0; r < 2000; ++r) rows += std::to_string(r % 10) + ",1,2," + std::to_string(r % 3) + "\n";
         const auto gz = gzip_bytes(rows);
         write_text(d / "cut.csv.gz", gz.substr(0, gz.size() / 2));
         return std::vector<std::string>{spec(d, std::string("data: {name: csv, path: cut.csv.gz}\n") + small_model)};
       },
       "truncated gzip data"},
      {"idx_header_declaring_huge_images",
       [spec](const TempDir& d) {
         write_mnist(d / "mn", be32(0x803) + be32(60000) + be32(50000) + be32(50000), be32(0x801) + be32(60000), false);
         return std::vector<std::string>{spec(d, mnist_spec("mn"))};
       },
       "truncated IDX file"},
      {"idx_gzipped_header_declaring_huge_images",
       [spec](const TempDir& d) {
         write_mnist(d / "mn", be32(0x803) + be32(60000) + be32(50000) + be32(50000), be32(0x801) + be32(60000), true);
         return std::vector<std::string>{spec(d, mnist_spec("mn"))};
       },
       "more than the memory budget"},
      {"idx_gzip_bomb_of_labels",
       [spec](const TempDir& d) {
         write_mnist(d / "mn", be32(0x803) + be32(1) + be32(2) + be32(2) + "abcd",
                     be32(0x801) + be32(0xffffffffu) + std::string(64u << 20, '\1'), true);
         return std::vector<std::string>{spec(d, mnist_spec("mn"))};
       },
       "labels, more than the memory budget"},
      {"weights_declaring_2_to_the_62_elements",
       [spec](const TempDir& d) {
         write_text(d / "w.safetensors",
                    safetensors_bytes(
                        R"({"0.weight":{"dtype":"F32","shape":[4611686018427387905],"data_offsets":[0,4]}})", "abcd"));
         return std::vector<std::string>{spec(d, std::string("data: {name: digits}\n") + small_model), "--load-weights",
                                         (d / "w.safetensors").string()};
       },
       "more elements than the file holds"},
      {"weights_shape_1e30",
       [spec](const TempDir& d) {
         write_text(d / "w.safetensors",
                    safetensors_bytes(R"({"0.weight":{"dtype":"F32","shape":[1e30],"data_offsets":[0,4]}})", "abcd"));
         return std::vector<std::string>{spec(d, std::string("data: {name: digits}\n") + small_model), "--load-weights",
                                         (d / "w.safetensors").string()};
       },
       "not an integer"},
      {"weights_file_is_a_fifo",
       [spec](const TempDir& d) {
         ::mkfifo((d / "w.safetensors").c_str(), 0600);
         return std::vector<std::string>{spec(d, std::string("data: {name: digits}\n") + small_model), "--load-weights",
                                         (d / "w.safetensors").string()};
       },
       "is a FIFO"},
      {"weights_file_far_larger_than_the_model",
       [spec](const TempDir& d) {
         write_text(d / "w.safetensors", std::string(300u << 20, '\0'));
         return std::vector<std::string>{spec(d, std::string("data: {name: digits}\n") + small_model), "--load-weights",
                                         (d / "w.safetensors").string()};
       },
       "is larger than"},
  };
}

class HardeningHostile : public ::testing::TestWithParam<Hostile> {};

}  // namespace

TEST_P(HardeningHostile, OneLineExitTwoNothingWrittenWithinLimits) {
  const Hostile& h = GetParam();
  TempDir dir;
  auto args = h.make(dir);
  fs::create_directory(dir / "out");
  std::string line = sanitized ? "prlimit --cpu=20 " : "prlimit --as=1073741824 --cpu=5 ";
  line += "timeout -s KILL 60 '" + gradlab::test::cli_path().string() + "' train";
  for (const auto& a : args) line += " '" + a + "'";
  // Without --as (sanitizers), the default memory budget would be 3/4 of the
  // machine's RAM; give the CLI the budget 1 GiB of address space gives it.
  if (sanitized) line += " --max-memory 768MiB";
  line += " --json '" + (dir / "out" / "run.json").string() + "' --save-weights '" +
          (dir / "out" / "w.safetensors").string() + "' </dev/null";
  const auto started = std::chrono::steady_clock::now();
  auto r = gradlab::test::run_shell(line);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_EQ(r.exit_code, 2) << h.name << " (" << seconds << " s): " << r.err.substr(0, 2000);
  EXPECT_EQ(r.err.rfind("gradlab: error: ", 0), 0u) << r.err.substr(0, 2000);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err.substr(0, 2000);
  EXPECT_NE(r.err.find(h.expected), std::string::npos) << "expected '" << h.expected << "' in: " << r.err;
  EXPECT_TRUE(fs::is_empty(dir / "out")) << h.name << " wrote an output";
  RecordProperty("wall_seconds", std::to_string(seconds));
}

INSTANTIATE_TEST_SUITE_P(Hardening, HardeningHostile, ::testing::ValuesIn(hostile_inputs()),
                         [](const ::testing::TestParamInfo<Hostile>& info) { return info.param.name; });
