// Study specs: YAML -> a plan of validated runs (see study.hpp).
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <regex>
#include <set>

#include "gradlab/core/error.hpp"
#include "gradlab/core/io.hpp"
#include "gradlab/core/study/study.hpp"

namespace gradlab::study {

std::uint64_t fnv1a64(const std::string& text) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::int64_t derive_seed(std::int64_t study_seed, const std::string& key) {
  std::uint64_t z = fnv1a64(std::to_string(study_seed) + ":" + key) + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<std::int64_t>(z >> 1);
}

namespace {

constexpr std::size_t max_runs = 100000;

struct Context {
  std::string source;
  std::string where(const YAML::Node& node) const {
    const auto mark = node.Mark();
    if (mark.is_null()) return source;
    return source + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
  }
};

std::string kind_of(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a value";
    case YAML::NodeType::Null: return "nothing";
    default: return "nothing";
  }
}

std::string flow_text(const YAML::Node& node) {
  if (node.IsScalar()) return node.Scalar();
  YAML::Emitter out;
  out << YAML::Flow << node;
  return out.c_str();
}

// A value as the text of a `--set KEY=VALUE` option: YAML that reads back as
// the same value (a string with YAML syntax in it quoted, a quoted string that
// looks like a number kept a string).
std::string value_text(const YAML::Node& node) {
  if (node.IsScalar()) {
    const std::string& text = node.Scalar();
    const bool quoted = node.Tag() == "!";
    const bool special = text.empty() || text.find_first_of(":#{}[],&*!|>'\"%@`\n") != std::string::npos ||
                         text.front() == ' ' || text.back() == ' ' || text.rfind("- ", 0) == 0 || text.front() == '?';
    if (!quoted && !special) return text;
    YAML::Emitter out;
    out << YAML::DoubleQuoted << text;
    return out.c_str();
  }
  return flow_text(node);
}

nlohmann::json to_json(const YAML::Node& node) {
  if (node.IsMap()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& kv : node) out[kv.first.Scalar()] = to_json(kv.second);
    return out;
  }
  if (node.IsSequence()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : node) out.push_back(to_json(item));
    return out;
  }
  if (!node.IsScalar()) return nullptr;
  const std::string& text = node.Scalar();
  if (node.Tag() != "!") {  // plain scalars may be numbers or booleans
    std::int64_t i;
    double d;
    bool b;
    if (YAML::convert<std::int64_t>::decode(node, i)) return i;
    if (YAML::convert<double>::decode(node, d)) return d;
    if (YAML::convert<bool>::decode(node, b)) return b;
  }
  return text;
}

const std::regex& variable_pattern() {
  static const std::regex pattern(R"(\$\{([^}]*)\})");
  return pattern;
}

// Every ${name} in the scalars under `node` must be defined.
void check_variables(const YAML::Node& node, const std::set<std::string>& defined, const Context& ctx) {
  if (node.IsMap()) {
    for (const auto& kv : node) check_variables(kv.second, defined, ctx);
  } else if (node.IsSequence()) {
    for (const auto& item : node) check_variables(item, defined, ctx);
  } else if (node.IsScalar()) {
    const std::string& text = node.Scalar();
    for (std::sregex_iterator it(text.begin(), text.end(), variable_pattern()), end; it != end; ++it) {
      const std::string name = (*it)[1];
      if (!defined.count(name))
        throw InputError(ctx.where(node), "variable " + quote_text("${" + name + "}") +
                                              " is never defined (define it under 'variables:' or as a grid axis)");
    }
  }
}

void collect_references(const YAML::Node& node, std::set<std::string>& names) {
  if (node.IsMap()) {
    for (const auto& kv : node) collect_references(kv.second, names);
  } else if (node.IsSequence()) {
    for (const auto& item : node) collect_references(item, names);
  } else if (node.IsScalar()) {
    const std::string& text = node.Scalar();
    for (std::sregex_iterator it(text.begin(), text.end(), variable_pattern()), end; it != end; ++it)
      names.insert((*it)[1]);
  }
}

