/*
 * Times 10,000 repetitions of the same L1-resident floating-point loop on one core and prints
 * percentiles of their durations. Nothing in it varies between repetitions, so the spread is the
 * machine's: frequency changes, interrupts, and time taken by the hypervisor or its neighbours.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define REPEATS 10000
#define VALUES 8192

static double
now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int
compare(const void *x, const void *y)
{
	double		a = *(const double *) x;
	double		b = *(const double *) y;

	return (a > b) - (a < b);
}

int
main(void)
{
	static float values[VALUES];
	static double durations[REPEATS];
	static double sorted[REPEATS];
	volatile float sink = 0;
	int			slow = 0;

	for (int i = 0; i < VALUES; i++)
		values[i] = i * 1e-4f;
	for (int r = 0; r < REPEATS; r++)
	{
		double		started = now_ms();
		float		s0 = 0, s1 = 0, s2 = 0, s3 = 0;

		for (int pass = 0; pass < 120; pass++)
			for (int i = 0; i < VALUES; i += 4)
			{
				s0 += values[i] * 1.0001f;
				s1 += values[i + 1] * 0.9999f;
				s2 += values[i + 2];
				s3 += values[i + 3];
			}
		sink = s0 + s1 + s2 + s3;
		durations[r] = now_ms() - started;
		sorted[r] = durations[r];
	}
	qsort(sorted, REPEATS, sizeof(double), compare);
	for (int r = 0; r < REPEATS; r++)
		if (durations[r] > 1.2 * sorted[REPEATS / 2])
			slow++;
	printf("p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f above_1.2x_p50=%d of %d\n",
		   sorted[REPEATS / 2], sorted[REPEATS * 9 / 10], sorted[REPEATS * 99 / 100],
		   sorted[REPEATS - 1], slow, REPEATS);
	(void) sink;
	return 0;
}
