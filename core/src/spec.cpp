#include "gradlab/core/spec.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "gradlab/core/error.hpp"
#include "gradlab/core/io.hpp"
#include "param_checks.hpp"

namespace gradlab {

namespace {

// Knows where each node came from: a line and column of the spec file, or the
// --set option that put it there.
class Locator {
 public:
  explicit Locator(std::string source) : source_(std::move(source)) {}
  // Every node of an override's value belongs to that --set option, so an
  // error inside it (a bad value in `--set optimizer={name: adam, lr: x}`)
  // names the option, not the spec file.
  void add_override(const YAML::Node& node, const std::string& option) {
    std::size_t budget = 10000;
    add_subtree(node, option, budget);
  }

  std::string operator()(const YAML::Node& node) const {
    for (const auto& [n, option] : overrides_)
      if (n.is(node)) return "--set " + option;
    const auto mark = node.Mark();
    if (mark.is_null() || mark.line < 0) return source_;
    return source_ + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
  }
  const std::string& source() const { return source_; }

 private:
  void add_subtree(const YAML::Node& node, const std::string& option, std::size_t& budget) {
    if (budget == 0) return;
    --budget;
    overrides_.emplace_back(node, option);
    if (node.IsMap())
      for (auto it = node.begin(); it != node.end(); ++it) {
        add_subtree(it->first, option, budget);
        add_subtree(it->second, option, budget);
      }
    else if (node.IsSequence())
      for (const auto& item : node) add_subtree(item, option, budget);
  }
  std::string source_;
  std::vector<std::pair<YAML::Node, std::string>> overrides_;
};

std::string node_kind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return quote_text(node.Scalar());
    default: return "an undefined value";
  }
}

std::string suggestion(const std::string& key, const std::vector<std::string>& known) {
  auto close = nearest_names(key, known, 1);
  if (!close.empty()) return "; did you mean '" + close.front() + "'?";
  std::string all;
  for (const auto& k : known) all += (all.empty() ? "" : ", ") + k;
  return all.empty() ? "; it takes no parameters" : "; known keys: " + all;
}

// A map key as text; a key that is itself a list or a map is bad input.
template <class Where>
std::string key_text(const YAML::Node& key, const std::string& what, const Where& where) {
  if (!key.IsScalar()) throw InputError(where(key), "a key in " + what + " must be a name, got " + node_kind(key));
  return key.Scalar();
}

// A decimal integer literal ([-+]?[0-9]+) read as decimal, as the effective
// spec (JSON) reads it; yaml-cpp alone would read "010" as octal 8. Other
// forms (0x10) are left to yaml-cpp.
std::int64_t integer_value(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  const std::size_t digits = !s.empty() && (s[0] == '+' || s[0] == '-') ? 1 : 0;
  if (s.size() > digits && s.find_first_not_of("0123456789", digits) == std::string::npos) {
    std::int64_t value = 0;
    const char* first = s.data() + (s[0] == '+' ? 1 : 0);
    auto [end, ec] = std::from_chars(first, s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size()) throw YAML::TypedBadConversion<std::int64_t>(node.Mark());
    return value;
  }
  return node.as<std::int64_t>();
}

void reject_unknown_keys(const std::string& what, const YAML::Node& map, std::vector<std::string> known,
                         const Locator& where) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    auto key = key_text(it->first, what, where);
    if (std::find(known.begin(), known.end(), key) == known.end())
      throw InputError(where(it->first), "unknown key '" + key + "' in " + what + suggestion(key, known));
  }
}

YAML::Node require_map(const YAML::Node& node, const std::string& what, const Locator& where) {
  if (!node.IsMap()) throw InputError(where(node), what + " must be a map, got " + node_kind(node));
  return node;
}

