// Readers refuse what they cannot safely read: non-regular files, truncated
// gzip wherever it is cut, sizes declared beyond the file or the memory
// budget, overflowing shapes; the spec parser refuses duplicate keys, alias
// bombs, layer bombs through blocks and malformed --set indexes; messages
// never echo unbounded or raw control text.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zlib.h>

#include <nlohmann/json.hpp>

#include "gradlab/core/datasets.hpp"
#include "gradlab/core/error.hpp"
#include "gradlab/core/io.hpp"
#include "gradlab/core/run.hpp"
#include "gradlab/core/weights.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using gradlab::InputError;
using gradlab::test::spec_from_yaml;
using gradlab::test::TempDir;
using gradlab::test::write_text;

namespace {

std::string gzip(const std::string& data) {
  uLongf size = compressBound(data.size()) + 64;
  std::string out(size, '\0');
  z_stream s{};
  deflateInit2(&s, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // +16: gzip wrapper
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  s.avail_in = static_cast<uInt>(data.size());
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(out.size());
  deflate(&s, Z_FINISH);
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

std::string be32(std::uint32_t v) {
  return {char(v >> 24), char((v >> 16) & 0xff), char((v >> 8) & 0xff), char(v & 0xff)};
}

// The message of the InputError `f` throws; fails the test when it throws none.
template <class F>
std::string input_error(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InputError";
  return "";
}

std::string safetensors_file(const std::string& header_json, const std::string& data) {
  std::string out;
  std::uint64_t n = header_json.size();
  for (int i = 0; i < 8; ++i) out.push_back(char((n >> (8 * i)) & 0xff));
  return out + header_json + data;
}

}  // namespace

TEST(HardeningInput, TruncatedGzipIsRefusedWhereverItIsCut) {
  TempDir dir;
  std::string csv;
  for (int r = 0; r < 400; ++r) csv += std::to_string(r % 7) + "," + std::to_string(r % 3) + "\n";
  const std::string whole = gzip(csv);
  write_text(dir / "whole.csv.gz", whole);
  EXPECT_EQ(gradlab::read_numeric_csv(dir / "whole.csv.gz", false).size(), 400u);
  // Every cut after the 10-byte gzip header: before the fix a cut at a flush
  // point read as a shorter file and trained on part of the rows.
  for (std::size_t cut = 10; cut < whole.size(); ++cut) {
    write_text(dir / "cut.csv.gz", whole.substr(0, cut));
    const auto message = input_error([&] { gradlab::read_numeric_csv(dir / "cut.csv.gz", false); });
    EXPECT_NE(message.find("gzip"), std::string::npos) << "cut at " << cut << ": " << message;
  }
}

TEST(HardeningInput, NonRegularInputsAreRefusedByKind) {
  TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "data.fifo").c_str(), 0600), 0);
  EXPECT_NE(input_error([&] { gradlab::read_numeric_csv(dir / "data.fifo", false); }).find("FIFO"), std::string::npos);
  EXPECT_NE(input_error([&] { gradlab::read_numeric_csv("/dev/zero", false); }).find("character device"),
            std::string::npos);
  EXPECT_NE(input_error([&] { gradlab::read_safetensors(dir.path().string()); }).find("is a folder"),
            std::string::npos);
  EXPECT_NE(input_error([&] {
              gradlab::load_run_spec(dir / "data.fifo", {}, gradlab::test::bundled_registry());
            }).find("FIFO"),
            std::string::npos);
  EXPECT_NE(input_error([&] {
              gradlab::load_run_spec("/dev/zero", {}, gradlab::test::bundled_registry());
            }).find("character device"),
            std::string::npos);
}

TEST(HardeningInput, ReadsAreBoundedByTheBudget) {
  TempDir dir;
  write_text(dir / "big.csv", std::string(1 << 20, '1'));
  EXPECT_NE(input_error([&] { gradlab::read_maybe_gzipped(dir / "big.csv", 1000); }).find("larger than"),
            std::string::npos);
  // A gzip bomb: 64 MiB of zeros in a few hundred KiB, refused at the limit
  // instead of inflated whole.
  write_text(dir / "bomb.csv.gz", gzip(std::string(64u << 20, '0')));
  EXPECT_LT(fs::file_size(dir / "bomb.csv.gz"), 1u << 20);
  EXPECT_NE(input_error([&] { gradlab::read_maybe_gzipped(dir / "bomb.csv.gz", 4u << 20); }).find("uncompressed"),
            std::string::npos);
}

