// The checks validate_params (spec.cpp) makes of one parameter value, shared
// with the check of parameters a pretraining strategy builds in code
// (complete_params, run.cpp), so both refuse the same values with the same words.
#pragma once

#include <string>

#include "gradlab/params.hpp"

namespace gradlab {

// Whether x lies within the spec's bounds (NaN never does).
bool within_bounds(const ParamSpec& spec, double x);
// The bounds as text: "[0, inf]", "(0, 1]".
std::string bounds_text(const ParamSpec& spec);
// A choice's values as text: "a, b, c".
std::string choices_text(const ParamSpec& spec);

}  // namespace gradlab