// A component node: `{name: X, ...params}`, or just the scalar `X`.
ComponentChoice parse_component(const Registry& registry, ComponentKind kind, const YAML::Node& node,
                                const std::string& what, const Locator& where, std::set<std::string> reserved = {}) {
  YAML::Node map;
  YAML::Node name_node;
  if (node.IsScalar()) {
    name_node = node;
  } else {
    map = require_map(node, what, where);
    name_node = map["name"];
    if (!name_node) throw InputError(where(node), what + " needs a 'name' key");
  }
  if (!name_node.IsScalar()) throw InputError(where(name_node), what + " name must be a string");
  ComponentChoice choice{name_node.as<std::string>(), {}, where(node)};
  const auto& entry = registry.get(kind, choice.name, where(name_node));
  reserved.insert("name");
  choice.params = validate_params(std::string(to_string(kind)) + " '" + choice.name + "'", entry.info.schema,
                                  map ? map : YAML::Node(YAML::NodeType::Map), reserved, where);
  return choice;
}

// `size` receives the number of layers the list stands for: repeats expanded,
// each block counted with its children.
std::vector<LayerSpec> parse_layers(const Registry& registry, const YAML::Node& list, const Locator& where, int depth,
                                    std::size_t& size);

// Layers a model may have, repeats expanded and the children of blocks
// counted: nested repeats and blocks multiply, so the bound is checked before
// each expansion, not when memory runs out.
constexpr std::size_t max_layers = 100000;

// The components a spec may leave out.
const char* const default_init = "lecun_normal";
const char* const default_optimizer = "sgd";

LayerSpec parse_layer(const Registry& registry, const YAML::Node& node, const Locator& where, int depth,
                      std::size_t& size) {
  size = 1;
  YAML::Node map;
  YAML::Node type_node;
  if (node.IsScalar()) {
    type_node = node;
  } else {
    map = require_map(node, "a layer", where);
    type_node = map["type"];
    if (!type_node) throw InputError(where(node), "a layer needs a 'type' key (or 'repeat' with 'layers')");
  }
  if (!type_node.IsScalar())
    throw InputError(where(type_node), "a layer's type must be a name, got " + node_kind(type_node));
  LayerSpec spec;
  spec.layer.name = type_node.as<std::string>();
  spec.layer.where = where(node);
  const auto& entry = registry.get(ComponentKind::layer, spec.layer.name, where(type_node));
  std::set<std::string> reserved{"type", "init"};
  if (entry.info.accepts_children) reserved.insert("layers");
  for (const auto& key : entry.info.initializer_keys) reserved.insert(key);
  spec.layer.params = validate_params("layer '" + spec.layer.name + "'", entry.info.schema,
                                      map ? map : YAML::Node(YAML::NodeType::Map), reserved, where);
  if (map && map["init"]) spec.init = parse_component(registry, ComponentKind::initializer, map["init"], "init", where);
  for (const auto& key : entry.info.initializer_keys)
    if (map && map[key])
      spec.part_inits.emplace_back(key,
                                   parse_component(registry, ComponentKind::initializer, map[key], key.c_str(), where));
  if (entry.info.accepts_children) {
    if (!map || !map["layers"]) throw InputError(where(node), "layer '" + spec.layer.name + "' needs 'layers: [...]'");
    std::size_t children = 0;
    spec.children = parse_layers(registry, map["layers"], where, depth + 1, children);
    size += children;
    if (spec.children.empty()) throw InputError(where(map["layers"]), "layer '" + spec.layer.name + "' has no layers");
  }
  return spec;
}