// A deep copy of `node` with the variables substituted: a scalar that is
// exactly ${name} becomes the variable's value (any node), ${name} inside
// other text the value's text.
YAML::Node substitute(const YAML::Node& node, const std::map<std::string, YAML::Node>& vars, bool& changed) {
  if (node.IsMap()) {
    YAML::Node out(YAML::NodeType::Map);
    for (const auto& kv : node) out[kv.first.Scalar()] = substitute(kv.second, vars, changed);
    return out;
  }
  if (node.IsSequence()) {
    YAML::Node out(YAML::NodeType::Sequence);
    for (const auto& item : node) out.push_back(substitute(item, vars, changed));
    return out;
  }
  if (!node.IsScalar() || node.Scalar().find("${") == std::string::npos) return YAML::Clone(node);
  const std::string& text = node.Scalar();
  std::smatch whole;
  if (std::regex_match(text, whole, variable_pattern())) {
    changed = true;
    return YAML::Clone(vars.at(whole[1]));
  }
  std::string out;
  auto last = text.cbegin();
  for (std::sregex_iterator it(text.begin(), text.end(), variable_pattern()), end; it != end; ++it) {
    out.append(last, (*it)[0].first);
    out += flow_text(vars.at((*it)[1]));
    last = (*it)[0].second;
  }
  out.append(last, text.cend());
  changed = true;
  return YAML::Node(out);
}

std::int64_t integer_value(const YAML::Node& node, const std::string& what, std::int64_t min, std::int64_t max,
                           const Context& ctx) {
  std::int64_t value = 0;
  if (!node.IsScalar() || !YAML::convert<std::int64_t>::decode(node, value))
    throw InputError(ctx.where(node), what + " must be an integer, got " + quote_text(flow_text(node)));
  if (value < min || value > max)
    throw InputError(ctx.where(node), what + " must be in [" + std::to_string(min) + ", " + std::to_string(max) +
                                          "], got " + std::to_string(value));
  return value;
}

bool safe_name(const std::string& name) {
  if (name.empty() || name.size() > 200) return false;
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f || c == '/' || c == '=') return false;
  return true;
}

struct Override {
  std::string key;
  YAML::Node value;   // before substitution
  YAML::Node origin;  // for messages
};

}  // namespace