TEST(HardeningInput, IdxDeclaredSizesAreCheckedBeforeAllocating) {
  TempDir dir;
  // rows * cols * count overflows 64 bits (UBSan found rows * cols overflowing Index).
  write_text(dir / "a", be32(0x803) + be32(1) + be32(0xffffffffu) + be32(0xffffffffu) + "xx");
  EXPECT_NE(input_error([&] { gradlab::read_idx_images(dir / "a"); }).find("truncated"), std::string::npos);
  // The same header gzipped: the size cannot be known from the file, the budget refuses it.
  write_text(dir / "a.gz", gzip(be32(0x803) + be32(60000) + be32(0xffffu) + be32(0xffffu)));
  EXPECT_NE(input_error([&] { gradlab::read_idx_images(dir / "a.gz", 1u << 30); }).find("memory budget"),
            std::string::npos);
  write_text(dir / "l.gz", gzip(be32(0x801) + be32(0xffffffffu)));
  EXPECT_NE(input_error([&] { gradlab::read_idx_labels(dir / "l.gz", 1u << 30); }).find("memory budget"),
            std::string::npos);
  // A gzipped header that promises more than the stream holds.
  write_text(dir / "short.gz", gzip(be32(0x803) + be32(10) + be32(28) + be32(28) + std::string(100, '\1')));
  EXPECT_NE(input_error([&] { gradlab::read_idx_images(dir / "short.gz"); }).find("truncated"), std::string::npos);
}

TEST(HardeningInput, SafetensorsShapesThatOverflowOrAreNotIntegers) {
  TempDir dir;
  auto refuse = [&](const std::string& header, const std::string& expected) {
    write_text(dir / "w.safetensors", safetensors_file(header, std::string(16, '\0')));
    const auto message = input_error([&] { gradlab::read_safetensors((dir / "w.safetensors").string()); });
    EXPECT_NE(message.find(expected), std::string::npos) << header << " -> " << message;
  };
  // 2^62 + 1 elements: count * 4 wrapped around to 4 before the fix.
  refuse(R"({"a":{"dtype":"F32","shape":[4611686018427387905],"data_offsets":[0,4]}})", "more elements");
  refuse(R"({"a":{"dtype":"F32","shape":[2147483648,2147483648],"data_offsets":[0,16]}})", "more elements");
  refuse(R"({"a":{"dtype":"F32","shape":[1e30],"data_offsets":[0,4]}})", "not an integer");
  refuse(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", "not an integer");
  refuse(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "negative extent");
  refuse(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,-8]}})", "not a byte count");
  // Overlapping tensors.
  refuse(
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
      "overlap");
  // And a good file still reads.
  write_text(
      dir / "ok.safetensors",
      safetensors_file(
          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
          std::string(16, '\0')));
  EXPECT_EQ(gradlab::read_safetensors((dir / "ok.safetensors").string()).size(), 2u);
}

TEST(HardeningSpec, DuplicateKeyIsRefusedAtItsSecondPlace) {
  const auto message = input_error([] {
    spec_from_yaml(
        "data: {name: digits}\nmodel: {layers: [{type: dense, units: 10}]}\noptimizer: {name: sgd}\n"
        "optimizer: {name: adam}\n");
  });
  EXPECT_NE(message.find("test.yaml:4:1"), std::string::npos) << message;
  EXPECT_NE(message.find("duplicate key 'optimizer'"), std::string::npos) << message;
  EXPECT_NE(message.find("test.yaml:3:1"), std::string::npos) << "first place not named: " << message;
  // Inside a component too.
  EXPECT_NE(input_error([] {
              spec_from_yaml("data: {name: digits}\nmodel: {layers: [{type: dense, units: 10, units: 12}]}\n");
            }).find("duplicate key 'units'"),
            std::string::npos);
}

TEST(HardeningSpec, AliasBombIsRefused) {
  std::string yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i)
    yaml += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + [&] {
      std::string items;
      for (int k = 0; k < 10; ++k) items += (k ? ", *a" : "*a") + std::to_string(i - 1);
      return items;
    }() + "]\n";
  yaml += "data: {name: digits}\nmodel: {layers: [{type: dense, units: 10}]}\n";
  EXPECT_NE(input_error([&] { spec_from_yaml(yaml); }).find("expands to more than"), std::string::npos);
}