std::vector<LayerSpec> parse_layers(const Registry& registry, const YAML::Node& list, const Locator& where, int depth,
                                    std::size_t& size) {
  size = 0;
  if (depth > 32) throw InputError(where(list), "layers nested more than 32 deep");
  if (!list.IsSequence()) throw InputError(where(list), "'layers' must be a list, got " + node_kind(list));
  std::vector<LayerSpec> out;
  auto too_many = [&](const YAML::Node& at, std::size_t total) {
    return InputError(where(at), "this makes the model " + std::to_string(total) +
                                     " layers long (the layers inside blocks counted), more than the " +
                                     std::to_string(max_layers) + " a model may have");
  };
  for (const auto& item : list) {
    if (item.IsMap() && item["repeat"]) {
      reject_unknown_keys("a repeat block", item, {"repeat", "layers"}, where);
      std::int64_t times = 0;
      try {
        times = integer_value(item["repeat"]);
      } catch (const YAML::Exception&) {
        throw InputError(where(item["repeat"]), "'repeat' must be an integer, got " + node_kind(item["repeat"]));
      }
      if (times < 1 || times > 100000)
        throw InputError(where(item["repeat"]), "'repeat' must be between 1 and 100000, got " + std::to_string(times));
      if (!item["layers"]) throw InputError(where(item), "a repeat block needs 'layers: [...]'");
      std::size_t body_size = 0;
      auto body = parse_layers(registry, item["layers"], where, depth + 1, body_size);
      const auto repeats = static_cast<std::size_t>(times);
      if (body_size > (max_layers - size) / repeats) throw too_many(item["repeat"], size + body_size * repeats);
      size += body_size * repeats;
      for (std::int64_t i = 0; i < times; ++i) out.insert(out.end(), body.begin(), body.end());
    } else {
      std::size_t layer_size = 0;
      out.push_back(parse_layer(registry, item, where, depth, layer_size));
      if (layer_size > max_layers - size) throw too_many(item, size + layer_size);
      size += layer_size;
    }
  }
  return out;
}

// The byte offset of the first byte that is not valid UTF-8, or npos. YAML
// text is UTF-8, and every spec value is copied into the JSON summary, which
// must be too (a Latin-1 file name would end a finished run with a JSON error).
std::size_t invalid_utf8_at(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    std::size_t extra = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xE ? 2 : (c >> 3) == 0x1E ? 3 : 9;
    if (extra == 9 || (extra == 1 && c < 0xC2) || i + extra >= text.size() + (extra ? 0 : 1)) return i;
    std::uint32_t code = extra == 0 ? c : extra == 1 ? c & 0x1F : extra == 2 ? c & 0x0F : c & 0x07;
    for (std::size_t k = 1; k <= extra; ++k) {
      const unsigned char d = static_cast<unsigned char>(text[i + k]);
      if ((d & 0xC0) != 0x80) return i;
      code = (code << 6) | (d & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF.
    if ((extra == 2 && code < 0x800) || (extra == 3 && (code < 0x10000 || code > 0x10FFFF)) ||
        (code >= 0xD800 && code <= 0xDFFF))
      return i;
    i += extra + 1;
  }
  return std::string_view::npos;
}

// Refuses text that is not UTF-8, naming the line and column of the first bad byte.
void require_utf8(std::string_view text, const std::string& source) {
  const std::size_t bad = invalid_utf8_at(text);
  if (bad == std::string_view::npos) return;
  const std::size_t line = 1 + static_cast<std::size_t>(std::count(text.begin(), text.begin() + bad, '\n'));
  const std::size_t line_start = text.rfind('\n', bad == 0 ? 0 : bad - 1);
  const std::size_t column = bad - (line_start == std::string_view::npos || bad == 0 ? 0 : line_start + 1) + 1;
  char byte[8];
  std::snprintf(byte, sizeof byte, "0x%02x", static_cast<unsigned>(static_cast<unsigned char>(text[bad])));
  throw InputError(source + ":" + std::to_string(line) + ":" + std::to_string(column),
                   std::string("byte ") + byte + " is not UTF-8; a spec is UTF-8 text (YAML or JSON)");
}

// Nodes a spec may expand to, YAML aliases expanded: a real spec has a few
// hundred; an alias bomb (each list repeating the one before) has billions.
constexpr std::size_t max_spec_nodes = 100000;

// Walks the document as everything after it will (aliases expanded),
// refusing a duplicate map key (yaml-cpp keeps both and lookups see only the
// first) and a document that expands past max_spec_nodes.
void check_document(const YAML::Node& node, const Locator& where, std::size_t& visited) {
  if (++visited > max_spec_nodes)
    throw InputError(where(node), "the spec expands to more than " + std::to_string(max_spec_nodes) +
                                      " values (YAML aliases repeating one another?)");
  if (node.IsMap()) {
    std::map<std::string, YAML::Node> keys;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;
      if (key.IsScalar()) {
        auto [first, inserted] = keys.emplace(key.Scalar(), key);
        if (!inserted)
          throw InputError(where(key), "duplicate key " + quote_text(key.Scalar()) + " (first at " +
                                           where(first->second) + "); a map takes each key once");
      }
      check_document(key, where, visited);
      check_document(it->second, where, visited);
    }
  } else if (node.IsSequence()) {
    for (const auto& item : node) check_document(item, where, visited);
  }
}

