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

// The matrix-product backend (gradlab/gemm.hpp; CMake option GRADLAB_GEMM_BACKEND):
// results differ in rounding between backends, so a plugin and its host agree on it.
#if defined(GRADLAB_GEMM_BLAS) && GRADLAB_GEMM_BLAS
#define GRADLAB_ABI_GEMM "openblas"
#else
#define GRADLAB_ABI_GEMM "eigen"
#endif

// clang-format off
#define GRADLAB_ABI_TAG                                                                              \
  GRADLAB_ABI_COMPILER ";" GRADLAB_ABI_STDLIB                                                        \
  ";eigen-" GRADLAB_ABI_STR(EIGEN_WORLD_VERSION) "." GRADLAB_ABI_STR(EIGEN_MAJOR_VERSION) "."        \
      GRADLAB_ABI_STR(EIGEN_MINOR_VERSION)                                                           \
  ";scalar-" GRADLAB_SCALAR_NAME ";align-" GRADLAB_ABI_STR(EIGEN_MAX_ALIGN_BYTES)                    \
  ";gemm-" GRADLAB_ABI_GEMM
// clang-format on

namespace gradlab {
inline constexpr const char* abi_tag = GRADLAB_ABI_TAG;
}  // namespace gradlab
