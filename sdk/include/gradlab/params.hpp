// Parameter schemas and validated parameter values.
//
// Every component declares its parameters once, as a Schema. The host derives
// from it the validation of run specs (unknown keys, wrong types, bounds),
// `gradlab plugins show NAME`, and the provenance stored with every result.
// A factory receives a Params whose values have already been validated and
// completed with defaults, so plugin code reads them without checking.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace gradlab {

enum class ParamType { boolean, integer, real, string, choice };

inline const char* to_string(ParamType type) {
  switch (type) {
    case ParamType::boolean: return "bool";
    case ParamType::integer: return "int";
    case ParamType::real: return "real";
    case ParamType::string: return "string";
    case ParamType::choice: return "choice";
  }
  return "?";
}

using ParamValue = std::variant<bool, std::int64_t, double, std::string>;

// One parameter: name, type, default (none = required), inclusive bounds for
// numbers, allowed values for a choice, and a one-line doc.
struct ParamSpec {
  std::string name;
  ParamType type = ParamType::real;
  std::optional<ParamValue> default_value;
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_exclusive = false;
  std::vector<std::string> choices;
  std::string doc;

  // Fluent builders: ParamSpec::real("lr", 0.01).positive().describe("step size").
  static ParamSpec real(std::string name, std::optional<double> def = std::nullopt) {
    ParamSpec s;
    s.name = std::move(name);
    s.type = ParamType::real;
    if (def) s.default_value = *def;
    return s;
  }
  static ParamSpec integer(std::string name, std::optional<std::int64_t> def = std::nullopt) {
    ParamSpec s;
    s.name = std::move(name);
    s.type = ParamType::integer;
    if (def) s.default_value = *def;
    return s;
  }
  static ParamSpec boolean(std::string name, bool def) {
    ParamSpec s;
    s.name = std::move(name);
    s.type = ParamType::boolean;
    s.default_value = def;
    return s;
  }
  static ParamSpec string(std::string name, std::optional<std::string> def = std::nullopt) {
    ParamSpec s;
    s.name = std::move(name);
    s.type = ParamType::string;
    if (def) s.default_value = *def;
    return s;
  }
  static ParamSpec choice(std::string name, std::string def, std::vector<std::string> values) {
    ParamSpec s;
    s.name = std::move(name);
    s.type = ParamType::choice;
    s.default_value = std::move(def);
    s.choices = std::move(values);
    return s;
  }
  ParamSpec&& at_least(double v) && {
    min = v;
    return std::move(*this);
  }
  ParamSpec&& at_most(double v) && {
    max = v;
    return std::move(*this);
  }
  ParamSpec&& positive() && {
    min = 0;
    min_exclusive = true;
    return std::move(*this);
  }
  ParamSpec&& describe(std::string text) && {
    doc = std::move(text);
    return std::move(*this);
  }
  bool required() const { return !default_value.has_value(); }
};

using Schema = std::vector<ParamSpec>;

// Validated values by name. Getters throw std::out_of_range for a name the
// schema does not declare: a plugin bug, not a user error.
class Params {
 public:
  Params() = default;
  explicit Params(std::map<std::string, ParamValue> values) : values_(std::move(values)) {}

  bool has(const std::string& name) const { return values_.count(name) != 0; }
  const ParamValue& get(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) throw std::out_of_range("gradlab::Params: no parameter '" + name + "'");
    return it->second;
  }
  double real(const std::string& name) const {
    const auto& v = get(name);
    if (auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
    return std::get<double>(v);
  }
  std::int64_t integer(const std::string& name) const { return std::get<std::int64_t>(get(name)); }
  bool boolean(const std::string& name) const { return std::get<bool>(get(name)); }
  const std::string& string(const std::string& name) const { return std::get<std::string>(get(name)); }

  void set(const std::string& name, ParamValue value) { values_[name] = std::move(value); }
  const std::map<std::string, ParamValue>& values() const { return values_; }

 private:
  std::map<std::string, ParamValue> values_;
};

}  // namespace gradlab