nlohmann::json yaml_to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json j = nlohmann::json::object();
      for (auto it = node.begin(); it != node.end(); ++it) j[it->first.as<std::string>()] = yaml_to_json(it->second);
      return j;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& item : node) j.push_back(yaml_to_json(item));
      return j;
    }
    case YAML::NodeType::Scalar: {
      const auto& s = node.Scalar();
      if (node.Tag() == "!") return s;  // quoted in the source
      try {
        std::size_t used = 0;
        long long i = std::stoll(s, &used);
        if (used == s.size()) return i;
      } catch (...) {
      }
      try {
        std::size_t used = 0;
        double d = std::stod(s, &used);
        if (used == s.size() && std::isfinite(d)) return d;
      } catch (...) {
      }
      if (s == "true") return true;
      if (s == "false") return false;
      return s;
    }
    default: return nullptr;
  }
}

void apply_override(YAML::Node& root, const std::string& option, Locator& locator) {
  require_utf8(option, "--set option");
  auto eq = option.find('=');
  if (eq == std::string::npos || eq == 0)
    throw InputError("--set " + option, "expected KEY=VALUE with a dotted key, e.g. optimizer.lr=0.05");
  std::string path = option.substr(0, eq);
  std::string text = option.substr(eq + 1);
  YAML::Node value;
  try {
    value = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw InputError("--set " + option, "value is not valid YAML: " + e.msg);
  }
  // `null` / `~` mean null (`--set pretrain=null` drops pretraining); any other
  // text that YAML reads as nothing (an empty value, a comment) stays the text.
  const bool null_literal = text == "null" || text == "Null" || text == "NULL" || text == "~";
  if (!value.IsDefined() || (value.IsNull() && !null_literal)) value = YAML::Node(text);

  std::vector<std::string> parts;
  std::stringstream ss(path);
  for (std::string part; std::getline(ss, part, '.');) {
    if (part.empty()) throw InputError("--set " + option, "empty segment in key '" + path + "'");
    parts.push_back(part);
  }
  // Going into init / optimizer that the spec leaves out goes into the default.
  if (parts.size() > 1 && !root[parts[0]]) {
    if (parts[0] == "init") root["init"] = default_init;
    if (parts[0] == "optimizer") root["optimizer"] = default_optimizer;
  }
  YAML::Node current = root;
  bool in_list = false;  // whether `current` is an item of a list (a layer)
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& part = parts[i];
    bool last = i + 1 == parts.size();
    // A component given by name alone, `X`, is `{name: X}` (a layer's `{type: X}`):
    // setting a key inside it keeps the name.
    if (current.IsScalar()) {
      YAML::Node map(YAML::NodeType::Map);
      map[in_list ? "type" : "name"] = current.Scalar();
      current = map;
    }
    const bool was_list = current.IsSequence();
    in_list = was_list;
    if (was_list) {
      std::size_t index = 0;
      const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), index);
      if (ec != std::errc() || end != part.data() + part.size())
        throw InputError("--set " + option, quote_text(part) + " indexes a list and must be a number");
      if (index >= current.size())
        throw InputError("--set " + option,
                         "index " + part + " is past the end of a list of " + std::to_string(current.size()));
      if (last) {
        current[index] = value;
        locator.add_override(current[index], option);
        return;
      }
      YAML::Node next = current[index];
      current.reset(next);
    } else {
      if (current.IsDefined() && !current.IsMap() && !current.IsNull())
        throw InputError("--set " + option, "'" + part + "' cannot be set inside a scalar value");
      if (last) {
        current[part] = value;
        locator.add_override(current[part], option);
        return;
      }
      YAML::Node next = current[part];
      current.reset(next);
    }
  }
}

