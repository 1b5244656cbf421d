/* Monotonic seconds, for the time budget checked inside the compiled training loop. */
#ifndef FASTBP_CLOCK_H
#define FASTBP_CLOCK_H

#if defined(_WIN32)
#include <windows.h>
static inline double fbp_monotonic_seconds(void)
{
    LARGE_INTEGER frequency, now;
    QueryPerformanceFrequency(&frequency);
    QueryPerformanceCounter(&now);
    return (double)now.QuadPart / (double)frequency.QuadPart;
}
#else
#include <time.h>
static inline double fbp_monotonic_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}
#endif

#endif
