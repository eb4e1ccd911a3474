/* A small test harness: checks count failures instead of aborting, so one run reports every
 * broken check; each test program ends with a "N passed, N failed" line. */
#ifndef SN_TEST_H
#define SN_TEST_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern int sn_test_passed, sn_test_failed;

void sn_test_report(int ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prints the summary line and returns the process exit status. */
int sn_test_finish(void);
/* Exit status 77 (CTest "skipped") with a reason. */
_Noreturn void sn_test_skip(const char *why);
/* Relative-or-absolute closeness used by the numeric checks. */
int sn_test_close(double got, double want, double rtol, double atol);
/* Largest |a-b| / (atol + rtol*|b|) over n values; <= 1 means all close. */
double sn_test_worst(const float *a, const float *b, size_t n, double rtol, double atol,
                     size_t *where);

/* Test data: xorshift64, uniform in [-1, 1). Each program keeps its own state, so its data stay
 * the same whatever other programs draw. */
float sn_test_frand(uint64_t *state);
/* Sum of a[i] * b[i] in double (adjoint checks). */
double sn_test_dot(const float *a, const float *b, size_t n);

#define EXPECT(cond) sn_test_report(!!(cond), __FILE__, __LINE__, "%s", #cond)
#define EXPECT_MSG(cond, ...) sn_test_report(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define EXPECT_NEAR(got, want, tol)                                                          \
    do {                                                                                     \
        double g_ = (got), w_ = (want);                                                      \
        sn_test_report(fabs(g_ - w_) <= (tol), __FILE__, __LINE__, "%s = %.9g, want %.9g (tol %g)", \
                       #got, g_, w_, (double)(tol));                                         \
    } while (0)
#define EXPECT_ALLCLOSE(a, b, n, rtol, atol, what)                                           \
    do {                                                                                     \
        size_t at_ = 0;                                                                      \
        double w_ = sn_test_worst((a), (b), (n), (rtol), (atol), &at_);                      \
        sn_test_report(w_ <= 1.0, __FILE__, __LINE__, "%s: worst at %zu: %.9g vs %.9g (ratio %.3g)", \
                       (what), at_, (double)(a)[at_], (double)(b)[at_], w_);                 \
    } while (0)

#endif
