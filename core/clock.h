/*
 * clock: the clocks every berth program reads. The monotonic clock measures
 * time (time-outs, back-off, latencies); the wall clock, which jumps, only
 * stamps what is stored or compared with other hosts (row times, Docker's
 * event timeNano).
 */
#ifndef BERTH_CLOCK_H
#define BERTH_CLOCK_H

#include <stdint.h>

int64_t clock_mono_ms(void);
int64_t clock_mono_us(void);
int64_t clock_real_ms(void); /* Unix time */
int64_t clock_real_ns(void);

#endif