const Schema& training_schema() {
  static const Schema schema{
      ParamSpec::integer("epochs", 30).at_least(0).describe("passes over the training set after pretraining"),
      ParamSpec::integer("batch_size", 32).at_least(1).describe("examples per mini-batch"),
      ParamSpec::integer("seed", 1).at_least(0).describe(
          "seed of the run's random stream (init, shuffling, pretraining)"),
      ParamSpec::boolean("shuffle", true).describe("reshuffle the training set every epoch"),
      ParamSpec::integer("eval_every", 1)
          .at_least(1)
          .describe("evaluate both splits and record the epoch every N epochs (epoch 0 and the last always)"),
  };
  return schema;
}

const Schema& probe_schema() {
  static const Schema schema{
      ParamSpec::integer("every", 1).at_least(1).describe("probe layers every N epochs (epoch 0 and the last always)"),
      ParamSpec::integer("batch", 256).at_least(1).describe("probe batch: the first N training examples"),
      ParamSpec::integer("every_steps", 0)
          .at_least(0)
          .describe("also probe after every N-th training step (0 = only on probed epochs)"),
  };
  return schema;
}

const Schema& early_stopping_schema() {
  static const Schema schema{
      ParamSpec::choice("metric", "test_loss",
                        {"test_loss", "test_accuracy", "test_success_rate", "train_loss", "train_accuracy"})
          .describe("the evaluated metric to watch (losses fall, accuracies and success rates rise)"),
      ParamSpec::integer("patience", 5)
          .at_least(1)
          .describe("evaluated epochs in a row without improvement before the run stops"),
      ParamSpec::real("min_delta", 0.0).at_least(0).describe("an improvement must exceed this much"),
      ParamSpec::boolean("restore_best", true)
          .describe("end with the weights of the best evaluated epoch instead of the last"),
  };
  return schema;
}

// `schedule: NAME` or `schedule: {name: NAME, ..., then: ...}`; `then:` only
// for a schedule that registered accepts_children, nested to any depth.
ScheduleSpec parse_schedule(const Registry& registry, const YAML::Node& node, const std::string& what,
                            const Locator& where, int depth) {
  if (depth > 16) throw InputError(where(node), what + ": schedules are nested more than 16 deep");
  ScheduleSpec spec;
  spec.schedule = parse_component(registry, ComponentKind::schedule, node, what, where, {"then"});
  const auto& entry = registry.get(ComponentKind::schedule, spec.schedule.name, spec.schedule.where);
  const YAML::Node then = node.IsMap() ? node["then"] : YAML::Node();
  if (then && !then.IsNull()) {
    if (!entry.info.accepts_children)
      throw InputError(where(then), "schedule '" + spec.schedule.name + "' takes no 'then:'");
    spec.then.push_back(parse_schedule(registry, then, what + ".then", where, depth + 1));
  }
  return spec;
}

}  // namespace

bool within_bounds(const ParamSpec& spec, double x) {
  const bool below = spec.min_exclusive ? !(x > spec.min) : !(x >= spec.min);
  return !std::isnan(x) && !below && !(x > spec.max);
}

std::string bounds_text(const ParamSpec& spec) {
  std::ostringstream range;
  range << (spec.min_exclusive ? "(" : "[") << spec.min << ", " << spec.max << "]";
  return range.str();
}

std::string choices_text(const ParamSpec& spec) {
  std::string all;
  for (const auto& c : spec.choices) all += (all.empty() ? "" : ", ") + c;
  return all;
}

