/* The runtime CPU dispatch of fastbp's C kernels, written once for every file that uses it.
 *
 * With GCC on x86-64 Linux (glibc), each dispatched kernel (marked FBP_CLONES, named through
 * FBP_LEVEL_NAME) is compiled three times, once per level: x86-64-v4 (AVX-512), x86-64-v3
 * (AVX2, FMA) and the baseline, each in its own translation unit (fastbp_X.c is the baseline
 * one and holds everything else; fastbp_X_avx512.c and fastbp_X_avx2.c define FBP_LEVEL and
 * include it), so that the three compile in parallel. The baseline unit's FBP_RESOLVE lines
 * make each kernel's public name an ifunc whose resolver, run when the library loads, picks
 * the best level the CPU has, or the level FASTBP_DISPATCH asks for if that is lower
 * (fbp_dispatch_level, fastbp_dispatch.c). Everything else gets the portable build. No kernel
 * relies on it for correctness, only for speed. */
#ifndef FASTBP_DISPATCH_H
#define FASTBP_DISPATCH_H

#include <stdlib.h> /* (defines __GLIBC__, tested below) */

#if defined(_MSC_VER) && !defined(__clang__) && !defined(restrict)
#define restrict __restrict /* C99's keyword, under MSVC's name */
#endif

/* The levels, in order: a level runs on every CPU that runs a higher one. */
#define FBP_LEVEL_BASELINE 0
#define FBP_LEVEL_AVX2 1
#define FBP_LEVEL_AVX512 2
/* fbp_dispatch_requested() when FASTBP_DISPATCH is unset or empty, or names no level */
#define FBP_LEVEL_UNSET (-1)
#define FBP_LEVEL_INVALID (-2)

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && defined(__GLIBC__) && __GNUC__ >= 12
#define FBP_DISPATCH 1
#else
#define FBP_DISPATCH 0
#endif

#ifndef FBP_LEVEL
#define FBP_LEVEL FBP_LEVEL_BASELINE
#define FBP_BASELINE_UNIT 1 /* this unit holds the undispatched functions and the resolvers */
#else
#define FBP_BASELINE_UNIT 0
#endif

/* Visible to the extension's own units only: a resolver runs while the library is being
 * relocated, so it may only call functions reached without the PLT (its own, hidden ones) or
 * through PLT slots already bound (libc's: the ifuncs' own IRELATIVE slots are bound last). */
#if defined(__GNUC__) && !defined(_WIN32)
#define FBP_HIDDEN __attribute__((visibility("hidden")))
#else
#define FBP_HIDDEN
#endif

/* The level kernels run at: FBP_LEVEL_* (the CPU's best, or FASTBP_DISPATCH's level if lower),
 * or -1 in a build without runtime dispatch. FASTBP_DISPATCH is read once, when first asked
 * (by the resolvers, at load). */
FBP_HIDDEN int fbp_dispatch_level(void);
/* FASTBP_DISPATCH as read then: a FBP_LEVEL_*, FBP_LEVEL_UNSET or FBP_LEVEL_INVALID. */
FBP_HIDDEN int fbp_dispatch_requested(void);
/* The best level this CPU has (-1 without runtime dispatch). */
FBP_HIDDEN int fbp_dispatch_cpu_level(void);

#if FBP_DISPATCH
#if FBP_LEVEL == FBP_LEVEL_AVX512
#define FBP_CLONES FBP_HIDDEN __attribute__((target("arch=x86-64-v4")))
#define FBP_LEVEL_SUFFIX _avx512
#elif FBP_LEVEL == FBP_LEVEL_AVX2
#define FBP_CLONES FBP_HIDDEN __attribute__((target("arch=x86-64-v3")))
#define FBP_LEVEL_SUFFIX _avx2
#else
#define FBP_CLONES FBP_HIDDEN
#define FBP_LEVEL_SUFFIX _baseline
#endif
#define FBP_LEVEL_NAME2(name, suffix) name##suffix
#define FBP_LEVEL_NAME1(name, suffix) FBP_LEVEL_NAME2(name, suffix)
/* A dispatched kernel's name in this unit: name_avx512, name_avx2 or name_baseline. */
#define FBP_LEVEL_NAME(name) FBP_LEVEL_NAME1(name, FBP_LEVEL_SUFFIX)

/* Makes `name` (declared in a header) the ifunc over its three levels; in the baseline unit,
 * once per dispatched kernel. */
#define FBP_RESOLVE(name) FBP_RESOLVE_NAMED(name) /* (name's macros expanded first) */
#define FBP_RESOLVE_NAMED(name)                                                              \
    extern FBP_HIDDEN __typeof__(name) name##_avx512, name##_avx2, name##_baseline;          \
    static __typeof__(name) *name##_resolver(void)                                           \
    {                                                                                        \
        const int level = fbp_dispatch_level();                                              \
        return level == FBP_LEVEL_AVX512 ? name##_avx512                                     \
               : level == FBP_LEVEL_AVX2 ? name##_avx2 : name##_baseline;                    \
    }                                                                                        \
    FBP_HIDDEN __typeof__(name) name __attribute__((ifunc(#name "_resolver")));
#else
#define FBP_CLONES
#define FBP_LEVEL_NAME(name) name
#define FBP_RESOLVE(name)
#endif

/* Helpers are inlined into each dispatched kernel, so they get its instruction set. */
#if defined(__GNUC__)
#define FBP_INLINE static inline __attribute__((always_inline))
#else
#define FBP_INLINE static inline
#endif

#endif
