// The one place the gradlab version and plugin API version live.
#pragma once

#include <cstdint>

#define GRADLAB_VERSION_MAJOR 0
#define GRADLAB_VERSION_MINOR 1
#define GRADLAB_VERSION_PATCH 0
#define GRADLAB_VERSION_STRING "0.1.0"

namespace gradlab {

// Bumped whenever an SDK interface, the PluginInfo struct or a factory signature
// changes in a way that makes an older plugin unsafe to call. The host refuses any
// plugin whose api_version differs.
// 2: DataContext::max_bytes. 3: sequences (Split::lengths, TargetAt,
// SuccessCriterion, ForwardContext::lengths and lag_probe, saturation's ctx).
// 4: pretraining (Model::clone, evaluate, gather, layer_gradients;
// PretrainContext streams, threads, record; PretrainStrategy::check).
// 5: schedules (Schedule, Registrar::add_schedule, StepInfo's epoch, progress
// and lr_scale), Optimizer::reset's parameter groups, InitSite for
// Initializer::fill and Layer::initialize, ForwardContext::rng.
inline constexpr std::uint32_t plugin_api_version = 5;

inline constexpr const char* version_string = GRADLAB_VERSION_STRING;

}  // namespace gradlab