Params validate_params(const std::string& what, const Schema& schema, const YAML::Node& node,
                       const std::set<std::string>& reserved,
                       const std::function<std::string(const YAML::Node&)>& where) {
  std::map<std::string, ParamValue> values;
  std::vector<std::string> known(reserved.begin(), reserved.end());
  for (const auto& p : schema) known.push_back(p.name);
  if (node && node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      auto key = key_text(it->first, what, where);
      if (reserved.count(key)) continue;
      auto spec = std::find_if(schema.begin(), schema.end(), [&](const ParamSpec& p) { return p.name == key; });
      if (spec == schema.end()) {
        std::vector<std::string> names;
        for (const auto& p : schema) names.push_back(p.name);
        throw InputError(where(it->first), "unknown key '" + key + "' in " + what + suggestion(key, names));
      }
      // A copy: the iterator's `->` yields a temporary pair, so a reference to
      // its member would dangle after this statement.
      const YAML::Node v = it->second;
      auto bad = [&](const std::string& expected) {
        return InputError(where(v), "'" + key + "' of " + what + " must be " + expected + ", got " + node_kind(v));
      };
      const std::string expected = spec->type == ParamType::integer ? "an integer"
                                   : spec->type == ParamType::real  ? "a number"
                                                                    : std::string("a ") + to_string(spec->type);
      if (!v.IsScalar()) throw bad(expected);
      ParamValue value;
      try {
        switch (spec->type) {
          case ParamType::boolean: value = v.as<bool>(); break;
          case ParamType::integer: value = integer_value(v); break;
          case ParamType::real:
            value = v.as<double>();
            // yaml-cpp reads .inf/.nan as numbers; no parameter means them.
            if (!std::isfinite(std::get<double>(value))) throw bad("a finite number");
            break;
          case ParamType::string: value = v.as<std::string>(); break;
          case ParamType::choice: {
            auto s = v.as<std::string>();
            if (std::find(spec->choices.begin(), spec->choices.end(), s) == spec->choices.end()) {
              auto close = nearest_names(s, spec->choices, 1);
              throw InputError(where(v), "'" + key + "' of " + what + " must be one of " + choices_text(*spec) +
                                             ", got '" + s + "'" +
                                             (close.empty() ? "" : "; did you mean '" + close.front() + "'?"));
            }
            value = s;
            break;
          }
        }
      } catch (const YAML::Exception&) {
        throw bad(expected);
      }
      if (spec->type == ParamType::integer || spec->type == ParamType::real) {
        double x = spec->type == ParamType::integer ? static_cast<double>(std::get<std::int64_t>(value))
                                                    : std::get<double>(value);
        if (!within_bounds(*spec, x))
          throw InputError(where(v), "'" + key + "' of " + what + " is " + quote_text(v.Scalar()) +
                                         ", outside its bounds " + bounds_text(*spec));
      }
      values[key] = std::move(value);
    }
  }
  for (const auto& p : schema) {
    if (values.count(p.name)) continue;
    if (p.required())
      throw InputError(where(node), what + " needs '" + p.name + "'" + (p.doc.empty() ? "" : " (" + p.doc + ")"));
    values[p.name] = *p.default_value;
  }
  return Params(std::move(values));
}