TEST(HardeningSpec, BlocksCannotEscapeTheLayerLimit) {
  // A residual block of 100000 layers repeated 100000 times: 10^10 layers from
  // a few lines; before the fix only each list was bounded.
  const auto message = input_error([] {
    spec_from_yaml(R"(data: {name: digits}
model:
  layers:
    - repeat: 100000
      layers:
        - type: residual
          layers: [{repeat: 100000, layers: [{type: dense, units: 64}]}]
    - {type: dense, units: 10}
)");
  });
  EXPECT_NE(message.find("more than the 100000"), std::string::npos) << message;
}

TEST(HardeningSpec, HugeUnitsAreBoundedBySchemaAndBudget) {
  EXPECT_NE(input_error([] {
              spec_from_yaml("data: {name: digits}\nmodel: {layers: [{type: dense, units: 9223372036854775807}]}\n");
            }).find("outside its bounds"),
            std::string::npos);
  // Two layers of 100000 units: 10^10 parameters, refused before allocating, naming the layer.
  auto spec = spec_from_yaml(
      "data: {name: digits}\nmodel: {layers: [{type: dense, units: 100000}, {type: dense, units: 100000}, "
      "{type: dense, units: 10}]}\n");
  gradlab::RunOptions options;
  options.max_memory = 2ull << 30;
  const auto message = input_error([&] { gradlab::train_run(spec, gradlab::test::bundled_registry(), options); });
  EXPECT_NE(message.find("test.yaml:2:"), std::string::npos) << message;
  EXPECT_NE(message.find("layer 'dense' (layer 1)"), std::string::npos) << message;
  EXPECT_NE(message.find("memory budget of 2.0 GiB"), std::string::npos) << message;
}

TEST(HardeningSpec, SetIndexMustBeANumberEntirely) {
  const std::string yaml = "data: {name: digits}\nmodel: {layers: [{type: dense, units: 10}]}\n";
  const auto message = input_error([&] { spec_from_yaml(yaml, {"model.layers.0abc.units=5"}); });
  EXPECT_NE(message.find("'0abc' indexes a list"), std::string::npos) << message;
  EXPECT_NO_THROW(spec_from_yaml(yaml, {"model.layers.0.units=10"}));
}

TEST(HardeningSpec, ErrorsInsideASetValueNameTheOption) {
  const std::string yaml = "data: {name: digits}\nmodel: {layers: [{type: dense, units: 10}]}\n";
  const auto message = input_error([&] { spec_from_yaml(yaml, {"optimizer={name: adam, lr: fast}"}); });
  EXPECT_EQ(message.find("test.yaml"), std::string::npos) << "blamed on the spec file: " << message;
  EXPECT_NE(message.find("--set optimizer={name: adam, lr: fast}"), std::string::npos) << message;
  const auto scalar = input_error([&] { spec_from_yaml(yaml, {"training.epochs=many"}); });
  EXPECT_NE(scalar.find("--set training.epochs=many"), std::string::npos) << scalar;
}

TEST(HardeningMessages, UserTextIsEscapedAndBounded) {
  EXPECT_EQ(gradlab::quote_text("a\x1b[31mb\a"), "'a\\x1b[31mb\\x07'");
  EXPECT_EQ(gradlab::quote_text("line\nnext"), "'line\\nnext'");
  const std::string long_text(100000, 'z');
  const auto quoted = gradlab::quote_text(long_text);
  EXPECT_LT(quoted.size(), 100u);
  EXPECT_NE(quoted.find("(100000 bytes)"), std::string::npos);
  // Cut at a character boundary: never half of a two-byte UTF-8 character.
  const auto utf8 = gradlab::quote_text(std::string(59, 'a') + "\xc3\xa9" + std::string(10, 'b'));
  EXPECT_EQ(utf8.find("\xc3'"), std::string::npos) << utf8;
}

