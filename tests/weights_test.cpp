// Weights files (design section 6): safetensors, F32, "{index}.weight" [out, in]
// and "{index}.bias" at the flattened layer index. The format is checked here
// with an independent reader, a save/load/save round trip must be bit-exact,
// and, where PyTorch is installed, nn.Sequential.load_state_dict takes the file.
#include "gradlab/core/weights.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "gradlab/core/error.hpp"
#include "gradlab/core/run.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace gradlab;
using nlohmann::json;
using test::TempDir;

namespace {

const char* spec_text = R"(data: {name: digits}
model:
  layers: [{type: dense, units: 16}, {type: sigmoid}, {type: dense, units: 10}]
optimizer: {name: sgd, lr: 0.5}
training: {epochs: 1, batch_size: 64}
)";

// An independent safetensors reader: 8-byte little-endian header length, a
// JSON header, then the raw little-endian data.
struct RawTensor {
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::size_t begin = 0, end = 0;  // offsets in the data section
  std::string bytes;
};
struct RawFile {
  std::uint64_t header_length = 0;
  json header;
  std::string data;  // everything after the header
  std::map<std::string, RawTensor> tensors;
};

RawFile parse_file(const fs::path& path) {
  const std::string bytes = test::read_text(path);
  RawFile f;
  EXPECT_GE(bytes.size(), 8u);
  if (bytes.size() < 8) return f;
  for (int i = 0; i < 8; ++i) f.header_length |= std::uint64_t(std::uint8_t(bytes[i])) << (8 * i);
  EXPECT_LE(f.header_length, bytes.size() - 8);
  f.header = json::parse(bytes.substr(8, f.header_length));
  f.data = bytes.substr(8 + f.header_length);
  for (auto it = f.header.begin(); it != f.header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    RawTensor t;
    t.dtype = it.value().at("dtype").get<std::string>();
    t.shape = it.value().at("shape").get<std::vector<std::int64_t>>();
    auto offsets = it.value().at("data_offsets").get<std::vector<std::size_t>>();
    EXPECT_EQ(offsets.size(), 2u);
    t.begin = offsets.at(0);
    t.end = offsets.at(1);
    EXPECT_LE(t.begin, t.end);
    EXPECT_LE(t.end, f.data.size());
    t.bytes = f.data.substr(t.begin, t.end - t.begin);
    f.tensors[it.key()] = t;
  }
  return f;
}

std::vector<float> floats(const RawTensor& t) {
  std::vector<float> out(t.bytes.size() / 4);
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::uint32_t bits = 0;
    for (int b = 0; b < 4; ++b) bits |= std::uint32_t(std::uint8_t(t.bytes[4 * i + b])) << (8 * b);
    std::memcpy(&out[i], &bits, 4);
  }
  return out;
}

test::CommandResult train(const TempDir& dir, std::vector<std::string> extra) {
  if (!fs::exists(dir / "spec.yaml")) test::write_text(dir / "spec.yaml", spec_text);
  std::vector<std::string> args{"train", (dir / "spec.yaml").string(), "-q"};
  args.insert(args.end(), extra.begin(), extra.end());
  return test::run_cli(args);
}

// Writes a safetensors file by hand (for malformed inputs).
void write_safetensors(const fs::path& path, const json& header, const std::string& data) {
  std::string h = header.dump();
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(char((std::uint64_t(h.size()) >> (8 * i)) & 0xff));
  test::write_text(path, out + h + data);
}

std::string float_bytes(std::size_t count, float value) {
  std::string out(count * 4, '\0');
  for (std::size_t i = 0; i < count; ++i) std::memcpy(&out[4 * i], &value, 4);
  return out;
}

}  // namespace