RunSpec parse_run_spec(const std::string& text, const std::string& source, const std::vector<std::string>& overrides,
                       const Registry& registry, const std::string& spec_dir) {
  Locator where(source);
  YAML::Node root;
  try {
    require_utf8(text, source);
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw InputError(source + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1),
                     "malformed YAML: " + e.msg);
  }
  if (!root || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) throw InputError(where(root), "a run spec must be a map, got " + node_kind(root));
  std::size_t visited = 0;
  check_document(root, where, visited);
  for (const auto& option : overrides) apply_override(root, option, where);
  visited = 0;
  check_document(root, where, visited);

  reject_unknown_keys("the run spec", root,
                      {"data", "model", "init", "optimizer", "schedule", "pretrain", "training", "probes"}, where);
  RunSpec spec;
  spec.source = source;
  spec.spec_dir = spec_dir;
  if (!root["data"]) throw InputError(where(root), "the run spec needs 'data' (e.g. data: {name: digits})");
  spec.data = parse_component(registry, ComponentKind::dataset, root["data"], "data", where);

  if (!root["model"]) throw InputError(where(root), "the run spec needs 'model: {layers: [...]}'");
  auto model = require_map(root["model"], "model", where);
  reject_unknown_keys("model", model, {"layers"}, where);
  if (!model["layers"]) throw InputError(where(model), "model needs 'layers: [...]'");
  std::size_t layer_count = 0;
  spec.layers = parse_layers(registry, model["layers"], where, 0, layer_count);
  if (spec.layers.empty()) throw InputError(where(model["layers"]), "model has no layers");

  YAML::Node init = root["init"] ? root["init"] : YAML::Node(default_init);
  spec.init = parse_component(registry, ComponentKind::initializer, init, "init", where);

  YAML::Node optimizer = root["optimizer"] ? root["optimizer"] : YAML::Node(default_optimizer);
  spec.optimizer =
      parse_component(registry, ComponentKind::optimizer, optimizer, "optimizer", where, {"clip_norm", "clip_value"});
  if (optimizer.IsMap()) {
    static const Schema clip{
        ParamSpec::real("clip_norm", 0.0)
            .at_least(0)
            .describe("rescale the gradient to at most this global L2 norm; 0 = off"),
        ParamSpec::real("clip_value", 0.0).at_least(0).describe("clamp each gradient entry to [-v, v]; 0 = off")};
    std::set<std::string> others{"name"};
    for (const auto& [k, v] : spec.optimizer.params.values()) others.insert(k);
    auto clipping = validate_params("optimizer", clip, optimizer, others, where);
    spec.clip_norm = clipping.real("clip_norm");
    spec.clip_value = clipping.real("clip_value");
  }
  if (root["pretrain"] && !root["pretrain"].IsNull())
    spec.pretrain = parse_component(registry, ComponentKind::pretrain, root["pretrain"], "pretrain", where);

  YAML::Node training =
      root["training"] ? require_map(root["training"], "training", where) : YAML::Node(YAML::NodeType::Map);
  auto t = validate_params("training", training_schema(), training, {"early_stopping"}, where);
  spec.training = {t.integer("epochs"), t.integer("batch_size"), t.integer("seed"), t.boolean("shuffle"),
                   t.integer("eval_every")};
  if (training["early_stopping"] && !training["early_stopping"].IsNull()) {
    const YAML::Node stopping = require_map(training["early_stopping"], "training.early_stopping", where);
    auto e = validate_params("training.early_stopping", early_stopping_schema(), stopping, {}, where);
    spec.training.early_stopping =
        EarlyStopping{e.string("metric"), e.integer("patience"), e.real("min_delta"), e.boolean("restore_best")};
  }
  if (root["schedule"] && !root["schedule"].IsNull())
    spec.schedule = parse_schedule(registry, root["schedule"], "schedule", where, 0);
  YAML::Node probes = root["probes"] ? require_map(root["probes"], "probes", where) : YAML::Node(YAML::NodeType::Map);
  auto p = validate_params("probes", probe_schema(), probes, {}, where);
  spec.probes = {p.integer("every"), p.integer("batch"), p.integer("every_steps")};

  spec.effective = yaml_to_json(root);
  return spec;
}

RunSpec load_run_spec(const std::filesystem::path& file, const std::vector<std::string>& overrides,
                      const Registry& registry) {
  // A spec is a few kilobytes; 16 MiB is far beyond any real one and keeps a
  // wrong file (a data set, /dev/zero) from being read into memory.
  constexpr std::uint64_t max_spec_bytes = 16u << 20;
  const std::string text =
      read_regular_file(file, "a run spec (YAML or JSON)", max_spec_bytes, "no run spec is that large");
  auto dir = file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
  return parse_run_spec(text, file.string(), overrides, registry, dir.string());
}

std::string param_value_to_string(const ParamValue& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>)
          return v ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::string>)
          return v;
        else if constexpr (std::is_same_v<T, double>) {
          std::ostringstream s;
          s << v;
          return s.str();
        } else
          return std::to_string(v);
      },
      value);
}

nlohmann::json params_to_json(const Params& params) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : params.values()) std::visit([&j, &key = k](const auto& x) { j[key] = x; }, v);
  return j;
}

nlohmann::json schema_to_json(const Schema& schema) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : schema) {
    nlohmann::json j{{"name", p.name}, {"type", to_string(p.type)}, {"doc", p.doc}, {"required", p.required()}};
    if (p.default_value) std::visit([&](const auto& x) { j["default"] = x; }, *p.default_value);
    if (std::isfinite(p.min)) j["min"] = p.min;
    if (std::isfinite(p.max)) j["max"] = p.max;
    if (p.min_exclusive) j["min_exclusive"] = true;
    if (!p.choices.empty()) j["choices"] = p.choices;
    out.push_back(j);
  }
  return out;
}

}  // namespace gradlab
