// The ABI tag: everything that must agree between the host and a plugin for
// C++ objects (std::string, std::function, Eigen matrices) to cross the library
// boundary safely. Computed separately in each translation unit from its own
// compiler macros, so a plugin built with another compiler, standard library,
// Eigen version, scalar type or vector alignment carries another tag.
#pragma once

#include <Eigen/Core>

#include "gradlab/types.hpp"

#define GRADLAB_ABI_STR_(x) #x
#define GRADLAB_ABI_STR(x) GRADLAB_ABI_STR_(x)

#if defined(__clang__)
#define GRADLAB_ABI_COMPILER "clang-" GRADLAB_ABI_STR(__clang_major__)
#elif defined(__GNUC__)
#define GRADLAB_ABI_COMPILER "gcc-" GRADLAB_ABI_STR(__GNUC__)
#elif defined(_MSC_VER)
#define GRADLAB_ABI_COMPILER "msvc-" GRADLAB_ABI_STR(_MSC_VER)
#else
#define GRADLAB_ABI_COMPILER "unknown"
#endif

#if defined(_GLIBCXX_RELEASE)
#define GRADLAB_ABI_STDLIB \
  "libstdc++-" GRADLAB_ABI_STR(_GLIBCXX_RELEASE) "-cxx11abi" GRADLAB_ABI_STR(_GLIBCXX_USE_CXX11_ABI)
#elif defined(_LIBCPP_VERSION)
#define GRADLAB_ABI_STDLIB "libc++-" GRADLAB_ABI_STR(_LIBCPP_VERSION)
#else
#define GRADLAB_ABI_STDLIB "stdlib-unknown"
#endif

// libstdc++'s debug mode changes the layout of every std container (Params
// holds a std::map, factories take std::vector); its assertions mode keeps
// the layout but not the inline code both sides must agree on.
#if defined(_GLIBCXX_DEBUG)
#define GRADLAB_ABI_STDLIB_CHECKS ";glibcxx-debug"
#elif defined(_GLIBCXX_ASSERTIONS)
#define GRADLAB_ABI_STDLIB_CHECKS ";glibcxx-assertions"
#else
#define GRADLAB_ABI_STDLIB_CHECKS ""
#endif

// The matrix-product backend (gradlab/gemm.hpp; CMake option GRADLAB_GEMM_BACKEND):
// results differ in rounding between backends, so a plugin and its host agree on it.
#if defined(GRADLAB_GEMM_BLAS) && GRADLAB_GEMM_BLAS
#define GRADLAB_ABI_GEMM "openblas"
#else
#define GRADLAB_ABI_GEMM "eigen"
#endif

// Eigen's index type is the type of every size and offset crossing the
// boundary (Index, Shape, the Map views).
// clang-format off
#define GRADLAB_ABI_TAG                                                                              \
  GRADLAB_ABI_COMPILER ";" GRADLAB_ABI_STDLIB GRADLAB_ABI_STDLIB_CHECKS                              \
  ";eigen-" GRADLAB_ABI_STR(EIGEN_WORLD_VERSION) "." GRADLAB_ABI_STR(EIGEN_MAJOR_VERSION) "."        \
      GRADLAB_ABI_STR(EIGEN_MINOR_VERSION)                                                           \
  ";index-" GRADLAB_ABI_STR(EIGEN_DEFAULT_DENSE_INDEX_TYPE)                                          \
  ";scalar-" GRADLAB_SCALAR_NAME ";align-" GRADLAB_ABI_STR(EIGEN_MAX_ALIGN_BYTES)                    \
  ";gemm-" GRADLAB_ABI_GEMM
// clang-format on

namespace gradlab {
inline constexpr const char* abi_tag = GRADLAB_ABI_TAG;
}  // namespace gradlab