StudyPlan plan_study(const std::string& text, const std::string& source, const Registry& registry,
                     const std::string& study_dir) {
  Context ctx{source};
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw InputError(source + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1),
                     "malformed YAML: " + e.msg);
  }
  if (!root.IsMap()) throw InputError(ctx.where(root), "a study spec must be a map, got " + kind_of(root));
  static const std::vector<std::string> known{"study",     "base",  "variants", "grid",
                                              "variables", "seeds", "seed",     "baseline"};
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      auto close = nearest_names(key, known);
      throw InputError(ctx.where(kv.first),
                       "unknown key " + quote_text(key) + " in the study spec" +
                           (close.empty() ? "" : "; did you mean '" + close.front() + "'?") +
                           " (known: study, base, variants, grid, variables, seeds, seed, baseline)");
    }
  }
  StudyPlan plan;
  plan.source = source;
  if (!root["study"] || !root["study"].IsScalar() || root["study"].Scalar().empty())
    throw InputError(ctx.where(root["study"] ? root["study"] : root), "the study spec needs 'study: NAME'");
  plan.name = root["study"].Scalar();
  if (!safe_name(plan.name))
    throw InputError(ctx.where(root["study"]), "the study name " + quote_text(plan.name) +
                                                   " must be 1-200 printable characters without '/' or '='");
  plan.seeds = root["seeds"] ? integer_value(root["seeds"], "seeds", 1, 100000, ctx) : 1;
  plan.seed = root["seed"] ? integer_value(root["seed"], "seed", 0, INT64_MAX, ctx) : 1;

  // The base: inline, or a file relative to the study file.
  if (!root["base"]) throw InputError(ctx.where(root), "the study spec needs 'base:' (a run spec, or a path to one)");
  YAML::Node base = root["base"];
  std::string base_source = source, base_dir = study_dir, base_text;
  const bool base_is_file = base.IsScalar();
  if (base_is_file) {
    std::filesystem::path path = base.Scalar();
    if (path.is_relative()) path = std::filesystem::path(study_dir) / path;
    base_text = read_regular_file(path, "a run spec (YAML or JSON)", 16u << 20, "no run spec is that large");
    base_source = path.string();
    base_dir = path.parent_path().empty() ? "." : path.parent_path().string();
    try {
      base = YAML::Load(base_text);
    } catch (const YAML::ParserException& e) {
      throw InputError(base_source + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1),
                       "malformed YAML: " + e.msg);
    }
    if (!base.IsMap()) throw InputError(base_source, "a run spec must be a map, got " + kind_of(base));
  } else if (!base.IsMap()) {
    throw InputError(ctx.where(base), "'base' must be a run spec (a map) or a path to one, got " + kind_of(base));
  }
  Context base_ctx{base_source};

  // Variables: declared defaults, and grid axes that are variables.
  std::map<std::string, YAML::Node> defaults;
  if (root["variables"]) {
    if (!root["variables"].IsMap())
      throw InputError(ctx.where(root["variables"]), "'variables' must be a map of names to values");
    for (const auto& kv : root["variables"]) {
      const std::string name = kv.first.Scalar();
      if (name.empty() || name.find_first_of("${}. ") != std::string::npos)
        throw InputError(ctx.where(kv.first), "bad variable name " + quote_text(name));
      defaults[name] = kv.second;
    }
  }
  std::set<std::string> referenced;
  collect_references(base, referenced);
  if (root["variants"]) collect_references(root["variants"], referenced);

  struct Axis {
    std::string name;
    bool variable = false;
    YAML::Node key_node;
    std::vector<YAML::Node> values;
  };
  std::vector<Axis> axes;
  if (root["grid"]) {
    if (!root["grid"].IsMap())
      throw InputError(ctx.where(root["grid"]), "'grid' must be a map of dotted keys or variables to lists of values");
    for (const auto& kv : root["grid"]) {
      Axis axis{kv.first.Scalar(), false, kv.first, {}};
      if (!kv.second.IsSequence())
        throw InputError(ctx.where(kv.second),
                         "grid axis " + quote_text(axis.name) + " must be a list of values, got " + kind_of(kv.second));
      if (kv.second.size() == 0)
        throw InputError(ctx.where(kv.first), "grid axis " + quote_text(axis.name) + " has no values");
      for (const auto& v : kv.second) axis.values.push_back(v);
      axis.variable = defaults.count(axis.name) || referenced.count(axis.name);
      if (!axis.variable && axis.name.find_first_of("${}") != std::string::npos)
        throw InputError(ctx.where(kv.first), "bad grid axis " + quote_text(axis.name));
      axes.push_back(std::move(axis));
    }
  }
  std::set<std::string> defined;
  for (const auto& [name, value] : defaults) defined.insert(name);
  for (const auto& axis : axes)
    if (axis.variable) defined.insert(axis.name);
  check_variables(base, defined, base_is_file ? base_ctx : ctx);
  for (const auto& [name, value] : defaults) check_variables(value, {}, ctx);
  for (const auto& axis : axes)
    for (const auto& v : axis.values) check_variables(v, {}, ctx);

  // Variants: name -> dotted overrides.
  std::vector<std::pair<std::string, std::vector<Override>>> variants;
  if (root["variants"]) {
    if (!root["variants"].IsMap())
      throw InputError(ctx.where(root["variants"]), "'variants' must be a map of names to maps of dotted overrides");
    check_variables(root["variants"], defined, ctx);
    for (const auto& kv : root["variants"]) {
      const std::string name = kv.first.Scalar();
      if (!safe_name(name))
        throw InputError(ctx.where(kv.first), "the variant name " + quote_text(name) +
                                                  " must be 1-200 printable characters without '/' or '='");
      std::vector<Override> overrides;
      if (kv.second.IsMap()) {
        for (const auto& o : kv.second) overrides.push_back({o.first.Scalar(), o.second, o.first});
      } else if (!kv.second.IsNull()) {
        throw InputError(ctx.where(kv.second), "variant " + quote_text(name) +
                                                   " must be a map of dotted keys to values ({} for the base itself)");
      }
      variants.emplace_back(name, std::move(overrides));
    }
  } else {
    variants.emplace_back("base", std::vector<Override>{});
  }
  // The baseline the statistics compare every variant with: named, or the first variant.
  if (variants.empty()) throw InputError(ctx.where(root["variants"]), "'variants' names no variant");
  plan.baseline = variants.front().first;
  if (root["baseline"]) {
    const auto& b = root["baseline"];
    if (!b.IsScalar()) throw InputError(ctx.where(b), "'baseline' must name a variant");
    if (std::none_of(variants.begin(), variants.end(), [&](const auto& v) { return v.first == b.Scalar(); })) {
      std::string names;
      for (const auto& v : variants) names += (names.empty() ? "" : ", ") + v.first;
      throw InputError(ctx.where(b),
                       "baseline " + quote_text(b.Scalar()) + " is not a variant (variants: " + names + ")");
    }
    plan.baseline = b.Scalar();
  }

  std::size_t total = variants.size() * static_cast<std::size_t>(plan.seeds);
  for (const auto& axis : axes) {
    total *= axis.values.size();
    if (total > max_runs) break;
  }
  if (total > max_runs)
    throw InputError(ctx.where(root), "the study expands to more than " + std::to_string(max_runs) + " runs");

  std::vector<std::size_t> axis_order(axes.size());
  for (std::size_t i = 0; i < axes.size(); ++i) axis_order[i] = i;
  std::sort(axis_order.begin(), axis_order.end(),
            [&](std::size_t a, std::size_t b) { return axes[a].name < axes[b].name; });

  std::size_t points = 1;
  for (const auto& axis : axes) points *= axis.values.size();
  std::vector<std::size_t> pick(axes.size(), 0);
  for (std::size_t v = 0; v < variants.size(); ++v) {
    for (std::size_t point = 0; point < points; ++point) {
      // Row-major: the last axis fastest.
      for (std::size_t a = axes.size(), rest = point; a-- > 0;) {
        pick[a] = rest % axes[a].values.size();
        rest /= axes[a].values.size();
      }
      std::map<std::string, YAML::Node> vars = defaults;
      std::vector<Override> overrides = variants[v].second;
      nlohmann::json grid = nlohmann::json::object();
      std::string grid_key;
      for (std::size_t a = 0; a < axes.size(); ++a) {
        const auto& value = axes[a].values[pick[a]];
        if (axes[a].variable)
          vars[axes[a].name] = value;
        else
          overrides.push_back({axes[a].name, value, axes[a].key_node});
        grid[axes[a].name] = to_json(value);
      }
      for (auto a : axis_order) grid_key += "/" + axes[a].name + "=" + flow_text(axes[a].values[pick[a]]);

      bool changed = false;
      YAML::Node run_base = substitute(base, vars, changed);
      std::string run_text = changed || !base_is_file ? "" : base_text;
      if (run_text.empty()) {
        YAML::Emitter out;
        out << run_base;
        run_text = out.c_str();
      }
      std::vector<std::string> options;
      nlohmann::json override_json = nlohmann::json::object();
      for (const auto& o : overrides) {
        bool unused = false;
        YAML::Node value = substitute(o.value, vars, unused);
        options.push_back(o.key + "=" + value_text(value));
        override_json[o.key] = to_json(value);
      }
      for (std::int64_t s = 0; s < plan.seeds; ++s) {
        PlannedRun run;
        run.variant = variants[v].first;
        run.key = run.variant + grid_key + "/seed=" + std::to_string(s);
        run.grid = grid;
        run.overrides = override_json;
        run.seed_index = s;
        run.seed = derive_seed(plan.seed, run.key);
        if (s == 0) {
          try {
            run.spec = parse_run_spec(run_text, base_source, options, registry, base_dir);
          } catch (const InputError& e) {
            // Point at what broke the run: an override (variant or grid), else the base.
            const std::string run_name = "run " + quote_text(run.key, 200) + ": ";
            auto blame_override = [&](std::size_t i, const InputError& error) {
              throw InputError(ctx.where(overrides[i].origin), run_name + overrides[i].key + ": " + error.problem());
            };
            for (std::size_t i = 0; i < overrides.size(); ++i)
              if (e.where() == "--set " + options[i]) blame_override(i, e);
            // The first override after which the spec no longer parses.
            for (std::size_t i = 0; i <= overrides.size(); ++i) {
              try {
                parse_run_spec(run_text, base_source, {options.begin(), options.begin() + i}, registry, base_dir);
              } catch (const InputError& partial) {
                if (i > 0) blame_override(i - 1, partial);
                break;
              }
            }
            if (base_is_file && !changed) throw InputError(e.where(), run_name + e.problem());
            throw InputError(base_is_file ? base_source : ctx.where(root["base"]),
                             run_name + "in the base (variables substituted): " + e.problem());
          }
        } else {
          run.spec = plan.runs.back().spec;
        }
        plan.runs.push_back(std::move(run));
      }
    }
  }
  std::set<std::string> keys;
  for (const auto& run : plan.runs)
    if (!keys.insert(run.key).second)
      throw InputError(ctx.where(root), "two runs have the same key " + quote_text(run.key, 200));

  plan.document = to_json(root);
  if (base_is_file) plan.document["base_spec"] = to_json(base);
  std::string all;
  for (const auto& run : plan.runs)
    all += run.key + "\n" + std::to_string(run.seed) + "\n" + run.spec.effective.dump() + "\n";
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a64(all)));
  plan.hash = hex;
  return plan;
}

StudyPlan load_study(const std::filesystem::path& file, const Registry& registry) {
  const std::string text = read_regular_file(file, "a study spec (YAML)", 16u << 20, "no study spec is that large");
  auto dir = file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
  return plan_study(text, file.string(), registry, dir.string());
}

}  // namespace gradlab::study
