/*
 * svg_chart.h -- small, dependency-free SVG charts for the analytics' model
 * checks (a line chart over x values, a grouped bar chart over categories),
 * written by the CLI to files and served to the dashboard.
 *
 * The output is a standalone SVG 1.1 document: a <title> and <desc> for
 * screen readers, axes with rounded ticks, a legend, one colour per series
 * from a palette readable by colour-blind people, and dashed lines as a
 * second cue. Every text is XML-escaped. Pure: returns malloc'd text.
 */
#ifndef PATRON_SVG_CHART_H
#define PATRON_SVG_CHART_H

#include <stdbool.h>
#include <stddef.h>

/* Series a chart draws at most (the palette's size). */
#define SVG_SERIES_MAX 6
/* Points (or categories) a chart draws at most. */
#define SVG_POINTS_MAX 4096

typedef struct svg_series {
    const char *name;     /* for the legend */
    const double *values; /* count values (the chart's points or categories); NAN: no value */
    bool dashed;
} svg_series;

typedef struct svg_chart {
    const char *title;   /* shown on top and as <title> */
    const char *x_label; /* axis labels */
    const char *y_label;
    int width, height;   /* pixels; 0: 720 x 400 */
} svg_chart;

/* A line chart: series over x[0..count) (ascending). NULL when count is 0,
 * above SVG_POINTS_MAX, or series_count is 0 or above SVG_SERIES_MAX. */
char *svg_line_chart(const svg_chart *chart, const double *x, size_t count, const svg_series *series,
                     size_t series_count);

/* A grouped bar chart: for each of the count categories, one bar per series. */
char *svg_bar_chart(const svg_chart *chart, const char *const *categories, size_t count, const svg_series *series,
                    size_t series_count);

#endif
