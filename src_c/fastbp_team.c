/* fastbp's own matrix kernels on several threads: see fastbp_team.h. */
#include "fastbp_team.h"

#include "fastbp_gemm.h"

/* Tile sizes of both kernels (fastbp_gemm.c, fastbp_gemm_packed.c): parts are whole tiles. */
#define SPLIT_ROWS 6
#define SPLIT_COLS 64

static ptrdiff_t tiles(ptrdiff_t size, ptrdiff_t tile) { return (size + tile - 1) / tile; }

void fbp_team_split(ptrdiff_t m, ptrdiff_t n, int part, int parts, ptrdiff_t *row0,
                    ptrdiff_t *row1, ptrdiff_t *col0, ptrdiff_t *col1)
{
    /* Work counted in tiles of 6 rows × 16 columns (one vector): the largest part's, split
     * either way; rows when that is no worse. */
    ptrdiff_t row_tiles = tiles(m, SPLIT_ROWS), col_tiles = tiles(n, SPLIT_COLS);
    ptrdiff_t vectors = tiles(n, 16);
    ptrdiff_t by_rows = tiles(row_tiles, parts) * vectors;
    ptrdiff_t part_vectors = tiles(col_tiles, parts) * (SPLIT_COLS / 16);
    ptrdiff_t by_cols = row_tiles * (part_vectors < vectors ? part_vectors : vectors);
    *row0 = 0, *row1 = m, *col0 = 0, *col1 = n;
    if (by_rows <= by_cols) {
        *row0 = row_tiles * part / parts * SPLIT_ROWS;
        *row1 = row_tiles * (part + 1) / parts * SPLIT_ROWS;
        if (*row1 > m) *row1 = m;
        if (*row0 > m) *row0 = m;
    } else {
        *col0 = col_tiles * part / parts * SPLIT_COLS;
        *col1 = col_tiles * (part + 1) / parts * SPLIT_COLS;
        if (*col1 > n) *col1 = n;
        if (*col0 > n) *col0 = n;
    }
}

/* One product, as the team's threads see it. */
typedef struct {
    int packed;
    ptrdiff_t m, n, k;
    float alpha, beta;
    const float *A, *B;
    ptrdiff_t a_rs, a_cs, b_rs, b_cs, ldc;
    float *C, *work;
} gemm_job;

static void run_part(const gemm_job *job, int part, int parts)
{
    ptrdiff_t row0, row1, col0, col1;
    fbp_team_split(job->m, job->n, part, parts, &row0, &row1, &col0, &col1);
    if (row0 >= row1 || col0 >= col1) return;
    if (job->packed)
        fbp_sgemm_packed(row1 - row0, col1 - col0, job->k, job->alpha, job->A + row0 * job->a_rs,
                         job->a_rs, job->a_cs, job->B + col0 * job->b_cs, job->b_rs, job->b_cs,
                         job->beta, job->C + row0 * job->ldc + col0, job->ldc,
                         job->work + (size_t)part * fbp_sgemm_packed_work());
    else
        fbp_sgemm(row1 - row0, col1 - col0, job->k, job->alpha, job->A + row0 * job->a_rs,
                  job->a_rs, job->a_cs, job->B + col0, job->b_rs, job->beta,
                  job->C + row0 * job->ldc + col0, job->ldc);
}

#if defined(_WIN32) || !(defined(__GNUC__) || defined(__clang__))

/* No team here: every product on the calling thread. */
fbp_team *fbp_team_start(int n_threads)
{
    (void)n_threads;
    return NULL;
}
void fbp_team_stop(fbp_team *team) { (void)team; }
int fbp_team_size(const fbp_team *team)
{
    (void)team;
    return 1;
}
static void team_run(fbp_team *team, const gemm_job *job)
{
    (void)team;
    run_part(job, 0, 1);
}

