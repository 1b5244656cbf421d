/* The level the dispatched kernels run at (see fastbp_dispatch.h): the CPU's best, unless the
 * environment variable FASTBP_DISPATCH=avx512|avx2|baseline asks for a lower one. Compiled
 * into each extension that has dispatched kernels; each reads the variable once, when its
 * resolvers run (at load: before any kernel runs, so one process never mixes levels). */
#include <stdlib.h>
#include <string.h>

#include "fastbp_dispatch.h"

#if FBP_DISPATCH
/* The first read is stored; resolvers may run in several threads at once (lazy binding),
 * each computing the same value. */
#define FBP_LOAD(p) __atomic_load_n(p, __ATOMIC_RELAXED)
#define FBP_STORE(p, v) __atomic_store_n(p, v, __ATOMIC_RELAXED)
#else
#define FBP_LOAD(p) (*(p))
#define FBP_STORE(p, v) (*(p) = (v))
#endif

#define FBP_NOT_READ (-3)

static int requested = FBP_NOT_READ;

int fbp_dispatch_requested(void)
{
    int value = FBP_LOAD(&requested);
    if (value == FBP_NOT_READ) {
        const char *env = getenv("FASTBP_DISPATCH");
        if (env == NULL || env[0] == '\0')
            value = FBP_LEVEL_UNSET;
        else if (strcmp(env, "avx512") == 0)
            value = FBP_LEVEL_AVX512;
        else if (strcmp(env, "avx2") == 0)
            value = FBP_LEVEL_AVX2;
        else if (strcmp(env, "baseline") == 0)
            value = FBP_LEVEL_BASELINE;
        else
            value = FBP_LEVEL_INVALID; /* runs the CPU's best; fastbp's import refuses it */
        FBP_STORE(&requested, value);
    }
    return value;
}

int fbp_dispatch_cpu_level(void)
{
#if FBP_DISPATCH
    /* the instruction sets of target("arch=x86-64-v4") and ("arch=x86-64-v3") */
    __builtin_cpu_init(); /* (idempotent; needed before constructors have run) */
    if (__builtin_cpu_supports("x86-64-v4")) return FBP_LEVEL_AVX512;
    if (__builtin_cpu_supports("x86-64-v3")) return FBP_LEVEL_AVX2;
    return FBP_LEVEL_BASELINE;
#else
    return -1;
#endif
}

int fbp_dispatch_level(void)
{
    const int cpu = fbp_dispatch_cpu_level(), asked = fbp_dispatch_requested();
    return asked >= 0 && asked < cpu ? asked : cpu; /* never above what the CPU has */
}
