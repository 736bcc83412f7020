// Test-only plugin built with -D_GLIBCXX_ASSERTIONS: an ordinary initializer,
// but its ABI tag carries ";glibcxx-assertions", so a host built without it
// must refuse the library naming both tags, without calling its registration.
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

class Zeros final : public Initializer {
 public:
  void fill(RowMatrixMap w, Rng&, const InitSite&) const override { w.setZero(); }
};

void register_assertions_abi(Registrar& r) {
  r.add_initializer({"assertions_abi_zeros", "all-zero weights, built with _GLIBCXX_ASSERTIONS (test only)", {}},
                    [](const Params&) { return std::make_unique<Zeros>(); });
}

}  // namespace

GRADLAB_PLUGIN("assertions_abi", "1.0.0", "Test-only initializer built with libstdc++ assertions",
               register_assertions_abi)
