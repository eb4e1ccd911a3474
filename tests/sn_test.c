#include "sn_test.h"

#include <stdarg.h>
#include <stdlib.h>

int sn_test_passed, sn_test_failed;

void sn_test_report(int ok, const char *file, int line, const char *fmt, ...)
{
    if (ok) {
        sn_test_passed++;
        return;
    }
    sn_test_failed++;
    va_list ap;
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int sn_test_finish(void)
{
    printf("%d passed, %d failed\n", sn_test_passed, sn_test_failed);
    return sn_test_failed == 0 && sn_test_passed > 0 ? 0 : 1;
}

_Noreturn void sn_test_skip(const char *why)
{
    printf("skipped: %s\n", why);
    exit(77);
}

int sn_test_close(double got, double want, double rtol, double atol)
{
    return fabs(got - want) <= atol + rtol * fabs(want);
}

double sn_test_worst(const float *a, const float *b, size_t n, double rtol, double atol,
                     size_t *where)
{
    double worst = 0.0;
    *where = 0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs((double)a[i] - b[i]) / (atol + rtol * fabs((double)b[i]));
        if (!(r <= worst)) { /* also catches NaN */
            worst = isnan(r) ? INFINITY : r;
            *where = i;
            if (isinf(worst))
                break;
        }
    }
    return worst;
}

float sn_test_frand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return (float)((x >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

double sn_test_dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}
