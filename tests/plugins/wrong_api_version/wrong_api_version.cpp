// Test-only plugin from a "future" SDK: its PluginInfo carries another API
// version. The host must refuse it after reading api_version alone, before it
// calls the registration function (which would fail the test if called).
#include <cstdlib>
#include <gradlab/sdk.hpp>

namespace {

void register_never(gradlab::Registrar&) { std::abort(); }

const gradlab::PluginInfo* entry() {
  static const gradlab::PluginInfo info{gradlab::plugin_api_version + 998,
                                        gradlab::abi_tag,
                                        "wrong_api_version",
                                        "1.0.0",
                                        "Test plugin built against another plugin API version",
                                        register_never};
  return &info;
}

}  // namespace

BOOST_DLL_ALIAS(entry, gradlab_plugin)
