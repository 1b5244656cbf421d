/* The runtime CPU dispatch of fastbp's C kernels, written once for every file that uses it.
 * GCC's target_clones compiles a kernel for each listed instruction set and picks one when the
 * library loads (an ifunc, hence glibc); everything else gets the portable build. No kernel
 * relies on it for correctness, only for speed. */
#ifndef FASTBP_DISPATCH_H
#define FASTBP_DISPATCH_H

#if defined(_MSC_VER) && !defined(__clang__) && !defined(restrict)
#define restrict __restrict /* C99's keyword, under MSVC's name */
#endif

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && defined(__GLIBC__) && __GNUC__ >= 12
#define FBP_DISPATCH 1
#define FBP_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FBP_DISPATCH 0
#define FBP_CLONES
#endif

/* Helpers are inlined into each dispatched kernel, so they get its instruction set. */
#if defined(__GNUC__)
#define FBP_INLINE static inline __attribute__((always_inline))
#else
#define FBP_INLINE static inline
#endif

#endif