TEST(HardeningMessages, HugeCsvCellAndControlCharactersInTheCli) {
  TempDir dir;
  std::string csv = "1,2,0\n3," + std::string(4u << 20, 'q') + "\x1b]0;owned\x07,1\n";
  write_text(dir / "data.csv", csv);
  write_text(dir / "spec.yaml",
             "data: {name: csv, path: data.csv}\nmodel: {layers: [{type: dense, units: 2}]}\ntraining: {epochs: 1}\n");
  auto r = gradlab::test::run_cli({"train", (dir / "spec.yaml").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_LT(r.err.size(), 400u) << "unbounded message";
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << "raw ESC reached the terminal";
  EXPECT_EQ(r.err.find('\x07'), std::string::npos);
  EXPECT_NE(r.err.find("data.csv:2:2"), std::string::npos) << r.err;
}

TEST(HardeningMessages, NoArgumentsSaysWhy) {
  auto r = gradlab::test::run_cli({});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no command given"), std::string::npos) << r.err;
}

TEST(HardeningInput, DirectoryAsLoadWeightsSaysItIsAFolder) {
  TempDir dir;
  write_text(dir / "spec.yaml", "data: {name: digits}\nmodel: {layers: [{type: dense, units: 10}]}\n");
  auto r = gradlab::test::run_cli({"train", (dir / "spec.yaml").string(), "--load-weights", dir.path().string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("is a folder; expected a weights file"), std::string::npos) << r.err;
}

TEST(HardeningInput, MaxMemoryOptionIsValidated) {
  TempDir dir;
  write_text(dir / "spec.yaml", "data: {name: digits}\nmodel: {layers: [{type: dense, units: 10}]}\n");
  auto r = gradlab::test::run_cli({"train", (dir / "spec.yaml").string(), "--max-memory", "lots"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--max-memory: 'lots' is not a size"), std::string::npos) << r.err;
  EXPECT_EQ(gradlab::parse_bytes("512M", "x"), 512ull << 20);
  EXPECT_EQ(gradlab::parse_bytes("2GiB", "x"), 2ull << 30);
  EXPECT_EQ(gradlab::parse_bytes("1000", "x"), 1000u);
  EXPECT_THROW(gradlab::parse_bytes("-1G", "x"), InputError);
  EXPECT_THROW(gradlab::parse_bytes("0x10", "x"), InputError);
  EXPECT_GT(gradlab::default_memory_budget(), 64ull << 20);
}

TEST(HardeningSpec, TextThatIsNotUtf8IsRefusedWithItsPlace) {
  // Found by fuzzing: a Latin-1 file name trained, then the summary's JSON
  // could not be written ("invalid UTF-8 byte") and the run was lost.
  const auto message = input_error(
      [] { spec_from_yaml("data: {name: digits}\nmodel: {layers: [{type: dense, units: 10}]}\n# caf\xe9\n"); });
  EXPECT_NE(message.find("test.yaml:3:6"), std::string::npos) << message;
  EXPECT_NE(message.find("0xe9 is not UTF-8"), std::string::npos) << message;
  const std::string yaml = "data: {name: digits}\nmodel: {layers: [{type: dense, units: 10}]}\n";
  EXPECT_NE(input_error([&] { spec_from_yaml(yaml, {"data.path=/tmp/d\xe9.csv"}); }).find("--set option"),
            std::string::npos);
  // Overlong and surrogate forms are not UTF-8 either; real multi-byte text is.
  EXPECT_THROW(spec_from_yaml(yaml + "# \xc0\xaf\n"), InputError);
  EXPECT_THROW(spec_from_yaml(yaml + "# \xed\xa0\x80\n"), InputError);
  EXPECT_NO_THROW(spec_from_yaml(yaml + "# caf\xc3\xa9, \xe2\x82\xac, \xf0\x9f\x98\x80\n"));
}

TEST(HardeningInput, IdxGzipIsReadToItsEndMarker) {
  // Found by fuzzing: the IDX readers stopped after the bytes the header
  // declares, so a stream cut in its trailer (or followed by junk) passed.
  TempDir dir;
  const std::string labels = be32(0x801) + be32(5) + std::string("\1\2\3\4\5");
  const std::string gz = gzip(labels);
  write_text(dir / "whole.gz", gz);
  EXPECT_EQ(gradlab::read_idx_labels(dir / "whole.gz").size(), 5u);
  for (std::size_t cut = 10; cut < gz.size(); ++cut) {
    write_text(dir / "cut.gz", gz.substr(0, cut));
    EXPECT_THROW(gradlab::read_idx_labels(dir / "cut.gz"), InputError) << "cut at " << cut;
  }
  write_text(dir / "junk", labels + "junk");
  EXPECT_NE(input_error([&] { gradlab::read_idx_labels(dir / "junk"); }).find("unexpected data after"),
            std::string::npos);
  const std::string images = be32(0x803) + be32(2) + be32(2) + be32(2) + std::string(8, '\7');
  const std::string images_gz = gzip(images);
  write_text(dir / "img.gz", images_gz.substr(0, images_gz.size() - 4));  // the length field cut off
  EXPECT_NE(input_error([&] { gradlab::read_idx_images(dir / "img.gz"); }).find("truncated gzip"), std::string::npos);
}