#else

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
typedef unsigned int fpmode_t;
static fpmode_t get_fpmode(void) { return _mm_getcsr(); }
static void set_fpmode(fpmode_t mode) { _mm_setcsr(mode); }
static void cpu_relax(void) { _mm_pause(); }
#elif defined(__aarch64__)
typedef unsigned long fpmode_t;
static fpmode_t get_fpmode(void)
{
    fpmode_t mode;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(mode));
    return mode;
}
static void set_fpmode(fpmode_t mode) { __asm__ __volatile__("msr fpcr, %0" : : "r"(mode)); }
static void cpu_relax(void) { __asm__ __volatile__("yield"); }
#else
typedef int fpmode_t;
static fpmode_t get_fpmode(void) { return 0; }
static void set_fpmode(fpmode_t mode) { (void)mode; }
static void cpu_relax(void) {}
#endif

/* How long a worker spins for the next product before it sleeps: ~0.1–0.5 ms of pauses,
 * longer than the gaps between a batch's products (the activations, the loss, the next
 * batch's rows), shorter than anything a user would see as a busy core. */
#ifndef WORKER_SPINS /* (-DWORKER_SPINS=0: every wake through the condition variable) */
#define WORKER_SPINS (1 << 12)
#endif
/* How long the caller spins for the parts in progress before it yields its core. */
#define CALLER_SPINS (1 << 12)

/* Parts are claimed, not assigned: a thread takes the next part left (one atomic word: the
 * job's part count in the high half, the next part in the low half, so that a worker late
 * for a job finds it exhausted instead of reading the next one's half-written fields). A
 * worker the system has not scheduled yet then leaves its part to the caller, which computes
 * it itself: on a busy machine two threads run about as fast as one, not slower. */
#define CLAIM_PARTS(word) ((int)((word) >> 32))
#define CLAIM_NEXT(word) ((int)((word) & 0xFFFFFFFFu))

struct fbp_team {
    int size;
    pthread_t *threads;
    gemm_job job;        /* written by the caller before `claim` is reset */
    fpmode_t fpmode;     /* the caller's floating-point mode for this job */
    unsigned long long claim; /* parts << 32 | next part to claim; atomic */
    int finished;        /* parts of the current job computed; atomic */
    unsigned generation; /* advanced for each job (and to stop): wakes the workers; atomic */
    int sleeping;        /* workers asleep on `wake`; atomic */
    int stop;            /* the workers are to exit */
    pthread_mutex_t lock;
    pthread_cond_t wake;
};

/* Claim and compute parts of the current job until none is left. */
static void run_parts(fbp_team *team, int in_worker)
{
    for (;;) {
        unsigned long long word = __atomic_fetch_add(&team->claim, 1, __ATOMIC_ACQ_REL);
        int part = CLAIM_NEXT(word), parts = CLAIM_PARTS(word);
        if (part >= parts) return;
        if (in_worker && get_fpmode() != team->fpmode) set_fpmode(team->fpmode);
        run_part(&team->job, part, parts);
        __atomic_add_fetch(&team->finished, 1, __ATOMIC_RELEASE);
    }
}

static void *worker_main(void *arg)
{
    fbp_team *team = arg;
    unsigned seen = 0, generation;
    for (;;) {
        int spins = WORKER_SPINS;
        while ((generation = __atomic_load_n(&team->generation, __ATOMIC_ACQUIRE)) == seen &&
               spins-- > 0)
            cpu_relax();
        if (generation == seen) {
            /* Asleep: counted in `sleeping` before the generation is read again (both
             * sequentially consistent, so the caller either sees this worker asleep and
             * wakes it, or this worker sees the new generation). */
            pthread_mutex_lock(&team->lock);
            __atomic_add_fetch(&team->sleeping, 1, __ATOMIC_SEQ_CST);
            while ((generation = __atomic_load_n(&team->generation, __ATOMIC_SEQ_CST)) == seen)
                pthread_cond_wait(&team->wake, &team->lock);
            __atomic_sub_fetch(&team->sleeping, 1, __ATOMIC_SEQ_CST);
            pthread_mutex_unlock(&team->lock);
        }
        seen = generation;
        if (__atomic_load_n(&team->stop, __ATOMIC_ACQUIRE)) break;
        run_parts(team, 1);
    }
    return NULL;
}

