/*
 * clock: the monotonic clock every berth program measures time with
 * (time-outs, back-off, latencies); never the wall clock, which jumps.
 */
#ifndef BERTH_CLOCK_H
#define BERTH_CLOCK_H

#include <stdint.h>

int64_t clock_mono_ms(void);
int64_t clock_mono_us(void);

#endif
