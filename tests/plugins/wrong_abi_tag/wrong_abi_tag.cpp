// Test-only plugin that claims another compiler / standard library / scalar:
// the host must refuse it naming both tags, without calling its registration.
#include <cstdlib>
#include <gradlab/sdk.hpp>

namespace {

void register_never(gradlab::Registrar&) { std::abort(); }

const gradlab::PluginInfo* entry() {
  static const gradlab::PluginInfo info{gradlab::plugin_api_version,
                                        "msvc-1900;msvcprt;eigen-3.2.0;scalar-double;align-64",
                                        "wrong_abi_tag",
                                        "1.0.0",
                                        "Test plugin built with an incompatible toolchain",
                                        register_never};
  return &info;
}

}  // namespace

BOOST_DLL_ALIAS(entry, gradlab_plugin)