TEST(Weights, FileHasTheDesignNamesShapesAndFormat) {
  TempDir dir;
  auto r = train(dir, {"--save-weights", (dir / "w.safetensors").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto f = parse_file(dir / "w.safetensors");

  const std::map<std::string, std::vector<std::int64_t>> expected{
      {"0.weight", {16, 64}}, {"0.bias", {16}}, {"2.weight", {10, 16}}, {"2.bias", {10}}};
  ASSERT_EQ(f.tensors.size(), expected.size()) << f.header.dump(2);
  std::size_t total = 0;
  for (const auto& [name, shape] : expected) {
    ASSERT_TRUE(f.tensors.count(name)) << name << " missing: " << f.header.dump(2);
    const auto& t = f.tensors.at(name);
    EXPECT_EQ(t.dtype, "F32") << name;
    EXPECT_EQ(t.shape, shape) << name;
    std::size_t count = 1;
    for (auto d : shape) count *= std::size_t(d);
    EXPECT_EQ(t.end - t.begin, count * 4) << name;
    total += count * 4;
    for (float v : floats(t)) ASSERT_TRUE(std::isfinite(v)) << name;
  }
  // The tensors tile the data section exactly: no gaps, no overlap, nothing after.
  EXPECT_EQ(f.data.size(), total);
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  for (const auto& [name, t] : f.tensors) spans.emplace_back(t.begin, t.end);
  std::sort(spans.begin(), spans.end());
  std::size_t at = 0;
  for (const auto& [b, e] : spans) {
    EXPECT_EQ(b, at);
    at = e;
  }
  // Metadata, if present, maps strings to strings (as the format requires).
  if (f.header.contains("__metadata__"))
    for (const auto& [k, v] : f.header["__metadata__"].items()) EXPECT_TRUE(v.is_string()) << k;
  // After a training epoch neither weights nor biases are all zero.
  for (const auto& [name, t] : f.tensors) {
    auto v = floats(t);
    EXPECT_TRUE(std::any_of(v.begin(), v.end(), [](float x) { return x != 0.0f; })) << name;
  }
}

TEST(Weights, BiasesStartAtZeroAndWeightsFollowTheInitializer) {
  TempDir dir;
  auto r = train(dir, {"--set", "training.epochs=0", "--save-weights", (dir / "w.safetensors").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto f = parse_file(dir / "w.safetensors");
  for (const char* bias : {"0.bias", "2.bias"})
    for (float v : floats(f.tensors.at(bias))) EXPECT_EQ(v, 0.0f) << bias;
  // lecun_normal: variance 1/fan_in, fan_in = the second dimension of [out, in].
  auto w = floats(f.tensors.at("0.weight"));
  double sum2 = 0;
  for (float v : w) sum2 += double(v) * v;
  EXPECT_NEAR(sum2 / double(w.size()), 1.0 / 64, 0.35 / 64) << "weights not [out, in] with fan_in 64?";
}

TEST(Weights, SaveLoadSaveIsBitIdentical) {
  TempDir dir;
  auto a = train(dir, {"--save-weights", (dir / "a.safetensors").string(), "--json", (dir / "a.json").string()});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto b = train(dir, {"--set", "training.epochs=0", "--load-weights", (dir / "a.safetensors").string(),
                       "--save-weights", (dir / "b.safetensors").string(), "--json", (dir / "b.json").string()});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto c = train(dir, {"--set", "training.epochs=0", "--load-weights", (dir / "b.safetensors").string(),
                       "--save-weights", (dir / "c.safetensors").string()});
  ASSERT_EQ(c.exit_code, 0) << c.err;

  // Re-saving what was loaded gives the same bytes.
  EXPECT_EQ(test::read_text(dir / "b.safetensors"), test::read_text(dir / "c.safetensors"));
  // Every tensor survives the trip bit for bit.
  auto fa = parse_file(dir / "a.safetensors");
  auto fb = parse_file(dir / "b.safetensors");
  ASSERT_EQ(fa.tensors.size(), fb.tensors.size());
  for (const auto& [name, t] : fa.tensors) {
    ASSERT_TRUE(fb.tensors.count(name)) << name;
    EXPECT_EQ(t.shape, fb.tensors.at(name).shape) << name;
    EXPECT_TRUE(t.bytes == fb.tensors.at(name).bytes) << name << " changed in the round trip";
  }
  // And the loaded model is the trained one: it measures exactly what run a ended with.
  auto ja = json::parse(test::read_text(dir / "a.json"));
  auto jb = json::parse(test::read_text(dir / "b.json"));
  EXPECT_EQ(jb["epochs"][0]["train_loss"], ja["epochs"].back()["train_loss"]);
  EXPECT_EQ(jb["epochs"][0]["test_accuracy"], ja["epochs"].back()["test_accuracy"]);
}

TEST(Weights, LoadedTensorsDriveTheForwardPassAsRowMajorOutByIn) {
  TempDir dir;
  auto r = train(dir, {"--save-weights", (dir / "w.safetensors").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto f = parse_file(dir / "w.safetensors");

  auto spec = test::spec_from_yaml(spec_text, {"training.epochs=0"});
  RunOptions options;
  options.load_weights = (dir / "w.safetensors").string();
  auto result = train_run(spec, test::bundled_registry(), options);
  ASSERT_EQ(result.summary.status, RunStatus::ok);
  auto& net = *result.network;

  // The network holds exactly the file's values.
  auto named = net.named_tensors();
  ASSERT_EQ(named.size(), 4u);
  for (const auto& t : named) {
    ASSERT_TRUE(f.tensors.count(t.name)) << t.name;
    const auto& raw = f.tensors.at(t.name);
    ASSERT_EQ(raw.bytes.size(), std::size_t(t.size) * sizeof(float)) << t.name;
    EXPECT_EQ(std::memcmp(raw.bytes.data(), t.data, raw.bytes.size()), 0) << t.name;
  }

  // Layer 0's output for a few examples equals W x + b computed from the file
  // with W read row-major [out, in], as PyTorch's Linear does.
  auto data = load_dataset(spec, test::bundled_registry());
  const Index n = 5;
  std::vector<std::int64_t> order{0, 1, 2, 3, 4};
  auto batch = net.gather(data->train, order.data(), n);
  Matrix out(16, n);
  net.forward_prefix(batch, 1, MatrixMap(out.data(), 16, n));
  auto w = floats(f.tensors.at("0.weight"));
  auto bias = floats(f.tensors.at("0.bias"));
  for (Index e = 0; e < n; ++e)
    for (int o = 0; o < 16; ++o) {
      double z = bias[o];
      for (int i = 0; i < 64; ++i) z += double(w[o * 64 + i]) * data->train.inputs(i, e);
      EXPECT_NEAR(out(o, e), z, 1e-4) << "unit " << o << " example " << e;
    }
}

namespace {

std::shared_ptr<Network> fresh_network() {
  auto spec = test::spec_from_yaml(spec_text, {"training.epochs=0"});
  return train_run(spec, test::bundled_registry()).network;
}

void expect_rejected(const fs::path& file, const std::vector<std::string>& must_contain) {
  auto net = fresh_network();
  Vector before = net->parameters();
  try {
    load_weights(file.string(), *net);
    ADD_FAILURE() << file << " was accepted";
  } catch (const InputError& e) {
    std::string what = e.what();
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    EXPECT_NE(what.find(file.string()), std::string::npos) << what;
    for (const auto& needle : must_contain) EXPECT_NE(what.find(needle), std::string::npos) << what;
  }
  // A rejected file leaves the model as it was.
  EXPECT_TRUE(net->parameters() == before);
}

json good_header() {
  return {{"0.weight", {{"dtype", "F32"}, {"shape", {16, 64}}, {"data_offsets", {0, 4096}}}},
          {"0.bias", {{"dtype", "F32"}, {"shape", {16}}, {"data_offsets", {4096, 4160}}}},
          {"2.weight", {{"dtype", "F32"}, {"shape", {10, 16}}, {"data_offsets", {4160, 4800}}}},
          {"2.bias", {{"dtype", "F32"}, {"shape", {10}}, {"data_offsets", {4800, 4840}}}}};
}

}  // namespace

TEST(Weights, HandWrittenFileLoads) {
  // The control for the rejections below: a file written independently of the
  // core's writer loads, and puts exactly its values into the model.
  TempDir dir;
  write_safetensors(dir / "good.safetensors", good_header(), float_bytes(1210, 0.25f));
  auto net = fresh_network();
  load_weights((dir / "good.safetensors").string(), *net);
  for (Index i = 0; i < net->param_count(); ++i) ASSERT_EQ(net->parameters()[i], 0.25f) << i;
}

TEST(Weights, MissingTensorIsRejected) {
  TempDir dir;
  auto h = good_header();
  h.erase("2.bias");
  write_safetensors(dir / "w.safetensors", h, float_bytes(1200, 0.5f));
  expect_rejected(dir / "w.safetensors", {"'2.bias'"});
}

TEST(Weights, ExtraTensorIsRejected) {
  TempDir dir;
  auto h = good_header();
  h["4.weight"] = {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {4840, 4848}}};
  write_safetensors(dir / "w.safetensors", h, float_bytes(1212, 0.5f));
  expect_rejected(dir / "w.safetensors", {"'4.weight'"});
}

TEST(Weights, TransposedWeightIsRejected) {
  TempDir dir;
  auto h = good_header();
  h["0.weight"]["shape"] = {64, 16};
  write_safetensors(dir / "w.safetensors", h, float_bytes(1210, 0.5f));
  expect_rejected(dir / "w.safetensors", {"'0.weight'", "[64, 16]", "[16, 64]"});
}

TEST(Weights, OtherDtypeIsRejected) {
  TempDir dir;
  auto h = good_header();
  h["0.bias"]["dtype"] = "F64";
  h["0.bias"]["data_offsets"] = {4096, 4224};
  h["2.weight"]["data_offsets"] = {4224, 4864};
  h["2.bias"]["data_offsets"] = {4864, 4904};
  write_safetensors(dir / "w.safetensors", h, float_bytes(1226, 0.5f));
  expect_rejected(dir / "w.safetensors", {"'0.bias'", "F64"});
}

TEST(Weights, TruncatedFileIsRejected) {
  TempDir dir;
  write_safetensors(dir / "w.safetensors", good_header(), float_bytes(1210, 0.5f).substr(0, 4000));
  expect_rejected(dir / "w.safetensors", {"truncated"});
  write_safetensors(dir / "short.safetensors", good_header(), "");
  test::write_text(dir / "short.safetensors", test::read_text(dir / "short.safetensors").substr(0, 30));
  expect_rejected(dir / "short.safetensors", {"safetensors"});
  test::write_text(dir / "tiny.safetensors", "abc");
  expect_rejected(dir / "tiny.safetensors", {"safetensors"});
}

// Offsets near 2^64 wrap around when added to the data start: they must be
// refused as outside the file, not read from wherever the sum points.
TEST(Weights, OffsetsThatWrapAroundAreRejected) {
  TempDir dir;
  auto h = good_header();
  const std::uint64_t top = ~std::uint64_t(0) - 63;  // 2^64 - 64
  h["0.bias"]["data_offsets"] = {top - 64, top};     // 64 bytes = 16 floats, as the shape says
  write_safetensors(dir / "w.safetensors", h, float_bytes(1210, 0.5f));
  expect_rejected(dir / "w.safetensors", {"'0.bias'", "outside the file"});
}

// A shape whose element count overflows (2^62 * 4 = 2^64 wraps to 0) or that
// has a negative extent describes no tensor; read_safetensors refuses it.
TEST(Weights, ShapesThatOverflowOrAreNegativeAreRejected) {
  TempDir dir;
  for (json shape : {json{std::int64_t(1) << 62, 4}, json{-4, -4}}) {
    SCOPED_TRACE(shape.dump());
    json h{{"x", {{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {0, 64}}}}};
    if (shape[0].get<std::int64_t>() > 0) h["x"]["data_offsets"] = {0, 0};
    write_safetensors(dir / "w.safetensors", h, float_bytes(16, 0.5f));
    try {
      read_safetensors((dir / "w.safetensors").string());
      ADD_FAILURE() << "accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("'x'"), std::string::npos) << e.what();
    }
  }
}

TEST(Weights, HeaderThatIsNotJsonIsRejected) {
  TempDir dir;
  std::string h = "{not json at all";
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(char((std::uint64_t(h.size()) >> (8 * i)) & 0xff));
  test::write_text(dir / "w.safetensors", out + h);
  expect_rejected(dir / "w.safetensors", {"JSON"});
}

TEST(Weights, PyTorchSequentialLoadsTheFile) {
  if (test::run_shell("/usr/bin/python3 -c 'import torch'").exit_code != 0)
    GTEST_SKIP() << "PyTorch is not importable by /usr/bin/python3; the load_state_dict check needs it";
  TempDir dir;
  auto a = train(dir, {"--save-weights", (dir / "w.safetensors").string()});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto b = train(dir, {"--set", "training.epochs=0", "--load-weights", (dir / "w.safetensors").string(), "--json",
                       (dir / "b.json").string()});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto summary = json::parse(test::read_text(dir / "b.json"));
  const std::string expected_loss = summary["epochs"][0]["test_loss"].dump();

  // Reads the file without gradlab (by hand, or with the safetensors package
  // where it is installed), loads it into the nn.Sequential of the same
  // layers with strict=True, and measures the test loss PyTorch's way.
  test::write_text(dir / "check.py", R"(import gzip, json, struct, sys
import torch
path, digits, expected = sys.argv[1], sys.argv[2], float(sys.argv[3])
raw = open(path, 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
header = json.loads(raw[8:8 + n])
header.pop('__metadata__', None)
state = {}
for name, t in header.items():
    assert t['dtype'] == 'F32', t
    b, e = t['data_offsets']
    state[name] = torch.frombuffer(bytearray(raw[8 + n + b:8 + n + e]), dtype=torch.float32).reshape(t['shape'])
try:
    from safetensors.torch import load_file
    other = load_file(path)
    assert set(other) == set(state) and all(torch.equal(other[k], state[k]) for k in state)
    print('checked with the safetensors package too')
except ImportError:
    pass
model = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.Sigmoid(), torch.nn.Linear(16, 10))
model.load_state_dict(state, strict=True)
rows = [[float(v) for v in line.split(',')] for line in gzip.open(digits, 'rt') if line.strip()]
test = rows[-360:]
x = torch.tensor([r[:64] for r in test], dtype=torch.float32) / 16
y = torch.tensor([int(r[64]) for r in test])
with torch.no_grad():
    loss = torch.nn.CrossEntropyLoss()(model(x), y).item()
print('torch', loss, 'gradlab', expected)
assert abs(loss - expected) <= 1e-4 * max(1.0, abs(expected)), (loss, expected)
)");
  auto digits = test::source_dir() / "data" / "digits.csv.gz";
  auto r = test::run_shell("/usr/bin/python3 '" + (dir / "check.py").string() + "' '" +
                           (dir / "w.safetensors").string() + "' '" + digits.string() + "' " + expected_loss);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST(Weights, AnyTensorsRoundTripInTheirOrderWithTheirMetadata) {
  // The writer behind weights_bytes, for tensors of any origin (the Python
  // module's write_weights): read back, the tensors come in the order written
  // (not sorted by name) with the metadata, and writing them again with that
  // metadata gives the same bytes.
  TempDir dir;
  const std::vector<float> b{1, 2, 3, 4, 5, 6}, a{-1.5f}, w{7, 8}, empty;
  std::vector<TensorRef> tensors{{"b", {2, 3}, b.data(), 6},
                                 {"a", {}, a.data(), 1},
                                 {"10.weight", {2}, w.data(), 2},
                                 {"9.bias", {0, 4}, empty.data(), 0}};
  const auto path = (dir / "w.safetensors").string();
  const std::string bytes = safetensors_bytes(tensors, {{"spec", "{}"}});
  write_file_atomically(path, bytes);
  const auto file = read_safetensors_file(path);
  ASSERT_EQ(file.tensors.size(), 4u);
  std::vector<std::string> names;
  for (const auto& [name, entry] : file.tensors) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"b", "a", "10.weight", "9.bias"}));
  EXPECT_EQ(file.tensors[0].second.shape, (std::vector<Index>{2, 3}));
  EXPECT_EQ(file.tensors[0].second.values, b);
  EXPECT_TRUE(file.tensors[1].second.shape.empty());
  EXPECT_EQ(file.tensors[1].second.values, a);
  EXPECT_EQ(file.tensors[3].second.shape, (std::vector<Index>{0, 4}));
  EXPECT_EQ(file.metadata,
            (std::map<std::string, std::string>{
                {"format", "pt"}, {"producer", std::string("gradlab ") + version_string}, {"spec", "{}"}}));

  std::vector<TensorRef> again;
  for (const auto& [name, entry] : file.tensors)
    again.push_back({name, entry.shape, entry.values.data(), static_cast<Index>(entry.values.size())});
  EXPECT_EQ(safetensors_bytes(again, file.metadata), bytes);

  EXPECT_THROW(safetensors_bytes({{"x", {2, 2}, b.data(), 3}}), std::invalid_argument);
  EXPECT_THROW(safetensors_bytes({{"x", {1}, a.data(), 1}, {"x", {1}, a.data(), 1}}), std::invalid_argument);
  EXPECT_THROW(safetensors_bytes({{"__metadata__", {1}, a.data(), 1}}), std::invalid_argument);
}
