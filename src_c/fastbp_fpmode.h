/* Subnormal numbers flushed to zero for the duration of one compiled call, on the calling thread.
 *
 * Weights that only the L2 penalty moves (inputs that are always 0, e.g. digits' blank pixels)
 * decay geometrically into subnormal numbers, and every product touching them then takes the
 * CPU's slow path (digits with Adam and alpha = 1e-4 trained 3-4x slower). With FTZ (results
 * that would be subnormal become 0) and DAZ (subnormal inputs read as 0) set, such a weight
 * reaches 0 instead. The caller's mode is saved and put back: Python, numpy and other threads
 * keep IEEE behaviour. BLAS worker threads (n_threads > 1) run in their own mode.
 */
#ifndef FASTBP_FPMODE_H
#define FASTBP_FPMODE_H

#if defined(__x86_64__) || defined(_M_X64) || (defined(__i386__) && defined(__SSE__))
#include <xmmintrin.h>
typedef unsigned int fbp_fpmode;
#define FBP_FTZ_DAZ 0x8040u /* MXCSR bit 15 (flush to zero) and bit 6 (denormals are zero) */
static inline fbp_fpmode fbp_flush_subnormals(void)
{
    fbp_fpmode saved = _mm_getcsr();
    _mm_setcsr(saved | FBP_FTZ_DAZ);
    return saved;
}
static inline void fbp_restore_fpmode(fbp_fpmode saved) { _mm_setcsr(saved); }
#elif defined(__aarch64__)
typedef unsigned long fbp_fpmode;
static inline fbp_fpmode fbp_flush_subnormals(void)
{
    fbp_fpmode saved;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(saved));
    __asm__ __volatile__("msr fpcr, %0" : : "r"(saved | (1UL << 24))); /* FPCR.FZ */
    return saved;
}
static inline void fbp_restore_fpmode(fbp_fpmode saved)
{
    __asm__ __volatile__("msr fpcr, %0" : : "r"(saved));
}
#else /* elsewhere IEEE arithmetic throughout: correct, only slower on subnormal values */
typedef int fbp_fpmode;
static inline fbp_fpmode fbp_flush_subnormals(void) { return 0; }
static inline void fbp_restore_fpmode(fbp_fpmode saved) { (void)saved; }
#endif

#endif