static void team_run(fbp_team *team, const gemm_job *job)
{
    int spins = CALLER_SPINS, parts;
    if (team == NULL) {
        run_part(job, 0, 1);
        return;
    }
    parts = team->size;
    team->job = *job;
    team->fpmode = get_fpmode();
    __atomic_store_n(&team->finished, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&team->claim, (unsigned long long)parts << 32, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&team->generation, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&team->sleeping, __ATOMIC_SEQ_CST) > 0) {
        pthread_mutex_lock(&team->lock);
        pthread_cond_broadcast(&team->wake);
        pthread_mutex_unlock(&team->lock);
    }
    run_parts(team, 0);
    while (__atomic_load_n(&team->finished, __ATOMIC_ACQUIRE) != parts) {
        if (spins > 0) {
            --spins;
            cpu_relax();
        } else {
            sched_yield();
        }
    }
}

static void join_workers(fbp_team *team, int started)
{
    int i;
    __atomic_store_n(&team->stop, 1, __ATOMIC_RELEASE);
    __atomic_add_fetch(&team->generation, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&team->lock);
    pthread_cond_broadcast(&team->wake);
    pthread_mutex_unlock(&team->lock);
    for (i = 0; i < started; ++i) pthread_join(team->threads[i], NULL);
}

fbp_team *fbp_team_start(int n_threads)
{
    fbp_team *team;
    sigset_t all, saved;
    int i, started = 0;
    if (n_threads < 2) return NULL;
    team = calloc(1, sizeof *team);
    if (team == NULL) return NULL;
    team->size = n_threads;
    team->threads = calloc((size_t)n_threads - 1, sizeof *team->threads);
    if (team->threads == NULL || pthread_mutex_init(&team->lock, NULL)) {
        free(team->threads);
        free(team);
        return NULL;
    }
    pthread_cond_init(&team->wake, NULL);
    /* Workers take no asynchronous signals: Ctrl-C reaches the thread that runs Python's
     * handlers. (A fault's signal stays open, for faulthandler and the sanitizers.) */
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    sigdelset(&all, SIGABRT);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    for (i = 0; i < n_threads - 1; ++i) {
        if (pthread_create(&team->threads[i], NULL, worker_main, team)) break;
        ++started;
    }
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (started < n_threads - 1) {
        join_workers(team, started);
        pthread_cond_destroy(&team->wake);
        pthread_mutex_destroy(&team->lock);
        free(team->threads);
        free(team);
        return NULL;
    }
    return team;
}

void fbp_team_stop(fbp_team *team)
{
    if (team == NULL) return;
    join_workers(team, team->size - 1);
    pthread_cond_destroy(&team->wake);
    pthread_mutex_destroy(&team->lock);
    free(team->threads);
    free(team);
}

int fbp_team_size(const fbp_team *team) { return team == NULL ? 1 : team->size; }

#endif

void fbp_sgemm_team(fbp_team *team, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                    const float *A, ptrdiff_t a_rs, ptrdiff_t a_cs, const float *B,
                    ptrdiff_t ldb, float beta, float *C, ptrdiff_t ldc)
{
    gemm_job job = {0, m, n, k, alpha, beta, A, B, a_rs, a_cs, ldb, 1, ldc, C, NULL};
    if (m <= 0 || n <= 0) return;
    team_run(team, &job);
}

void fbp_sgemm_packed_team(fbp_team *team, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
                           const float *A, ptrdiff_t a_rs, ptrdiff_t a_cs, const float *B,
                           ptrdiff_t b_rs, ptrdiff_t b_cs, float beta, float *C, ptrdiff_t ldc,
                           float *work)
{
    gemm_job job = {1, m, n, k, alpha, beta, A, B, a_rs, a_cs, b_rs, b_cs, ldc, C, work};
    if (m <= 0 || n <= 0) return;
    team_run(team, &job);
}
